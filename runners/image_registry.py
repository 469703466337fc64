"""Images that travel: push a build to the installation's registry by digest, pull a recorded digest
or a prebuilt `image:` reference back onto an engine that lacks it.

Credentials (TAHOBUDDY_REGISTRY_USERNAME / _PASSWORD, the password a `secret:NAME`) go to dockerd in the
request's X-Registry-Auth header for that one push or pull: nothing is read from or written to the
agent's ~/.docker. A registry with no credentials gets an empty auth, never the agent's stored ones.
"""
from __future__ import annotations

import base64
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

from docker.errors import DockerException, ImageNotFound

from .base import JobSpec, Log
from .secretrefs import resolve

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
PLACEHOLDERS = ("sha", "short_sha", "ref_name", "tag")


class RegistryError(RuntimeError):
    """A push or pull that did not happen; the message names the registry or the reference."""


def auth(settings, lookup) -> dict:
    """The auth_config of one push or pull: {} when the registry takes anyone."""
    user = getattr(settings, "registry_username", "")
    if not user:
        return {}
    return {"username": user, "password": resolve(getattr(settings, "registry_password", ""), lookup)}


def repository(registry: str, app: str) -> str:
    return f"{registry.rstrip('/')}/{app}"


def split(reference: str) -> tuple[str, str]:
    """('registry/app', 'tag' or 'sha256:...') of a reference; a reference with neither gets 'latest'."""
    if "@" in reference:
        repo, digest = reference.split("@", 1)
        return repo, digest
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1:]
    return reference, "latest"


def push(client, image_id: str, registry: str, spec: JobSpec, auth_config: dict, log: Log, cancel,
         tag: str = "") -> str:
    """Push the built image as <registry>/<app>:<short sha> (or `tag`); the pinned <registry>/<app>@sha256:..."""
    repo, tag = repository(registry, spec.app), tag or spec.sha[:12] or "latest"
    log(f"pushing {repo}:{tag}")
    digest = ""
    try:
        client.images.get(image_id).tag(repo, tag)
        for chunk in client.images.push(repo, tag, auth_config=auth_config, stream=True, decode=True):
            if "error" in chunk:
                raise RegistryError(f"push to {registry} failed: {chunk['error'].strip()}")
            digest = (chunk.get("aux") or {}).get("Digest", digest)
            if cancel.requested:
                raise RegistryError(f"push to {registry} canceled: {cancel.reason}")
    except DockerException as exc:
        raise RegistryError(f"push to {registry} failed: {_short(exc)}") from exc
    if not DIGEST.match(digest):
        raise RegistryError(f"push to {registry} gave no digest")
    pinned = f"{repo}@{digest}"
    log(f"pushed {pinned}")
    return pinned


def publish(client, image_id: str, spec: JobSpec, ctx, log: Log) -> str:
    """The pinned reference of a build pushed to the agent's registry; "" when none is configured or the push
    failed, and then the job log says that the deploy goes ahead from the local image only."""
    registry = ctx.settings.registry
    if not registry or spec.preview:  # a pull request's image never goes into the app's repository
        return ""
    try:
        return push(client, image_id, registry, spec, auth(ctx.settings, ctx.secrets), log, ctx.cancel)
    except RegistryError as exc:
        log(f"tahobuddy: {exc}; deploying from the local image {image_id[:19]}, which only this agent's "
            "Docker Engine holds (a rollback on another agent cannot pull it)")
        return ""


def pinned(client, reference: str) -> str:
    """The repo@sha256:... that `reference` was pulled as ("" when the engine does not know it)."""
    repo = split(reference)[0]
    digests = client.images.get(reference).attrs.get("RepoDigests") or []
    return next((d for d in digests if d.startswith(repo + "@")), "")


