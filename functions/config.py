"""Settings of the functions, read once from the environment.

Every name is TAHOBUDDY_*; docs/reference/environment.md lists them.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field

from contract.queues import dead_letter_queue_name, parse_pools, queue_name

from functions.retention import Retention, parse as parse_retention

DEFAULT_MAX_BODY = 10 * 1024 * 1024  # API Gateway's own payload limit
DEFAULT_AGENT_SESSION = 24 * 3600  # a day: far longer than any outage an agent rides out, renewed by its beats
DEFAULT_LOG_MAX_LINES = 10_000       # at most 8 KiB each (store/logs.py): a job's log stays under 80 MiB
DEFAULT_OUTPUT_MAX_LINES = 5_000     # an app's (or a preview's) output: its last lines (store/output.py)
PROVIDER_SECRETS = ("gitlab", "gitea", "forgejo")  # TAHOBUDDY_<NAME>_SECRET overrides TAHOBUDDY_WEBHOOK_SECRET
FORGE_HOSTS = ("gitlab", "gitea", "forgejo")       # TAHOBUDDY_<NAME>_HOSTS: hosts whose repositories are that forge's


@dataclass(frozen=True)
class Settings:
    prefix: str
    region: str
    endpoint: str | None
    webhook_secret: str
    max_body: int
    payload_bucket: str
    max_attempts: int
    lease_seconds: int
    pools: tuple[str, ...]          # declared pools: one queue + dead-letter queue each
    agent_heartbeat: int            # seconds between an agent's beats; 3 missed and it shows as lost
    resend_after: int               # a queued job no live agent took in this long gets its message again
    max_queued: int                 # a job queued this long fails, saying why (SQS keeps messages 14 days)
    provider_secrets: dict = field(default_factory=dict)  # provider name -> its own secret (overrides the one)
    retention: Retention = field(default_factory=Retention)  # how long items live (functions/retention.py)
    delete_expired: bool = False    # the sweeper deletes expired items itself (an emulator has no TTL deletion)
    session_key: str = ""           # signs dashboard cookies (functions/dashboard/session.py); none: no sign-in
    agent_session_seconds: int = DEFAULT_AGENT_SESSION  # an agent session unused this long ends (store/sessions.py)
    forge_hosts: dict = field(default_factory=dict)  # repository host -> forge, beyond github.com and gitlab.com
    log_max_lines: int = DEFAULT_LOG_MAX_LINES  # a job keeps its last this many log lines (0: all of them)
    output_max_lines: int = DEFAULT_OUTPUT_MAX_LINES  # an app keeps its last this many output lines (at least 1)
    preview_domain: str = ""        # previews at <app>-pr-N.<this> (functions/domain/preview_hosts.py)

    def secret_for(self, provider: str) -> str:
        """The secret that verifies `provider`'s deliveries: its own when set, else TAHOBUDDY_WEBHOOK_SECRET."""
        return self.provider_secrets.get(provider) or self.webhook_secret

    def table(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def queue_name(self, pool: str) -> str:
        return queue_name(self.prefix, pool)

    def dead_letter_queue_name(self, pool: str) -> str:
        return dead_letter_queue_name(self.prefix, pool)


@functools.lru_cache(maxsize=1)
def settings() -> Settings:
    env = os.environ
    prefix = env.get("TAHOBUDDY_PREFIX", "tahobuddy-dev")
    return Settings(
        prefix=prefix,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        endpoint=env.get("TAHOBUDDY_AWS_ENDPOINT") or None,
        webhook_secret=env.get("TAHOBUDDY_WEBHOOK_SECRET", ""),
        max_body=int(env.get("TAHOBUDDY_MAX_BODY", DEFAULT_MAX_BODY)),
        payload_bucket=env.get("TAHOBUDDY_PAYLOAD_BUCKET") or f"{prefix}-payloads",
        max_attempts=int(env.get("TAHOBUDDY_MAX_ATTEMPTS", 3)),
        lease_seconds=int(env.get("TAHOBUDDY_LEASE_SECONDS", 120)),
        pools=parse_pools(env.get("TAHOBUDDY_POOLS", "")),
        agent_heartbeat=int(env.get("TAHOBUDDY_AGENT_HEARTBEAT", 10)),
        resend_after=int(env.get("TAHOBUDDY_RESEND_AFTER", 300)),
        max_queued=int(env.get("TAHOBUDDY_MAX_QUEUED", 3 * 24 * 3600)),
        provider_secrets={p: env[f"TAHOBUDDY_{p.upper()}_SECRET"] for p in PROVIDER_SECRETS
                          if env.get(f"TAHOBUDDY_{p.upper()}_SECRET")},
        retention=parse_retention(env),
        delete_expired=_flag(env.get("TAHOBUDDY_DELETE_EXPIRED", ""), default=bool(env.get("TAHOBUDDY_AWS_ENDPOINT"))),
        session_key=env.get("TAHOBUDDY_SESSION_KEY", ""),
        agent_session_seconds=_seconds(env.get("TAHOBUDDY_AGENT_SESSION_SECONDS", ""), DEFAULT_AGENT_SESSION),
        forge_hosts=forge_hosts(env),
        log_max_lines=_whole("TAHOBUDDY_LOG_MAX_LINES", env.get("TAHOBUDDY_LOG_MAX_LINES", ""), DEFAULT_LOG_MAX_LINES),
        output_max_lines=max(1, _whole("TAHOBUDDY_OUTPUT_MAX_LINES", env.get("TAHOBUDDY_OUTPUT_MAX_LINES", ""),
                                       DEFAULT_OUTPUT_MAX_LINES)),
        preview_domain=_domain("TAHOBUDDY_PREVIEW_DOMAIN", env.get("TAHOBUDDY_PREVIEW_DOMAIN", "")),
    )


def _seconds(raw: str, default: int) -> int:
    value = int(raw.strip()) if raw.strip() else default
    if value < 1:
        raise ValueError(f"TAHOBUDDY_AGENT_SESSION_SECONDS={raw!r}: set a positive number of seconds, e.g. {default}")
    return value


def forge_hosts(env) -> dict[str, str]:
    """Host -> forge: the GitHub Enterprise host of TAHOBUDDY_GITHUB_API_URL, and each host listed
    (comma-separated) in TAHOBUDDY_GITLAB_HOSTS, TAHOBUDDY_GITEA_HOSTS or TAHOBUDDY_FORGEJO_HOSTS.
    A host listed for two forges is a mistake that would route one forge's deliveries to the other's
    apps: it stops the settings with a message naming both."""
    out: dict[str, str] = {}
    api = (env.get("TAHOBUDDY_GITHUB_API_URL") or "").split("://", 1)[-1].split("/", 1)[0].lower()
    if api and api != "api.github.com":
        out[api] = "github"
    for forge in FORGE_HOSTS:
        name = f"TAHOBUDDY_{forge.upper()}_HOSTS"
        for host in (h.strip().lower() for h in env.get(name, "").split(",")):
            if not host:
                continue
            if out.get(host, forge) != forge:
                raise ValueError(f"{name} lists {host}, which is already a {out[host]} host: name each host once")
            out[host] = forge
    return out


_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")


def _domain(name: str, raw: str) -> str:
    value = raw.strip().lower().rstrip(".")
    if value and not _DOMAIN.match(value):
        raise ValueError(f"{name}={raw!r}: set a DNS domain, like preview.example.net")
    return value


def _whole(name: str, raw: str, default: int) -> int:
    if not raw.strip():
        return default
    if not raw.strip().isdigit():
        raise ValueError(f"{name}={raw!r}: set a whole number (0: no limit)")
    return int(raw)


def _flag(raw: str, default: bool) -> bool:
    """1/true/yes or 0/false/no; empty: the default. On AWS DynamoDB's TTL deletes expired items for free,
    so the sweeper only does it where an emulator (TAHOBUDDY_AWS_ENDPOINT) never will."""
    value = raw.strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"TAHOBUDDY_DELETE_EXPIRED={raw!r}: set 1 or 0 (empty: 1 with TAHOBUDDY_AWS_ENDPOINT, else 0)")


def boto_kwargs() -> dict:
    """Keyword arguments for boto3 clients: the emulator's endpoint when one is set."""
    s = settings()
    kwargs = {"region_name": s.region}
    if s.endpoint:
        kwargs["endpoint_url"] = s.endpoint
    return kwargs
