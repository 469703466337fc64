"""`tahobuddy doctor`: why can't this agent see its jobs? One line per check, each failure with its fix.

The checks run with the agent's own settings (`tahobuddy agent --config FILE` and TAHOBUDDY_*),
so they fail exactly where the agent would: its API URL, its token, its pool's queue with its
AWS credentials, its Docker, its Caddy, its workdir. The verdicts are pure functions of what was
measured, so their thresholds have unit tests; the probes are thin.
"""
from __future__ import annotations

import email.utils
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import requests

OK, WARN, FAILED, SKIPPED = "ok", "warn", "FAILED", "skipped"
GiB, MiB = 1024 ** 3, 1024 ** 2
DISK_WARN, DISK_FAIL = 2 * GiB, 200 * MiB
MAX_SKEW = 60          # seconds: SQS signatures and session expiry go wrong beyond this
NEEDS_DOCKER = {"docker", "heroku", "aws-ecs"}   # runners that build or push images


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<8}{self.name:<8}{self.detail}"
        return f"{text}\n{'':16}fix: {self.fix}" if self.fix else text


# ---- verdicts (pure) ---------------------------------------------------------
def disk_verdict(free: int, path: str) -> Check:
    detail = f"{free / GiB:.1f} GiB free in {path}"
    if free < DISK_FAIL:
        return Check("disk", FAILED, detail, "free space there (docker system prune; old images) or move "
                                             "TAHOBUDDY_WORKDIR: builds need room for a clone and its layers")
    if free < DISK_WARN:
        return Check("disk", WARN, detail + f" (under {DISK_WARN // GiB} GiB: big builds may fail)")
    return Check("disk", OK, detail)


def skew_verdict(date_header: str | None, local_epoch: float) -> Check:
    if not date_header:
        return Check("clock", SKIPPED, "the API sent no Date header")
    try:
        remote = email.utils.parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError):
        return Check("clock", SKIPPED, f"unreadable Date header {date_header[:40]!r}")
    skew = local_epoch - remote
    detail = f"{skew:+.0f} s against the API"
    if abs(skew) > MAX_SKEW:
        return Check("clock", FAILED, detail, "sync this host's clock (systemd-timesyncd or chrony): AWS refuses "
                                              "requests signed more than a few minutes off")
    return Check("clock", OK, detail)


# ---- probes (thin) -----------------------------------------------------------
def check_api(config) -> tuple[Check, requests.Response | None]:
    url = f"{config.api_url.rstrip('/')}/api/v1/health"
    if not config.api_url:
        return Check("api", FAILED, "no API URL", "set TAHOBUDDY_API_URL or api_url in the agent's config"), None
    started = time.monotonic()
    try:
        resp = requests.get(url, timeout=10)
    except requests.RequestException as exc:
        return Check("api", FAILED, f"{url}: {exc.__class__.__name__}",
                     "check TAHOBUDDY_API_URL (the stack's ApiUrl output) and this host's outbound HTTPS"), None
    if resp.status_code != 200:
        return Check("api", FAILED, f"{url} answered {resp.status_code}",
                     "TAHOBUDDY_API_URL must be the API's base URL (ending in /api on API Gateway)"), resp
    return Check("api", OK, f"{config.api_url} answers ({(time.monotonic() - started) * 1000:.0f} ms)"), resp


def check_token(config) -> Check:
    if not config.token:
        return Check("token", FAILED, "no agent token", "set TAHOBUDDY_AGENT_TOKEN; an admin makes one with "
                                                         "`tahobuddy token --role agent --name HOST`")
    try:
        resp = requests.get(f"{config.api_url.rstrip('/')}/api/v1/whoami",
                            headers={"Authorization": f"Bearer {config.token}"}, timeout=10)
    except requests.RequestException as exc:
        return Check("token", FAILED, f"not checked: {exc.__class__.__name__}", "make the API reachable first")
    if resp.status_code in (401, 403):
        return Check("token", FAILED, f"the API refused it ({resp.status_code})",
                     "make a new one with `tahobuddy token --role agent` and put it in TAHOBUDDY_AGENT_TOKEN")
    if resp.status_code != 200:
        return Check("token", FAILED, f"whoami answered {resp.status_code}", "the API is older than this CLI: "
                                                                             "deploy it again (tahobuddy infra deploy)")
    who = resp.json()
    if who.get("role") != "agent":
        return Check("token", FAILED, f"a {who.get('role')} token ({who.get('name')})",
                     "the agent needs an agent token: `tahobuddy token --role agent`")
    if who.get("pool") and who["pool"] != config.pool:
        return Check("token", FAILED, f"agent token {who.get('name')!r} is for pool {who['pool']!r}, this agent is of "
                                      f"pool {config.pool!r}", f"set TAHOBUDDY_POOL={who['pool']}, or make a token "
                                      f"for the pool: `tahobuddy token --role agent --pool {config.pool}`")
    return Check("token", OK, f"agent token {who.get('name')!r} (pool {who.get('pool') or config.pool!r})")