def copy(reference: str, registry: str, app: str, auth_config: dict, log: Log, timeout: float = 600) -> str:
    """Copy `reference` (repo@sha256:...) to the app's repository in `registry` (the agent's credentials for both
    ends); the reference there, by the same digest."""
    digest = split(reference)[1]
    dest = f"{repository(registry, app)}:{digest.split(':')[1][:12]}"
    hosts = {reference.split("/", 1)[0], registry.split("/", 1)[0]}
    copy_to(reference, dest, {h: auth_config for h in hosts}, log, timeout)
    return f"{repository(registry, app)}@{digest}"


def copy_to(reference: str, destination: str, auths: dict, log: Log, timeout: float = 600) -> None:
    """Copy `reference` (repo@sha256:...) to `destination` (repo:tag) registry to registry with skopeo, digest
    preserved, no daemon involved. `auths` maps a registry host to its auth_config ({} or absent: anonymous); they
    go in an auth file of a temporary directory, removed after. A loopback registry is spoken to over plain HTTP,
    as dockerd does."""
    with tempfile.TemporaryDirectory(prefix="skopeo-") as scratch:
        authfile = Path(scratch) / "auth.json"
        entries = {host: {"auth": base64.b64encode(f"{a['username']}:{a['password']}".encode()).decode()}
                   for host, a in auths.items() if a}
        authfile.write_text(json.dumps({"auths": entries}))
        authfile.chmod(0o600)
        argv = ["skopeo", "copy", "--preserve-digests", "--authfile", str(authfile),
                f"--src-tls-verify={str(not _loopback(reference)).lower()}",
                f"--dest-tls-verify={str(not _loopback(destination)).lower()}",
                f"docker://{reference}", f"docker://{destination}"]
        log(f"copying {reference} to {destination} with skopeo")
        registry = destination.split("/", 1)[0]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RegistryError(f"could not copy {reference} to {registry}: {exc.__class__.__name__}") from exc
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"skopeo exited {done.returncode}"])[-1][:300]
        raise RegistryError(f"could not copy {reference} to {registry}: {why}")


def _loopback(reference: str) -> bool:
    host = reference.split("/", 1)[0].rsplit(":", 1)[0]
    return host in ("localhost", "[::1]") or host.startswith("127.")


def pull(client, reference: str, auth_config: dict) -> str:
    """The local image id of `reference`, pulled when the engine lacks it."""
    try:
        return client.images.get(reference).id
    except ImageNotFound:
        pass
    repo, tag = split(reference)
    try:
        client.api.pull(repo, tag=tag, auth_config=auth_config)
        return client.images.get(reference).id
    except DockerException as exc:
        raise RegistryError(f"could not pull {reference}: {_short(exc)}") from exc


def pull_waiting(client, reference: str, auth_config: dict, wait: float, log: Log, cancel) -> str:
    """`pull`, again every few seconds for up to `wait` seconds (CI may still be pushing it)."""
    deadline, last = time.monotonic() + wait, ""
    while True:
        try:
            return pull(client, reference, auth_config)
        except RegistryError as exc:
            if str(exc) != last:
                log(f"{exc}; waiting up to {wait:.0f}s for it to appear")
                last = str(exc)
            if time.monotonic() >= deadline or cancel.wait(min(3.0, max(0.0, deadline - time.monotonic()))):
                if cancel.requested:
                    raise RegistryError(f"canceled while waiting for {reference}: {cancel.reason}") from exc
                raise RegistryError(f"image {reference} did not appear within {wait:.0f}s "
                                    f"(last: {_short(exc.__cause__ or exc)})") from exc


def expand(template: str, spec: JobSpec) -> str:
    """A prebuilt `image:` with its placeholders filled from the job's commit and ref."""
    values = {"sha": spec.sha, "short_sha": spec.sha[:7], "ref_name": spec.ref_name,
              "tag": spec.ref_name if spec.ref.startswith("refs/tags/") else ""}
    out = template
    for name in PLACEHOLDERS:
        out = out.replace("{" + name + "}", values[name])
    return out


def _short(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return str(text).strip().splitlines()[0][:300] if str(text).strip() else exc.__class__.__name__
