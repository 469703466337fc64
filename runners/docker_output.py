"""What the serving containers on this Docker Engine print: which containers serve (the `tahobuddy.role=app`
containers of this installation, apps and previews alike), and their output as (time, line) pairs.

The agent's output follower (agent/output.py) calls these; `split_stamp` and `serving` are pure.
"""
from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone

import docker

from . import docker_convert as convert

SECRET_ENV = "tahobuddy.secret_env"   # a container's label: the names of its variables with secret values
STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z")


@dataclass(frozen=True)
class Serving:
    id: str
    app: str
    preview: int


def split_stamp(line: str) -> tuple[float | None, str]:
    """`2026-12-05T08:00:00.123456789Z text` (Docker's `timestamps`) -> (epoch seconds, text)."""
    stamp, _, text = line.partition(" ")
    m = STAMP.fullmatch(stamp)
    if not m:
        return None, line
    base = datetime.strptime(m[1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return base + float("0." + (m[2] or "0")), text


def started_at(state: dict) -> float:
    """State.StartedAt (RFC 3339, nanoseconds) as epoch seconds; 0.0 when Docker gives none."""
    when, _ = split_stamp(f"{(state or {}).get('StartedAt', '')} ")
    return when or 0.0


def serving(containers: list[dict], installation: str) -> list[Serving]:
    """From `docker ps`-like rows ({id, labels}): the running app containers that are this
    installation's (or carry no installation label: made before it existed)."""
    out = []
    for c in containers:
        labels = c.get("labels") or {}
        number = labels.get("tahobuddy.preview", "0")
        if labels.get("tahobuddy.role") != "app" or not labels.get("tahobuddy.app") or not number.isdigit():
            continue
        if convert.owner(labels, installation) == "other":
            continue
        out.append(Serving(c["id"], labels["tahobuddy.app"], int(number)))
    return out


def running(client: docker.DockerClient, installation: str) -> list[Serving]:
    found = client.containers.list(filters={"label": "tahobuddy.role=app", "status": "running"})
    return serving([{"id": c.id, "labels": c.labels} for c in found], installation)


def started(client: docker.DockerClient, container_id: str) -> float:
    """When the container (last) started, in epoch seconds (0.0: unknown)."""
    return started_at(client.api.inspect_container(container_id).get("State") or {})


def follow(client: docker.DockerClient, container_id: str, since: float):
    """A stream of the container's output from `since` on, stdout and stderr, each chunk stamped; it ends
    when the container stops, and `.close()` from another thread ends it at once. `client` must have no
    read timeout (a quiet app prints nothing for hours)."""
    return client.api.logs(container_id, stdout=True, stderr=True, stream=True, follow=True, timestamps=True,
                           since=since)


def secret_values(labels: dict, env: list[str]) -> list[str]:
    """The values of the variables the SECRET_ENV label names, from `Config.Env` (`NAME=value` strings),
    and the password of each that is a URL (DATABASE_URL): what the masker must blank in the output."""
    names = {n for n in (labels or {}).get(SECRET_ENV, "").split(",") if n}
    out = []
    for pair in env or []:
        name, _, value = pair.partition("=")
        if name in names and value:
            out.append(value)
            try:
                password = urllib.parse.urlsplit(value).password
            except ValueError:
                password = None
            if password:
                out.append(urllib.parse.unquote(password))
    return out


def secrets_of(client: docker.DockerClient, container_id: str) -> list[str]:
    attrs = client.api.inspect_container(container_id)
    config = attrs.get("Config") or {}
    return secret_values(config.get("Labels") or {}, config.get("Env") or [])
