"""Build infra/resources.json: tables (from the PynamoDB models, so they cannot drift), the
FIFO job queue and its dead-letter queue, the payload bucket, the functions' least-privilege
role, and a managed policy for the agent (SQS only: it reaches DynamoDB through the API).

    python -m infra.template > infra/resources.json      (a test checks the file is current)
"""
from __future__ import annotations

import json
import os
import sys

PREFIX = "tahobuddy-prod"
VISIBILITY_TIMEOUT = 120
MAX_RECEIVES = 5


def _models():
    os.environ["TAHOBUDDY_PREFIX"] = PREFIX
    from functions.models import ALL_MODELS
    return ALL_MODELS


def _logical(model) -> str:
    return model.__name__.replace("Model", "") + "Table"


def _keys(schema) -> list[dict]:
    return sorted(schema, key=lambda k: k["KeyType"] != "HASH")


def table(model) -> dict:
    schema = model._get_schema()
    props = {
        "TableName": model.Meta.table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": sorted(schema["attribute_definitions"], key=lambda a: a["AttributeName"]),
        "KeySchema": _keys(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    }
    if schema.get("global_secondary_indexes"):
        props["GlobalSecondaryIndexes"] = [
            {"IndexName": i["index_name"], "KeySchema": _keys(i["key_schema"]), "Projection": i["projection"]}
            for i in schema["global_secondary_indexes"]]
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": props}


def _arn(logical: str) -> dict:
    return {"Fn::GetAtt": [logical, "Arn"]}


def build() -> dict:
    models = _models()
    resources = {_logical(m): table(m) for m in models}
    table_arns = [_arn(_logical(m)) for m in models]
    index_arns = [{"Fn::Sub": "${%s.Arn}/index/*" % _logical(m)} for m in models
                  if m._get_schema().get("global_secondary_indexes")]
    resources.update({
        "JobDeadLetterQueue": {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": f"{PREFIX}-jobs-dlq.fifo", "FifoQueue": True, "MessageRetentionPeriod": 1209600}},
        "JobQueue": {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": f"{PREFIX}-jobs.fifo", "FifoQueue": True, "ContentBasedDeduplication": False,
            "VisibilityTimeout": VISIBILITY_TIMEOUT, "ReceiveMessageWaitTimeSeconds": 20,
            "RedrivePolicy": {"deadLetterTargetArn": _arn("JobDeadLetterQueue"), "maxReceiveCount": MAX_RECEIVES}}},
        "PayloadBucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                          "Properties": {
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            "LifecycleConfiguration": {"Rules": [{"Id": "expire-payloads", "Status": "Enabled",
                                                  "ExpirationInDays": 90}]}}},
        "ApiHandlerRole": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{
            "PolicyName": "ApiHandlerRolePolicy",
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                 "Resource": "arn:aws:logs:*:*:*"},
                {"Effect": "Allow", "Action": [
                    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                    "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:DescribeTable"],
                 "Resource": table_arns + index_arns},
                {"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
                 "Resource": _arn("JobQueue")},
                {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
                 "Resource": {"Fn::Sub": "${PayloadBucket.Arn}/events/*"}},
            ]}}]}},
        "APIHandler": {"Type": "AWS::Serverless::Function", "Properties": {"Environment": {"Variables": {
            "TAHOBUDDY_QUEUE_URL": {"Ref": "JobQueue"},
            "TAHOBUDDY_PAYLOAD_BUCKET": {"Ref": "PayloadBucket"},
            "TAHOBUDDY_WEBHOOK_SECRET": {"Ref": "WebhookSecret"}}}}},
        "AgentPolicy": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
            "Description": "Attach to the runner agent's IAM user or ECS task role: the job queue only.",
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
                "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl",
                "sqs:GetQueueAttributes"], "Resource": _arn("JobQueue")}]}}},
    })
    return {
        "Parameters": {"WebhookSecret": {"Type": "String", "NoEcho": True, "MinLength": 16,
                                         "Description": "The secret set on the GitHub webhook"}},
        "Resources": resources,
        "Outputs": {"JobQueueUrl": {"Value": {"Ref": "JobQueue"}},
                    "AgentPolicyArn": {"Value": {"Ref": "AgentPolicy"}},
                    "PayloadBucketName": {"Value": {"Ref": "PayloadBucket"}}},
    }


if __name__ == "__main__":
    json.dump(build(), sys.stdout, indent=2)
    sys.stdout.write("\n")
