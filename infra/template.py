"""Build infra/resources.json: tables (from the PynamoDB models, so they cannot drift), one
FIFO job queue and dead-letter queue per pool, the payload bucket, the functions'
least-privilege role, a managed policy per pool for its agents (SQS only, that pool's queue
only: they reach DynamoDB through the API), and the dashboard's session key (a generated
Secrets Manager secret).

    python -m infra.template > infra/resources.json      (a test checks the file is current)
    TAHOBUDDY_POOLS=home,ecs python -m infra.template > infra/resources.json   (more pools)

CloudFormation has no loop over a list parameter without a transform, so the pools are chosen
when the template is built; the functions get the same list as TAHOBUDDY_POOLS.
"""
from __future__ import annotations

import json
import os
import sys

PREFIX = "tahobuddy-prod"
VISIBILITY_TIMEOUT = 120
MAX_RECEIVES = 5
RETENTION = 14 * 24 * 3600
FUNCTIONS = ("ApiHandler", "SweepEveryMinute", "DeliverOutbox")  # chalice package's names (role: NAME + "Role")
OTHER_FORGES = {"GitLab": "/api/v4", "Gitea": "/api/v1", "Forgejo": "/api/v1"}   # their statuses: notify/forges.py
STREAMED = {"OutboxTable": "NEW_IMAGE"}   # functions/notify: the outbox's stream wakes the sender


def _models():
    os.environ["TAHOBUDDY_PREFIX"] = PREFIX
    from functions.store.models import ALL_MODELS
    return ALL_MODELS


def _expiring() -> set[str]:
    from functions.store.models import EXPIRING
    return {_logical(m) for m in EXPIRING}


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
    if _logical(model) in _expiring():  # DynamoDB deletes items past expires_at (functions/retention.py)
        from functions.retention import ATTRIBUTE
        props["TimeToLiveSpecification"] = {"AttributeName": ATTRIBUTE, "Enabled": True}
    if _logical(model) in STREAMED:
        props["StreamSpecification"] = {"StreamViewType": STREAMED[_logical(model)]}
    if schema.get("global_secondary_indexes"):
        props["GlobalSecondaryIndexes"] = [
            {"IndexName": i["index_name"], "KeySchema": _keys(i["key_schema"]), "Projection": i["projection"]}
            for i in schema["global_secondary_indexes"]]
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": props}


RETENTION_PARAMETERS = {"TAHOBUDDY_RETENTION_DAYS": "RetentionDays",
                        "TAHOBUDDY_DEDUP_RETENTION_DAYS": "DedupRetentionDays",
                        "TAHOBUDDY_OUTBOX_RETENTION_DAYS": "OutboxRetentionDays",
                        "TAHOBUDDY_AUDIT_RETENTION_DAYS": "AuditRetentionDays"}


def retention_parameters() -> dict:
    """Deploy-time settings (no rebuild of the template), with the same floors the functions check."""
    from functions.retention import DEFAULTS, GITHUB_REDELIVERY_DAYS
    about = {"RetentionDays": ("days", 1, "Days events, ended jobs, their logs and webhook payloads are kept"),
             "DedupRetentionDays": ("dedup_days", GITHUB_REDELIVERY_DAYS,
                                    "Days a push's dedup key is kept: at least the forge's redelivery window "
                                    "(3 days on github.com, 7 on GitHub Enterprise Server)"),
             "OutboxRetentionDays": ("outbox_days", 1, "Days sent or given-up commit statuses are kept"),
             "AuditRetentionDays": ("audit_days", 0, "Days the audit log is kept; 0: forever")}
    return {param: {"Type": "Number", "Default": DEFAULTS[key], "MinValue": floor, "Description": text}
            for param, (key, floor, text) in about.items()}


def _arn(logical: str) -> dict:
    return {"Fn::GetAtt": [logical, "Arn"]}


def _pools() -> tuple[str, ...]:
    from contract.queues import parse_pools
    return parse_pools(os.environ.get("TAHOBUDDY_POOLS", ""))


def _queue_logical(pool: str, dead: bool = False) -> str:
    camel = "".join(part.capitalize() for part in pool.split("-"))
    base = "JobQueue" if pool == "default" else f"JobQueue{camel}"
    return base.replace("JobQueue", "JobDeadLetterQueue") if dead else base


def _policy_logical(pool: str) -> str:
    return _queue_logical(pool).replace("JobQueue", "AgentPolicy")


AGENT_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl",
                 "sqs:GetQueueAttributes"]


