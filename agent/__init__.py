"""The runner agent: outbound only. Long-polls SQS, claims through the API, runs a runner,
reports state and logs back over HTTPS."""
