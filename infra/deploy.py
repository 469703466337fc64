"""One-command AWS deploy: `tahobuddy infra deploy --stage prod` and `tahobuddy infra destroy`.

What the four hand-typed commands did, as one code path through boto3:
  1. `chalice package --merge-template infra/resources.json` -> sam.json + deployment.zip;
  2. the artifacts (the zip, then the template itself) go to an S3 bucket, CodeUri rewritten to it
     (what `aws cloudformation package` does);
  3. create_stack or update_stack with CAPABILITY_IAM (+ AUTO_EXPAND for the SAM transform), waited on;
  4. the outputs a user needs next: webhook URL, queue URLs, AgentPolicy ARN, dashboard URL.

A given template (`--template FILE`) skips step 1 and nothing else: the tests deploy
infra/resources.json to moto server through these same functions (moto cannot run the SAM
transform or API Gateway), so the only difference is where the template comes from.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import botocore.exceptions

ROOT = Path(__file__).resolve().parents[1]
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
ARTIFACT_KEYS = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}
WAIT = {"Delay": 5, "MaxAttempts": 360}   # 30 minutes at most: CloudFront-free stacks take 2-5


class DeployError(Exception):
    """The deploy cannot go on; the message says what to do."""


@dataclass
class Plan:
    stage: str
    stack: str
    region: str
    bucket: str = ""                 # artifacts; default tahobuddy-artifacts-ACCOUNT-REGION, made if missing
    webhook_secret: str = ""         # default on create: a new random one (printed once); on update: unchanged
    endpoint: str = field(default_factory=lambda: os.environ.get("TAHOBUDDY_AWS_ENDPOINT", ""))

    def client(self, service: str):
        kwargs = {"region_name": self.region}
        if self.endpoint:
            kwargs["endpoint_url"] = self.endpoint
        return boto3.client(service, **kwargs)


def default_stack(stage: str) -> str:
    return f"tahobuddy-{stage}"


# ---- 1. the template --------------------------------------------------------------
def chalice_package(stage: str, out: Path, region: str) -> Path:
    """`chalice package` of this checkout, merged with infra/resources.json; returns the sam.json path."""
    chalice = Path(sys.executable).parent / "chalice"
    if not chalice.exists():
        raise DeployError("chalice is not installed here: pip install 'tahobuddy[api]' (a checkout: make install)")
    if not (ROOT / ".chalice" / "config.json").is_file():
        raise DeployError(f"no .chalice/config.json in {ROOT}: run the deploy from a Tahobuddy checkout")
    run = subprocess.run([str(chalice), "package", "--stage", stage, "--merge-template", "infra/resources.json",
                          str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "AWS_DEFAULT_REGION": region})
    if run.returncode != 0:
        raise DeployError(f"chalice package --stage {stage} failed: {(run.stderr or run.stdout).strip()[-800:]}")
    return out / "sam.json"


def with_queue_outputs(template: dict) -> dict:
    """Every pool's queue URL as an output (the template names only the default pool's)."""
    outputs = dict(template.get("Outputs") or {})
    for logical, res in template.get("Resources", {}).items():
        if res.get("Type") == "AWS::SQS::Queue" and "DeadLetter" not in logical:
            outputs.setdefault(f"{logical}Url", {"Value": {"Ref": logical}})
    return {**template, "Outputs": outputs}


# ---- 2. artifacts -------------------------------------------------------------------
def ensure_bucket(plan: Plan) -> str:
    s3 = plan.client("s3")
    name = plan.bucket
    if not name:
        account = plan.client("sts").get_caller_identity()["Account"]
        name = f"tahobuddy-artifacts-{account}-{plan.region}"
    try:
        s3.head_bucket(Bucket=name)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise DeployError(f"bucket {name}: {exc}; pass --bucket with one you own") from exc
        extra = {} if plan.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": plan.region}}
        s3.create_bucket(Bucket=name, **extra)
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True})
    return name


def _upload(plan: Plan, bucket: str, data: bytes, suffix: str) -> str:
    key = f"{plan.stack}/{hashlib.sha256(data).hexdigest()}{suffix}"   # same bytes, same key: no re-upload
    plan.client("s3").put_object(Bucket=bucket, Key=key, Body=data)
    return key


def upload_artifacts(plan: Plan, bucket: str, template: dict, base: Path) -> dict:
    """Local CodeUri/ContentUri files -> s3:// URIs (aws cloudformation package's job)."""
    resources = {}
    for logical, res in template.get("Resources", {}).items():
        key = ARTIFACT_KEYS.get(res.get("Type", ""))
        uri = (res.get("Properties") or {}).get(key) if key else None
        if isinstance(uri, str) and not uri.startswith("s3://"):
            path = (base / uri).resolve()
            if not path.is_file():
                raise DeployError(f"{logical}.{key}: {path} does not exist")
            res = {**res, "Properties": {**res["Properties"],
                                         key: f"s3://{bucket}/{_upload(plan, bucket, path.read_bytes(), '.zip')}"}}
        resources[logical] = res
    return {**template, "Resources": resources}