def check_queue(config) -> Check:
    """Find the pool's queue and receive from it with the agent's AWS credentials. A receive counts
    towards a waiting job's dead-letter limit, so it is tried only when no job is waiting."""
    import boto3
    import botocore.exceptions
    from contract.queues import queue_name
    kwargs = {"region_name": config.region, **({"endpoint_url": config.aws_endpoint} if config.aws_endpoint else {})}
    name = queue_name(config.prefix, config.pool)
    try:
        sqs = boto3.client("sqs", **kwargs)
        url = config.queue_url or sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        waiting = int(attrs.get("ApproximateNumberOfMessages", "0"))
        if waiting:
            return Check("queue", OK, f"pool {config.pool}: {waiting} job(s) waiting in {name} "
                                      "(receive not tried: it would count against them)")
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0, VisibilityTimeout=0)
    except botocore.exceptions.NoCredentialsError:
        return Check("queue", FAILED, "no AWS credentials", "give the agent AWS keys (or a role) with the stack's "
                                                           "AgentPolicy: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if "NonExistentQueue" in code or "QueueDoesNotExist" in code:
            return Check("queue", FAILED, f"pool {config.pool!r}: no queue {name}",
                         "use a declared pool (TAHOBUDDY_POOL), check TAHOBUDDY_PREFIX, or add the pool to "
                         "TAHOBUDDY_POOLS and deploy again (tahobuddy infra deploy)")
        if "AccessDenied" in code or "Forbidden" in code:
            return Check("queue", FAILED, f"{name}: {code}", "attach the stack's AgentPolicy (output AgentPolicyArn) "
                                                             "to the agent's IAM user or task role")
        return Check("queue", FAILED, f"{name}: {code or exc}", "check AWS_REGION and the agent's AWS credentials")
    except botocore.exceptions.BotoCoreError as exc:
        return Check("queue", FAILED, f"{name}: {exc}", "check TAHOBUDDY_AWS_ENDPOINT / AWS_REGION and the network")
    return Check("queue", OK, f"pool {config.pool}: {name} receives with these credentials")


def docker_verdict(version: str, live_restore: bool) -> Check:
    """An engine without live-restore stops every app whenever dockerd restarts (an upgrade does)."""
    if not live_restore:
        return Check("docker", WARN, f"Docker Engine {version}, live-restore off: a dockerd restart stops every app",
                     'add "live-restore": true to /etc/docker/daemon.json, then systemctl reload docker')
    return Check("docker", OK, f"Docker Engine {version}, live-restore on")


def check_docker(config) -> Check:
    if not NEEDS_DOCKER & set(config.targets):
        return Check("docker", SKIPPED, f"no target needs it ({', '.join(config.targets)})")
    import docker
    try:
        info = docker.from_env(timeout=10).info()
    except Exception as exc:  # docker-py raises several types for "no engine"
        return Check("docker", FAILED, f"no Docker Engine answers ({exc.__class__.__name__})",
                     "start Docker (systemctl start docker) and add the agent's user to the docker group")
    return docker_verdict(str(info.get("ServerVersion") or "?"), bool(info.get("LiveRestoreEnabled")))


def check_caddy(config) -> Check:
    if not config.proxy_admin:
        return Check("caddy", SKIPPED, "no proxy_admin set (apps are not routed by hostname)")
    try:
        resp = requests.get(f"{config.proxy_admin.rstrip('/')}/config/", timeout=5)
    except requests.RequestException as exc:
        return Check("caddy", FAILED, f"{config.proxy_admin}: {exc.__class__.__name__}",
                     "start Caddy with its admin API there (systemctl start caddy) or fix TAHOBUDDY_PROXY_ADMIN")
    if resp.status_code != 200:
        return Check("caddy", FAILED, f"{config.proxy_admin}/config/ answered {resp.status_code}",
                     "TAHOBUDDY_PROXY_ADMIN must be Caddy's admin endpoint, e.g. http://127.0.0.1:2019")
    return Check("caddy", OK, f"admin API at {config.proxy_admin}")


def check_disk(config) -> Check:
    path = Path(config.workdir).resolve()
    while not path.exists() and path != path.parent:  # not made yet: the agent makes it on its disk
        path = path.parent
    return disk_verdict(shutil.disk_usage(path).free, str(path))


def run(config) -> list[Check]:
    api, resp = check_api(config)
    checks = [api]
    if api.status == OK:
        checks.append(check_token(config))
    else:
        checks.append(Check("token", SKIPPED, "the API did not answer"))
    checks += [check_queue(config), check_docker(config), check_caddy(config), check_disk(config)]
    checks.append(skew_verdict(resp.headers.get("Date"), time.time()) if resp is not None
                  else Check("clock", SKIPPED, "the API did not answer"))
    return checks


def main(config_path: str | None, say=print) -> int:
    from agent.config import AgentConfig
    config = AgentConfig.load(config_path)
    checks = run(config)
    for check in checks:
        say(check.line())
    return 1 if any(c.status == FAILED for c in checks) else 0
