"""Settings of the functions, read once from the environment.

Every name is TAHOBUDDY_*; the README's config reference lists them.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

DEFAULT_MAX_BODY = 10 * 1024 * 1024  # API Gateway's own payload limit


@dataclass(frozen=True)
class Settings:
    prefix: str
    region: str
    endpoint: str | None
    webhook_secret: str
    max_body: int
    queue_url: str | None
    payload_bucket: str
    max_attempts: int
    lease_seconds: int

    def table(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    @property
    def queue_name(self) -> str:
        return f"{self.prefix}-jobs.fifo"

    @property
    def dead_letter_queue_name(self) -> str:
        return f"{self.prefix}-jobs-dlq.fifo"


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
        queue_url=env.get("TAHOBUDDY_QUEUE_URL") or None,
        payload_bucket=env.get("TAHOBUDDY_PAYLOAD_BUCKET") or f"{prefix}-payloads",
        max_attempts=int(env.get("TAHOBUDDY_MAX_ATTEMPTS", 3)),
        lease_seconds=int(env.get("TAHOBUDDY_LEASE_SECONDS", 120)),
    )


def boto_kwargs() -> dict:
    """Keyword arguments for boto3 clients: the emulator's endpoint when one is set."""
    s = settings()
    kwargs = {"region_name": s.region}
    if s.endpoint:
        kwargs["endpoint_url"] = s.endpoint
    return kwargs
