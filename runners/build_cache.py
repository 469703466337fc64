"""BuildKit's cache between agents, through the installation's registry, for multi-stage Dockerfiles too.

A docker build on an agent with a registry embeds BuildKit's inline cache in its image (pushed with it). The
inline cache holds only the layers of the image it is in: the final stage's. A fresh agent reading it alone
would build again every earlier stage whose output a changed final step copies (a dependency install, say).
So, after the deploy serves, the agent builds each stage the final stage needs (runners/dockerfile_stages.py)
with `--target`, embeds the inline cache in it too, and pushes it as `<registry>/<app>:cache-<stage>`. On the
local engine those builds are cache hits (the final build just made every layer), and a push sends only what
the registry lacks. Every build then reads the cache of each stage's cache image and of the app's last pushed
image (`--cache-from`), so an engine that never built the app reuses the layers another agent built.

Which cache images exist is asked once before the build (the repository's tag list): a registry that does not
answer costs one line in the job log, and the build goes on without its cache. A cache tag moves to the newest
build of its stage; the image it pointed at before is handed to the registry's retention, which deletes it
(runners/image_retention.py). A preview's build does none of this: a pull request's code never reads or
writes production's cache.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

from . import dockerfile_stages
from .base import JobSpec
from .distribution import Distribution, DistributionError
from .docker_convert import safe_tag
from .image_registry import auth, repository

CACHE_TAG = "cache-"
INLINE = ["--build-arg", "BUILDKIT_INLINE_CACHE=1"]


def cache_tag(stage: str) -> str:
    """The tag of a stage's cache image in the app's repository."""
    return safe_tag(CACHE_TAG + stage)


def is_cache_tag(tag: str) -> bool:
    """A cache image's tag (never a release's: those are a commit's short sha)."""
    return tag.startswith(CACHE_TAG)


@dataclass(frozen=True)
class Plan:
    argv: list = field(default_factory=list)      # flags of every build: the inline cache, --cache-from each source
    env: dict = field(default_factory=dict)       # DOCKER_CONFIG with the registry's auth, when it has one
    sources: list = field(default_factory=list)   # the references the cache comes from
    stages: list = field(default_factory=list)    # the stages to push as cache images once the deploy serves
    unnamed: list = field(default_factory=list)   # needed stages without a name: cannot be built alone
    note: str = ""                                # the one log line when the registry's cache is not read


def used(spec: JobSpec, settings) -> bool:
    """Whether the build reads and writes the registry's cache: a docker target's, on an agent with a
    registry, never a preview's."""
    return spec.target_type == "docker" and bool(settings.registry) and not spec.preview


def choose(spec: JobSpec, registry: str, stages: list[str], tags: set[str]) -> list[str]:
    """The --cache-from references: each needed stage's cache image the registry holds, in the Dockerfile's
    order, then the app's last image pushed to this registry (its final stage's layers)."""
    repo = repository(registry, spec.app)
    found = [f"{repo}:{cache_tag(s)}" for s in stages if cache_tag(s) in tags]
    last = next((e["digest"] for e in reversed(spec.releases)
                 if str(e.get("digest", "")).startswith(repo + "@")), "")
    return found + ([last] if last else [])


def plan(spec: JobSpec, ctx, scratch: Path, dockerfile: str) -> Plan:
    """What the build does with the registry's cache. `dockerfile` is the text built. One call to the registry
    (its tag list). The CLI reads registry auth only from a config file: it goes in `scratch` (removed with the
    build's scratch directory), never in the agent's ~/.docker."""
    if not used(spec, ctx.settings):
        return Plan()
    registry = ctx.settings.registry
    stages, unnamed = dockerfile_stages.needed(dockerfile)
    given = auth(ctx.settings, ctx.secrets)
    api = Distribution(registry, given)
    try:
        tags = set(api.tags(api.name(spec.app)))
    except DistributionError as exc:
        return Plan(list(INLINE), note=f"build cache: {exc}; building without the registry's cache")
    sources = choose(spec, registry, stages, tags)
    argv = list(INLINE) + [flag for source in sources for flag in ("--cache-from", source)]
    return Plan(argv, docker_config(registry, given, scratch), sources, stages, unnamed)


def docker_config(registry: str, given: dict, scratch: Path) -> dict:
    """DOCKER_CONFIG of a directory in `scratch` holding the registry's auth; {} when it takes anyone."""
    if not given:
        return {}
    config = scratch / "docker-config"
    config.mkdir(mode=0o700, exist_ok=True)
    entry = base64.b64encode(f"{given['username']}:{given['password']}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {registry.split("/", 1)[0]: {"auth": entry}}}))
    (config / "config.json").chmod(0o600)
    return {"DOCKER_CONFIG": str(config)}
