"""Build a job's image from its worktree with the Docker SDK (the docker and aws-ecs runners share it).

The layer cache is reused. The build runs on its own connection so that a cancel or timeout can
close it: dockerd cancels a build whose client went away.
"""
from __future__ import annotations

import threading
import time

import docker

from . import docker_convert as convert
from .base import JobResult, JobSpec, Log, Reason, RunContext


def _client(timeout: int) -> docker.DockerClient:
    return docker.from_env(timeout=timeout)


def build(client, spec: JobSpec, ctx: RunContext, log: Log) -> str | JobResult:
        kwargs = convert.build_kwargs(spec, str(ctx.worktree))
        log(f"building {kwargs['tag']} from {kwargs['dockerfile']}")
        api = _client(timeout=int(ctx.timeout) + 60).api  # its own connection: closing it cancels the build
        out: dict = {}

        def pump():
            try:
                for chunk in api.build(**kwargs):
                    if "stream" in chunk:
                        for line in chunk["stream"].splitlines():
                            if line.strip():
                                log(line)
                    if "error" in chunk:
                        out["error"] = chunk["error"].strip()
                    if "aux" in chunk and "ID" in chunk["aux"]:
                        out["image"] = chunk["aux"]["ID"]
            except Exception as exc:  # a closed connection after cancel lands here too
                out.setdefault("error", f"{exc.__class__.__name__}: {exc}")

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        deadline = time.monotonic() + ctx.timeout
        while reader.is_alive():
            if ctx.cancel.wait(0.2) or time.monotonic() > deadline:
                api.close()  # dockerd cancels a build whose client went away
                reader.join(timeout=30)
                if ctx.cancel.requested:
                    return JobResult.canceled(f"build canceled: {ctx.cancel.reason}")
                return JobResult.failed(f"build timed out after {ctx.timeout:.0f}s", 1, Reason.TIMEOUT)
        api.close()
        if "error" in out or "image" not in out:
            return JobResult.failed(f"build failed: {out.get('error', 'no image id')}", 1)
        image = client.images.get(out["image"])
        for tag in convert.tags(spec)[1:]:
            image.tag(convert.repository(spec.app), tag)
        log(f"built {out['image'][:19]}")
        return out["image"]

