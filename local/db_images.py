"""Which database images the agent of `make run` and `make test` uses.

The configured ones (agent/config.py's `db_images`, the official postgres:16, mysql:8 and redis:7 unless
TAHOBUDDY_DB_IMAGES says otherwise) when this Docker Engine has them or can pull them; otherwise the ones
local/db-images.sh makes here from Debian bookworm packages, once per engine. Production agents never
come through here: their defaults stay the official images.

    python -m local.db_images     # prints the TAHOBUDDY_DB_IMAGES value to use, building what it needs
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agent.config import AgentConfig

ROOT = Path(__file__).resolve().parent.parent
LOCAL = {"postgres": "tahobuddy-local/postgres:15", "mysql": "tahobuddy-local/mariadb:10.11",
         "redis": "tahobuddy-local/redis:7"}
RECIPE = {"postgres": "postgres", "mysql": "mariadb", "redis": "redis"}  # local/db-images/<recipe>
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"


def choose(configured: dict, usable) -> tuple[dict, list[str]]:
    """The images to use per kind and the local recipes to build: a configured image stays when
    `usable(image)` (present or pulled); otherwise the local one of its kind stands in."""
    chosen, build = {}, []
    for kind, image in configured.items():
        if usable(image) or kind not in LOCAL:
            chosen[kind] = image
        else:
            chosen[kind] = LOCAL[kind]
            build.append(RECIPE[kind])
    return chosen, build


def as_setting(images: dict) -> str:
    return ",".join(f"{kind}={image}" for kind, image in sorted(images.items()))


def usable(image: str) -> bool:
    """Present on this engine, or pulled now (a registry that does not answer fails in milliseconds)."""
    for argv in ([DOCKER, "image", "inspect", image], [DOCKER, "pull", "-q", image]):
        if subprocess.run(argv, capture_output=True, timeout=600).returncode == 0:
            return True
    return False


def ensure(env=None, log=print) -> dict:
    """The images the agent should use, every local one among them built (or found) first."""
    env = os.environ if env is None else env
    chosen, build = choose(AgentConfig.load(env=env).db_images, usable)
    if build:
        log(f"database images: none of {', '.join(sorted(set(build)))} could be pulled; "
            "using the local ones (local/db-images.sh)")
        done = subprocess.run([str(ROOT / "local" / "db-images.sh"), *build], capture_output=True, text=True)
        for line in done.stdout.splitlines():
            log(f"  {line}")
        if done.returncode != 0:
            raise RuntimeError(f"local/db-images.sh failed: {done.stderr.strip()[-2000:]}")
    return chosen


if __name__ == "__main__":
    print(as_setting(ensure(log=lambda line: print(line, file=sys.stderr))))
