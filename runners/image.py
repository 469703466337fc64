"""Build a job's image from its worktree (the docker and aws-ecs runners share it).

BuildKit through Debian's docker CLI (`DOCKER_BUILDKIT=1 /usr/bin/docker build`): it runs
`RUN --mount=type=cache|secret`, builds independent stages in parallel, and prints plain
progress lines that go straight into the job log. The CLI runs under runners.process, so a
cancel or timeout interrupts it, then kills it; dockerd cancels a BuildKit build whose client
went away. Only where that CLI is missing does the build fall back to docker-py's legacy
builder, and the job log says so.
"""
from __future__ import annotations

import functools
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import docker

from . import cache_mounts
from . import build_cache
from . import image_registry as images
from . import docker_convert as convert
from . import process
from .base import JobResult, JobSpec, Log, Reason, RunContext
from .secretrefs import resolve

# Debian's docker.io client by its path: a newer client elsewhere on PATH may want the buildx plugin,
# which Debian does not package. TAHOBUDDY_DOCKER_CLI names another one.
DOCKER_CLI = os.environ.get("TAHOBUDDY_DOCKER_CLI", "/usr/bin/docker")


@functools.lru_cache(maxsize=4)
def buildkit_missing(cli: str) -> str:
    """Why `cli` cannot build with BuildKit, or "" when it can (asked once per agent)."""
    if not os.access(cli, os.X_OK):
        return f"{cli} is not installed"
    try:
        helped = subprocess.run([cli, "build", "--help"], env={**os.environ, "DOCKER_BUILDKIT": "1"},
                                capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{cli} build --help failed ({exc.__class__.__name__})"
    missing = [flag for flag in ("--secret", "--iidfile", "--progress") if flag not in helped.stdout]
    return f"{cli} build has no {', '.join(missing)}" if missing else ""


def build(client, spec: JobSpec, ctx: RunContext, log: Log, platform: str = "") -> str | JobResult:
    """The image id, or the JobResult that ends the job (a failed build is a result, not an error).
    `platform` (e.g. linux/amd64) is for targets that run the image elsewhere (Heroku runs only amd64)."""
    ctx.phases.mark("build_started")
    why = buildkit_missing(DOCKER_CLI)
    if why:
        if spec.target.get("build_secrets"):
            return JobResult.never_ran(Reason.REFUSED, f"build_secrets need BuildKit, and {why} "
                                       "(install Debian's docker.io on the agent)")
        log(f"tahobuddy: BuildKit is not available ({why}); building with the legacy builder, which "
            "refuses RUN --mount and adds a step per label")
        built = _legacy(client, spec, ctx, log, platform)
    else:
        built = _buildkit(spec, ctx, log, platform)
    if not isinstance(built, JobResult):
        ctx.phases.mark("built")
        log(f"built {built[:19]}")
    return built


def _buildkit(spec: JobSpec, ctx: RunContext, log: Log, platform: str = "") -> str | JobResult:
    wanted = spec.target.get("build_secrets") or {}
    last_error: list[str] = []
    last: list[str] = [""]  # the CLI's last word says whether dockerd went away

    def keep(line: str) -> None:
        if "ERROR" in line or line.startswith("error") or "failed to solve" in line:
            last_error[:] = [line.strip()]
        if line.strip():
            last[0] = line
        log(line)

    with tempfile.TemporaryDirectory(prefix="build-", dir=ctx.workdir) as scratch:
        iidfile = Path(scratch) / "image-id"
        try:
            dockerfile = _namespaced_dockerfile(spec, Path(ctx.worktree), Path(scratch))
            argv = convert.buildkit_argv(spec, str(ctx.worktree), str(iidfile), DOCKER_CLI, dockerfile)
            env_names = convert.build_secret_env(wanted)
            if platform:
                argv[2:2] = ["--platform", platform]
        except convert.BuildInputError as exc:
            return JobResult.never_ran(Reason.REFUSED, str(exc))
        cache = build_cache.inline_cache(spec, ctx, Path(scratch))  # the app's last image in the registry
        argv[-2:-2] = cache.argv
        if cache.source:
            log(f"reusing the layers of {cache.source} (BuildKit inline cache)")
        # resolved on the agent; the Secrets lookup remembers each value, so the log masks it
        values = {env_names[i]: resolve(ref, ctx.secrets) for i, ref in wanted.items()}
        log(f"building {convert.repository(spec.app)}:{convert.tags(spec)[0]} from "
            f"{spec.target.get('dockerfile', 'Dockerfile')} with BuildKit")
        env = {**os.environ, "DOCKER_BUILDKIT": "1", **values, **cache.env}
        done = process.run(argv, cwd=ctx.worktree, env=env, log=keep, cancel=ctx.cancel, timeout=ctx.timeout)
        image = iidfile.read_text().strip() if iidfile.is_file() else ""
    if done.canceled:
        return JobResult.canceled(f"build canceled: {ctx.cancel.reason}")
    if done.timed_out:
        return JobResult.failed(f"build timed out after {ctx.timeout:.0f}s", 1, Reason.TIMEOUT)
    if done.code != 0 or not image:
        lost = convert.engine_lost(last[0])
        if lost:
            return JobResult.never_ran(Reason.ENGINE_LOST, convert.engine_lost_detail(lost))
        why = last_error[0] if last_error else f"docker build exited {done.code}"
        return JobResult.failed(f"build failed: {why}", 1)
    return image


def _namespaced_dockerfile(spec: JobSpec, worktree: Path, scratch: Path) -> str:
    """The path of the Dockerfile to build: a copy in `scratch` with its cache mounts under this build's
    trust level (runners/cache_mounts.py), or "" when it has none (the file is built where it is)."""
    relative = convert.dockerfile_in_context(spec.target.get("dockerfile", "Dockerfile"))
    path = (worktree / relative).resolve()
    if not path.is_relative_to(worktree.resolve()):  # a symlink out of the repository: never read it
        raise convert.BuildInputError(f"dockerfile {relative!r} must be a file inside the repository")
    if not path.is_file():
        return ""  # docker build says what is missing
    text = path.read_text(errors="replace")
    rewritten = cache_mounts.namespaced(text, cache_mounts.namespace(spec))
    if rewritten == text:
        return ""
    copy = scratch / "dockerfile" / path.name
    copy.parent.mkdir()
    copy.write_text(rewritten)
    ignore = path.with_name(path.name + ".dockerignore")  # BuildKit reads it beside the Dockerfile
    if ignore.is_file() and ignore.resolve().is_relative_to(worktree.resolve()):
        (copy.parent / ignore.name).write_text(ignore.read_text(errors="replace"))
    return str(copy)


def _legacy(client, spec: JobSpec, ctx: RunContext, log: Log, platform: str = "") -> str | JobResult:
    kwargs = convert.build_kwargs(spec, str(ctx.worktree))
    if platform:
        kwargs["platform"] = platform
    log(f"building {kwargs['tag']} from {kwargs['dockerfile']}")
    api = docker.from_env(timeout=int(ctx.timeout) + 60).api  # its own connection: closing it cancels the build
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
    lost = convert.engine_lost(out.get("error", ""))
    if lost:
        return JobResult.never_ran(Reason.ENGINE_LOST, convert.engine_lost_detail(lost))
    if "error" in out or "image" not in out:
        return JobResult.failed(f"build failed: {out.get('error', 'no image id')}", 1)
    image = client.images.get(out["image"])
    for tag in convert.tags(spec)[1:]:
        image.tag(convert.repository(spec.app), tag)
    return out["image"]
