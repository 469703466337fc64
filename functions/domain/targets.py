"""Deploy targets: the fields each `target:` block takes, checked when an app is saved.

The runners (runners/) read the same blocks; this table is the one contract
between the API and the agent, and the README's config reference mirrors it.
"""
from __future__ import annotations

import re

from contract.queues import DEFAULT_POOL

from functions.config import settings
from functions.errors import InvalidInput
from functions.domain.fields import Field, check

COMMON = (
    Field("type", "str", required=True),
    Field("name", "str", doc="target name; jobs of one app and target run one at a time"),
    Field("timeout", "int", default=1800, doc="seconds before the job is stopped"),
    Field("pool", "str", default=DEFAULT_POOL, doc="the agents that run it: only agents of this pool receive it"),
    Field("quiet_period", "int", default=0, doc="seconds a job waits for a newer push before it starts; the "
                                                "newest of a burst runs, the others end superseded"),
)

# shell and ansible commands in a fresh container of `image` (runners/builder.py); the limits need it
BUILDER = (
    Field("image", "str", doc="run the commands in a fresh container of this image, on the agent's Docker Engine"),
    Field("cpus", "cpus", doc="CPU limit of that container, e.g. 0.5"),
    Field("memory", "memory", doc="memory limit of that container, e.g. 256m; passing it kills the command"),
    Field("network", "str", choices=("bridge", "none", "app"),
          doc="bridge (default), none, or app: the app's own network, where its database answers"),
)

TARGETS: dict[str, tuple[Field, ...]] = {
    "docker": (
        Field("dockerfile", "str", default="Dockerfile"),
        Field("build_args", "map"),
        Field("build_secrets", "secret_map", doc="id -> secret:NAME, read in the Dockerfile with "
              "RUN --mount=type=secret,id=ID (BuildKit; never a build arg, never in the image)"),
        Field("env", "map", doc="environment of the container"),
        Field("health_path", "str", doc="HTTP path that must answer 2xx/3xx; TCP check when unset"),
        Field("health_timeout", "int", default=60),
        Field("keep_images", "int", default=3, doc="images kept for rollback"),
        Field("drain_seconds", "int", default=2),
    ),
    "shell": (
        Field("commands", "argv_list", required=True, doc="argv lists run in the worktree, in order"),
        Field("env", "map"),
        *BUILDER,
    ),
    "heroku": (
        Field("app", "str", required=True, doc="the Heroku app name"),
        Field("api_key", "str", required=True, secret=True),
        Field("method", "str", choices=("build", "container"), default="build"),
        Field("process_type", "str", default="web"),
        Field("api_url", "str", default="https://api.heroku.com"),
        Field("registry", "str", default="registry.heroku.com"),
    ),
    "aws-ecs": (
        Field("cluster", "str", required=True),
        Field("service", "str", required=True),
        Field("repository", "str", required=True, doc="ECR repository name"),
        Field("container", "str", doc="container name in the task definition (default: the first)"),
        Field("region", "str"),
        Field("stable_timeout", "int", default=600),
        Field("dockerfile", "str", default="Dockerfile"),
        Field("build_args", "map"),
        Field("build_secrets", "secret_map", doc="id -> secret:NAME, read in the Dockerfile with "
              "RUN --mount=type=secret,id=ID (BuildKit; never a build arg, never in the image)"),
    ),
    "ansible": (
        Field("playbook", "str", required=True, doc="path of the playbook inside the repository"),
        Field("inventory", "str", default="localhost,", doc="inventory path in the repository or a host list"),
        Field("extra_vars", "map"),
        *BUILDER,
    ),
}

MAX_QUIET = 24 * 3600
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def validate(path: str, doc) -> dict:
    """Check one `target:` block; the error names the field that is wrong."""
    if not isinstance(doc, dict) or "type" not in doc:
        raise InvalidInput(f"{path}.type", f"is required (one of {', '.join(TARGETS)})")
    kind = doc["type"]
    if kind not in TARGETS:
        raise InvalidInput(f"{path}.type", f"unknown target type {kind!r} (one of {', '.join(TARGETS)})")
    clean = check(path, doc, COMMON + TARGETS[kind])
    clean.setdefault("name", kind)
    for f in BUILDER[1:]:
        if f.name in clean and "image" not in clean:
            raise InvalidInput(f"{path}.{f.name}", "applies to a builder container: set image: as well")
    if not _NAME.match(clean["name"]):
        raise InvalidInput(f"{path}.name", "must be lower-case letters, digits and '-', at most 40")
    if clean["quiet_period"] > MAX_QUIET:
        raise InvalidInput(f"{path}.quiet_period", f"at most {MAX_QUIET} seconds (a day)")
    pools = settings().pools
    if clean["pool"] not in pools:
        raise InvalidInput(f"{path}.pool", f"unknown pool {clean['pool']!r} (known: {', '.join(pools)}); pools are "
                                           "declared with TAHOBUDDY_POOLS, which provisioning and infra/ read")
    return clean
