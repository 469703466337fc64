"""Infrastructure for real AWS: the CloudFormation that `chalice package --merge-template` merges."""