# ---- 3. the stack ---------------------------------------------------------------------
def _stack(cfn, name: str) -> dict | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]
    except botocore.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def apply_stack(plan: Plan, bucket: str, template: dict, say=print) -> dict:
    cfn = plan.client("cloudformation")
    key = _upload(plan, bucket, json.dumps(template, sort_keys=True).encode(), ".template.json")
    url = f"https://{bucket}.s3.{plan.region}.amazonaws.com/{key}"   # moto reads the same URL from its own S3
    existing = _stack(cfn, plan.stack)
    if existing and existing["StackStatus"] == "ROLLBACK_COMPLETE":
        raise DeployError(f"stack {plan.stack} is ROLLBACK_COMPLETE (its first create failed): "
                          f"`tahobuddy infra destroy --stage {plan.stage}`, then deploy again")
    secret_given = bool(plan.webhook_secret)
    if not existing and not secret_given:
        plan.webhook_secret = secrets.token_hex(24)
    params = [{"ParameterKey": "WebhookSecret", "ParameterValue": plan.webhook_secret} if plan.webhook_secret
              else {"ParameterKey": "WebhookSecret", "UsePreviousValue": True}]
    args = {"StackName": plan.stack, "TemplateURL": url, "Capabilities": CAPABILITIES, "Parameters": params}
    if existing:
        try:
            cfn.update_stack(**args)
        except botocore.exceptions.ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise DeployError(f"update of {plan.stack} refused: {exc}") from exc
            say(f"stack {plan.stack}: already up to date")
            return _stack(cfn, plan.stack)
        say(f"stack {plan.stack}: updating ...")
        waiter = "stack_update_complete"
    else:
        cfn.create_stack(**args)
        say(f"stack {plan.stack}: creating ...")
        if not secret_given:
            say(f"webhook secret (set it on the GitHub webhook; shown once): {plan.webhook_secret}")
        waiter = "stack_create_complete"
    try:
        cfn.get_waiter(waiter).wait(StackName=plan.stack, WaiterConfig=WAIT)
    except botocore.exceptions.WaiterError as exc:
        raise DeployError(f"stack {plan.stack} did not finish: {_failure(cfn, plan.stack) or exc}") from exc
    return _stack(cfn, plan.stack)


def _failure(cfn, stack: str) -> str:
    """The first failed resource's reason: what a user needs, not the waiter's generic error."""
    try:
        events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    except botocore.exceptions.ClientError:
        return ""
    failed = [e for e in events if e.get("ResourceStatus", "").endswith("_FAILED")]
    return "; ".join(f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in failed[-3:])


# ---- 4. what a user needs next -------------------------------------------------------------
def summary(stack: dict) -> dict:
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
    api = outputs.get("EndpointURL", "").rstrip("/")
    return {
        "stack": stack["StackName"], "status": stack["StackStatus"],
        "api_url": api or None,
        "webhook_url": f"{api}/api/v1/hooks/github" if api else None,
        "webhook_urls": {forge: f"{api}/api/v1/hooks/{forge}" for forge in ("github", "gitlab", "gitea", "forgejo")}
        if api else None,
        "commit_status_credentials": "the secret named by the stack parameter GitHubSecret: token (or app_id + "
                                     "private_key), gitlab_token, gitea_token, forgejo_token",
        "dashboard_url": f"{api}/" if api else None,
        "queue_urls": {k[:-3]: v for k, v in sorted(outputs.items()) if k.startswith("JobQueue") and k.endswith("Url")},
        "agent_policy_arn": outputs.get("AgentPolicyArn"),   # the default pool's
        "agent_policy_arns": {k[:-3]: v for k, v in sorted(outputs.items())
                              if k.startswith("AgentPolicy") and k.endswith("Arn")},  # one per pool
        "payload_bucket": outputs.get("PayloadBucketName"),
    }


def deploy(plan: Plan, template_file: str | None = None, workdir: Path | None = None, say=print) -> dict:
    """The one path: package (unless a template is given), upload, create or update, summarise."""
    if template_file:
        path = Path(template_file)
    else:
        out = (workdir or ROOT / ".tahobuddy" / "package") / plan.stage
        say(f"chalice package --stage {plan.stage} ...")
        path = chalice_package(plan.stage, out, plan.region)
    try:
        template = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DeployError(f"{path}: not a readable JSON template ({exc})") from exc
    bucket = ensure_bucket(plan)
    template = upload_artifacts(plan, bucket, with_queue_outputs(template), path.parent)
    return summary(apply_stack(plan, bucket, template, say))


def destroy(plan: Plan, say=print) -> str:
    cfn = plan.client("cloudformation")
    if not _stack(cfn, plan.stack):
        raise DeployError(f"no stack {plan.stack} in {plan.region}: nothing to destroy")
    cfn.delete_stack(StackName=plan.stack)
    say(f"stack {plan.stack}: deleting ...")
    try:
        cfn.get_waiter("stack_delete_complete").wait(StackName=plan.stack, WaiterConfig=WAIT)
    except botocore.exceptions.WaiterError as exc:
        raise DeployError(f"stack {plan.stack} was not deleted: {_failure(cfn, plan.stack) or exc}") from exc
    return (f"stack {plan.stack} deleted; the tables and the payload bucket are kept (DeletionPolicy: Retain): "
            "delete them by hand when you are sure")