def agent_policies(pools) -> dict:
    """One managed policy per pool, naming that pool's queue only: an agent of pool `home` (its IAM user or
    task role holding AgentPolicyHome) cannot receive, delete or hide another pool's jobs. Its agent token
    is bound to the same pool at the API (`tahobuddy token --role agent --pool home`)."""
    return {_policy_logical(pool): {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
        "Description": f"Attach to the IAM user or ECS task role of pool {pool}'s agents: that pool's job queue only.",
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": AGENT_ACTIONS, "Resource": [_arn(_queue_logical(pool))]}]}}}
        for pool in pools}


SESSION_KEY = {"Type": "AWS::SecretsManager::Secret", "Properties": {
    "Description": "Signs the dashboard's session cookies (TAHOBUDDY_SESSION_KEY); rotate it to sign everyone out",
    "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True}}}


def queues(pools) -> dict:
    from contract.queues import dead_letter_queue_name, queue_name
    out = {}
    for pool in pools:
        dlq, q = _queue_logical(pool, dead=True), _queue_logical(pool)
        out[dlq] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": dead_letter_queue_name(PREFIX, pool), "FifoQueue": True, "MessageRetentionPeriod": RETENTION}}
        out[q] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": queue_name(PREFIX, pool), "FifoQueue": True, "ContentBasedDeduplication": False,
            "VisibilityTimeout": VISIBILITY_TIMEOUT, "ReceiveMessageWaitTimeSeconds": 20,
            "MessageRetentionPeriod": RETENTION,
            "RedrivePolicy": {"deadLetterTargetArn": _arn(dlq), "maxReceiveCount": MAX_RECEIVES}}}
    return out


def build() -> dict:
    models, pools = _models(), _pools()
    queue_arns = [_arn(_queue_logical(p)) for p in pools]
    dead_arns = [_arn(_queue_logical(p, dead=True)) for p in pools]
    resources = {_logical(m): table(m) for m in models}
    table_arns = [_arn(_logical(m)) for m in models]
    index_arns = [{"Fn::Sub": "${%s.Arn}/index/*" % _logical(m)} for m in models
                  if m._get_schema().get("global_secondary_indexes")]
    resources.update(queues(pools))
    resources.update({
        "PayloadBucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                          "Properties": {
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            "LifecycleConfiguration": {"Rules": [{"Id": "expire-payloads", "Status": "Enabled",  # with the events
                                                  "ExpirationInDays": {"Ref": "RetentionDays"}}]}}},
    })
    statements = [
                {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                 "Resource": "arn:aws:logs:*:*:*"},
                {"Effect": "Allow", "Action": [
                    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                    "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:DescribeTable"],
                 "Resource": table_arns + index_arns},
                {"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
                 "Resource": queue_arns},
                {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage",  # the sweeper, dlq
                                               "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl",
                                               "sqs:GetQueueAttributes"],
                 "Resource": dead_arns},
                {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
                 "Resource": {"Fn::Sub": "${PayloadBucket.Arn}/events/*"}},
                {"Effect": "Allow", "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords",
                                               "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
                 "Resource": [{"Fn::GetAtt": [t, "StreamArn"]} for t in STREAMED]},
                {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],  # every forge's credentials
                 "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:"
                                          "secret:${GitHubSecret}-*"},
                              {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:"
                                          "secret:tahobuddy/*"}]},  # notify: URLs and keys (channels.py)
    ]
    variables = {"TAHOBUDDY_POOLS": ",".join(pools), "TAHOBUDDY_PAYLOAD_BUCKET": {"Ref": "PayloadBucket"},
                 "TAHOBUDDY_WEBHOOK_SECRET": {"Ref": "WebhookSecret"},
                 "TAHOBUDDY_GITHUB_SECRET": {"Ref": "GitHubSecret"},
                 "TAHOBUDDY_GITHUB_API_URL": {"Ref": "GitHubApiUrl"},
                 **{f"TAHOBUDDY_{forge.upper()}_API_URL": {"Ref": f"{forge}ApiUrl"} for forge in OTHER_FORGES},
                 "TAHOBUDDY_PUBLIC_URL": {"Ref": "PublicUrl"},
                 "TAHOBUDDY_SESSION_KEY": {"Fn::Sub": "{{resolve:secretsmanager:${SessionKey}:SecretString}}"},
                 **{name: {"Ref": param} for name, param in RETENTION_PARAMETERS.items()}}
    for function in FUNCTIONS:  # the API and the scheduled sweeper share one least-privilege policy
        resources[f"{function}Role"] = {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{
            "PolicyName": f"{function}RolePolicy",
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}]}}
        resources["APIHandler" if function == "ApiHandler" else function] = {
            "Type": "AWS::Serverless::Function", "Properties": {"Environment": {"Variables": variables}}}
    resources["DeliverOutbox"]["Properties"]["Events"] = {"DeliverOutboxDynamodbEventSource": {
        "Type": "DynamoDB", "Properties": {"Stream": {"Fn::GetAtt": ["OutboxTable", "StreamArn"]}}}}
    resources.update(agent_policies(pools))
    resources["SessionKey"] = SESSION_KEY
    return {
        "Parameters": {"WebhookSecret": {"Type": "String", "NoEcho": True, "MinLength": 16,
                                         "Description": "The secret set on the GitHub webhook"},
                       "GitHubSecret": {"Type": "String", "Default": "",
                                        "Description": "Secrets Manager secret with the forges' credentials: JSON "
                                                       "{\"token\"} or {\"app_id\", \"private_key\"} for GitHub, "
                                                       "and gitlab_token, gitea_token, forgejo_token; a forge "
                                                       "without one gets no commit statuses"},
                       "GitHubApiUrl": {"Type": "String", "Default": "https://api.github.com",
                                        "Description": "GitHub Enterprise Server: https://HOST/api/v3"},
                       **{f"{forge}ApiUrl": {"Type": "String", "Default": "", "Description": (
                           f"{forge}'s API base, e.g. https://HOST{path}; empty: https://<repository host>{path}")}
                          for forge, path in OTHER_FORGES.items()},
                       "PublicUrl": {"Type": "String", "Default": "",
                                     "Description": "The API's public URL: commit statuses link jobs there"},
                       **retention_parameters()},
        "Resources": resources,
        "Outputs": {"JobQueueUrl": {"Value": {"Ref": "JobQueue"}},
                    **{f"{_policy_logical(p)}Arn": {"Value": {"Ref": _policy_logical(p)}} for p in pools},
                    "PayloadBucketName": {"Value": {"Ref": "PayloadBucket"}}},
    }


if __name__ == "__main__":
    json.dump(build(), sys.stdout, indent=2)
    sys.stdout.write("\n")
