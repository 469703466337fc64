"""BuildKit's cache between agents, through the installation's registry.

A docker build on an agent with a registry embeds BuildKit's inline cache in its image (pushed with it) and
reads the cache of the app's last pushed image, so an engine that never built the app reuses the layers another
agent built. A preview's build does neither: a pull request's code never reads or writes production's cache.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from .base import JobSpec
from .image_registry import auth, repository


@dataclass(frozen=True)
class InlineCache:
    argv: list          # build flags: write the cache into the image, read the last pushed one's
    env: dict           # DOCKER_CONFIG of a temporary directory holding the registry's auth, when it has one
    source: str         # the reference the cache comes from ("" none)


def inline_cache(spec: JobSpec, ctx, scratch: Path) -> InlineCache:
    """For a docker target whose agent has a registry: embed BuildKit's inline cache in the image (pushed with
    it), and --cache-from the app's last pushed digest, so an engine that never built the app reuses the layers
    another agent built. The CLI reads registry auth only from a config file: it goes in `scratch` (removed with
    the build's scratch directory), never in the agent's ~/.docker."""
    if spec.target_type != "docker" or not ctx.settings.registry or spec.preview:
        return InlineCache([], {}, "")
    mine = repository(ctx.settings.registry, spec.app) + "@"
    last = next((e["digest"] for e in reversed(spec.releases) if str(e.get("digest", "")).startswith(mine)), "")
    argv = ["--build-arg", "BUILDKIT_INLINE_CACHE=1"] + (["--cache-from", last] if last else [])
    given = auth(ctx.settings, ctx.secrets)
    if not given:
        return InlineCache(argv, {}, last)
    config = scratch / "docker-config"
    config.mkdir(mode=0o700)
    entry = base64.b64encode(f"{given['username']}:{given['password']}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {ctx.settings.registry.split("/", 1)[0]:
                                                              {"auth": entry}}}))
    (config / "config.json").chmod(0o600)
    return InlineCache(argv, {"DOCKER_CONFIG": str(config)}, last)
