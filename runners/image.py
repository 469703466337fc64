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
from .distribution import Distribution, DistributionError
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
            dockerfile, text = _namespaced_dockerfile(spec, Path(ctx.worktree), Path(scratch))
            argv = convert.buildkit_argv(spec, str(ctx.worktree), str(iidfile), DOCKER_CLI, dockerfile)
            if platform:
                argv[2:2] = ["--platform", platform]
            secrets_env = _secrets_env(spec, ctx)
        except convert.BuildInputError as exc:
            return JobResult.never_ran(Reason.REFUSED, str(exc))
        cache = build_cache.plan(spec, ctx, Path(scratch), text)  # the registry's cache images and last image
        ctx.scratch["build_cache"] = cache
        argv[-2:-2] = cache.argv
        if cache.note:
            log(cache.note)
        elif cache.sources:
            log(f"reusing the layers of {', '.join(cache.sources)} (BuildKit inline cache)")
        log(f"building {convert.repository(spec.app)}:{convert.tags(spec)[0]} from "
            f"{spec.target.get('dockerfile', 'Dockerfile')} with BuildKit")
        env = {**os.environ, "DOCKER_BUILDKIT": "1", **secrets_env, **cache.env}
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


def _secrets_env(spec: JobSpec, ctx: RunContext) -> dict[str, str]:
    """The build secrets' values by the variables the CLI reads them from. Resolved on the agent; the Secrets
    lookup remembers each value, so the log masks it."""
    wanted = spec.target.get("build_secrets") or {}
    env_names = convert.build_secret_env(wanted)
    return {env_names[i]: resolve(ref, ctx.secrets) for i, ref in wanted.items()}


def push_cache_images(client, spec: JobSpec, ctx: RunContext, log: Log) -> list[str]:
    """Once the deploy serves: each stage the build's plan names (runners/build_cache.py) built alone, from the
    same Dockerfile with the same cache flags (on this engine, cache hits of the build just made), and pushed
    as `<registry>/<app>:cache-<stage>`, when the build itself was pushed. The digests the cache tags pointed
    at before, for the registry's retention to delete. Never fails the job: a stage not built or not pushed is
    a line in the log. The new version already serves: the deploy does not wait for these."""
    cache = ctx.scratch.get("build_cache")
    if not cache or not cache.stages or not ctx.scratch.get("digest"):  # the build itself was not pushed
        return []
    ctx.phases.mark("cache_started")
    try:
        return _push_stages(client, spec, ctx, log, cache)
    finally:
        ctx.phases.mark("cache_pushed")


def _push_stages(client, spec: JobSpec, ctx: RunContext, log: Log, cache: build_cache.Plan) -> list[str]:
    if cache.unnamed:
        log(f"build cache: stage(s) {', '.join(map(str, cache.unnamed))} have no name (FROM ... AS name) and "
            "cannot be pushed as cache images: a fresh agent builds them itself")
    registry, given = ctx.settings.registry, images.auth(ctx.settings, ctx.secrets)
    api, superseded = Distribution(registry, given), []
    with tempfile.TemporaryDirectory(prefix="cache-", dir=ctx.workdir) as scratch:
        try:
            dockerfile, _ = _namespaced_dockerfile(spec, Path(ctx.worktree), Path(scratch))
            env = {**os.environ, "DOCKER_BUILDKIT": "1", **_secrets_env(spec, ctx),
                   **build_cache.docker_config(registry, given, Path(scratch))}
        except convert.BuildInputError as exc:  # it built a moment ago: the worktree changed under the agent
            log(f"build cache: no cache image pushed: {exc}")
            return []
        for stage in cache.stages:
            if ctx.cancel.requested:
                log(f"build cache: stopped before stage {stage}: {ctx.cancel.reason}")
                break
            tag = build_cache.cache_tag(stage)
            name, started = f"{images.repository(registry, spec.app)}:{tag}", time.monotonic()
            iidfile, lines = Path(scratch) / f"{tag}.id", []
            argv = convert.buildkit_argv(spec, str(ctx.worktree), str(iidfile), DOCKER_CLI, dockerfile, stage, [name])
            argv[-2:-2] = cache.argv
            done = process.run(argv, cwd=ctx.worktree, env=env, log=lines.append, cancel=ctx.cancel,
                               timeout=ctx.timeout)
            image = iidfile.read_text().strip() if iidfile.is_file() else ""
            if done.code != 0 or not image:
                why = next((ln.strip() for ln in reversed(lines) if "ERROR" in ln or "error" in ln.lower()),
                           f"docker build exited {done.code}")
                log(f"build cache: stage {stage} not built ({why}); no cache image pushed for it")
                continue
            try:
                before = api.manifest(api.name(spec.app), tag)[0]
                pinned = images.push(client, image, registry, spec, given, lambda _line: None, ctx.cancel, tag)
            except (DistributionError, images.RegistryError) as exc:
                log(f"build cache: {name} not pushed: {exc}")
                break  # the registry went away or refuses: the next stages would say the same
            digest = pinned.rsplit("@", 1)[1]
            if before and before != digest:
                superseded.append(before)
            cached = sum(1 for ln in lines if ln.endswith(" CACHED"))
            log(f"build cache: {name} pushed as {digest[:19]} ({time.monotonic() - started:.1f} s, "
                f"{cached} step(s) cached)")
    return superseded


def _namespaced_dockerfile(spec: JobSpec, worktree: Path, scratch: Path) -> tuple[str, str]:
    """The path of the Dockerfile to build and its text: a copy in `scratch` with its cache mounts under this
    build's trust level (runners/cache_mounts.py), or "" when it has none (the file is built where it is).
    The text is "" when there is no file (docker build says what is missing)."""
    relative = convert.dockerfile_in_context(spec.target.get("dockerfile", "Dockerfile"))
    path = (worktree / relative).resolve()
    if not path.is_relative_to(worktree.resolve()):  # a symlink out of the repository: never read it
        raise convert.BuildInputError(f"dockerfile {relative!r} must be a file inside the repository")
    if not path.is_file():
        return "", ""
    text = path.read_text(errors="replace")
    rewritten = cache_mounts.namespaced(text, cache_mounts.namespace(spec))
    if rewritten == text:
        return "", text
    copy = scratch / "dockerfile" / path.name
    copy.parent.mkdir()
    copy.write_text(rewritten)
    ignore = path.with_name(path.name + ".dockerignore")  # BuildKit reads it beside the Dockerfile
    if ignore.is_file() and ignore.resolve().is_relative_to(worktree.resolve()):
        (copy.parent / ignore.name).write_text(ignore.read_text(errors="replace"))
    return str(copy), rewritten


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
