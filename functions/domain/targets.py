"""Deploy targets: the fields each `target:` block takes, checked when an app is saved.

The runners (runners/) read the same blocks; this table is the one contract
between the API and the agent; the configuration reference and the JSON Schema are made from it.
"""
from __future__ import annotations

from contract.queues import DEFAULT_POOL

from functions.config import settings
from functions.errors import InvalidInput
from functions.domain.fields import Field, check

MAX_QUIET = 24 * 3600
NAME = r"^[a-z0-9][a-z0-9-]{0,39}$"
SECRET_IDS = ("id -> secret:NAME, read in the Dockerfile with RUN --mount=type=secret,id=ID (BuildKit; never a "
              "build arg, never in the image)")
COMMON = (
    Field("type", "str", required=True, doc="what deploys it: docker, shell, heroku, aws-ecs or ansible"),
    Field("name", "str", pattern=NAME, hint="must be lower-case letters, digits and '-', at most 40",
          examples=("web",), doc="target name (default: the type); jobs of one app and target run one at a time"),
    Field("timeout", "int", default=1800, examples=(600,), doc="seconds before the job is stopped"),
    Field("pool", "str", default=DEFAULT_POOL, examples=("home",),
          doc="the agents that run it: only agents of this pool receive it (pools are declared with "
              "TAHOBUDDY_POOLS)"),
    Field("quiet_period", "int", default=0, maximum=MAX_QUIET, hint=f"at most {MAX_QUIET} seconds (a day)",
          examples=(30,), doc="seconds a job waits for a newer push before it starts; the newest of a burst runs, "
                              "the others end superseded"),
)

# shell and ansible commands in a fresh container of `image` (runners/builder.py); the limits need it
BUILDER = (
    Field("image", "str", examples=("node:20",),
          doc="run the commands in a fresh container of this image, on the agent's Docker Engine (never pulled)"),
    Field("cpus", "cpus", examples=(0.5,), doc="CPU limit of that container (needs image)"),
    Field("memory", "memory", examples=("256m", "1g"),
          doc="memory limit of that container (needs image); passing it kills the command"),
    Field("network", "str", choices=("bridge", "none", "app"),
          doc="bridge (default), none (loopback only), or app: the app's own network, where its database answers "
              "(needs image)"),
)

# what the app's own container runs with (runners/docker_convert.py: container_kwargs)
APP_CONTAINER = (
    Field("cpus", "cpus", examples=(1.5,), doc="CPU limit of the app's container (Docker's --cpus)"),
    Field("memory", "memory", examples=("512m",),
          doc="memory limit of the app's container; the kernel kills the app when it passes it"),
    Field("pids", "int", minimum=8, hint="must be at least 8 (an app needs a few processes)", examples=(256,),
          doc="most processes and threads the app's container may have (Docker's --pids-limit)"),
    Field("volumes", "volumes", examples=({"uploads": "/app/uploads"},),
          doc="named volumes mounted in the app's container, kept across deploys and rollbacks; removed only "
              "by `tahobuddy apps --delete NAME --purge` (a preview gets empty ones of its own)"),
    Field("log_driver", "str", choices=("json-file", "local"), default="json-file",
          doc="Docker log driver of the app's container; both rotate"),
    Field("log_options", "map", examples=({"max-size": "50m", "max-file": "5"},),
          doc="log driver options, over the default rotation max-size 10m, max-file 3"),
)

TARGETS: dict[str, tuple[Field, ...]] = {
    "docker": (
        Field("dockerfile", "str", default="Dockerfile", examples=("deploy/Dockerfile",),
              doc="the Dockerfile's path in the repository"),
        Field("image", "str", examples=("ghcr.io/me/blog:{sha}", "127.0.0.1:5000/blog:{tag}"),
              doc="deploy this prebuilt image instead of building: the agent pulls it (placeholders {sha}, "
                  "{short_sha}, {ref_name}, {tag}) with the agent's registry credentials"),
        Field("image_wait", "int", default=300, examples=(600,),
              doc="seconds to wait for a prebuilt image to appear in its registry (CI may still be pushing it); "
                  "then the job fails naming the reference"),
        Field("build_args", "map", examples=({"NODE_ENV": "production"},), doc="--build-arg values"),
        Field("build_secrets", "secret_map", examples=({"token": "secret:NPM_TOKEN"},), doc=SECRET_IDS),
        Field("env", "map", doc="environment of the container (secret:NAME values resolved by the agent)"),
        Field("health_path", "str", examples=("/health",), doc="HTTP path that must answer 2xx/3xx; TCP check "
                                                               "when unset"),
        Field("health_timeout", "int", default=60, doc="seconds the new container has to become healthy"),
        Field("keep_images", "int", default=3, doc="images kept for rollback, on the engine and in the registry "
                                                   "(a digest a release or an open preview uses is never pruned "
                                                   "from the registry)"),
        Field("drain_seconds", "int", default=2, doc="seconds the old container keeps serving after the switch"),
        Field("watch_seconds", "int", default=120, minimum=0,
              doc="seconds the new container is still checked after the swap (0: no watch); the previous "
                  "container is kept, unrouted, until the watch passes; the job's timeout must cover it"),
        Field("watch_failures", "int", default=3, minimum=1,
              doc="failed checks in a row during the watch that swap the previous version back in"),
        Field("release_command", "argv", examples=(["./manage.py", "migrate"],),
              doc="run once per deploy in the new image, before its container starts (migrations); without it, "
                  "the Procfile's release: line; a failure keeps the old version serving"),
        Field("release_timeout", "int", default=600, minimum=1, doc="seconds the release command may take"),
        *APP_CONTAINER,
    ),
    "shell": (
        Field("commands", "argv_list", required=True, examples=([["make", "deploy"]],),
              doc="argv lists run in the worktree, in order; never a shell string"),
        Field("env", "map", doc="environment of the commands (secret:NAME values resolved by the agent)"),
        *BUILDER,
    ),
    "heroku": (
        Field("app", "str", required=True, examples=("me-blog",), doc="the Heroku app name"),
        Field("api_key", "str", required=True, secret=True, examples=("secret:HEROKU_API_KEY",),
              doc="the Heroku API key, as a secret:NAME the agent resolves"),
        Field("method", "str", choices=("build", "container"), default="build",
              doc="build: Heroku builds the source; container: the agent builds an image and releases it"),
        Field("process_type", "str", default="web", doc="the process type a container release replaces"),
        Field("api_url", "str", default="https://api.heroku.com", doc="the Platform API"),
        Field("registry", "str", default="registry.heroku.com", doc="the container registry (method container)"),
    ),
    "aws-ecs": (
        Field("cluster", "str", required=True, examples=("prod",), doc="the ECS cluster"),
        Field("service", "str", required=True, examples=("api",), doc="the ECS service"),
        Field("repository", "str", required=True, examples=("api",), doc="ECR repository name"),
        Field("container", "str", doc="container name in the task definition (default: the first)"),
        Field("region", "str", examples=("eu-west-1",), doc="AWS region (default: the agent's)"),
        Field("stable_timeout", "int", default=600, doc="seconds to wait for the service to be stable"),
        Field("dockerfile", "str", default="Dockerfile", doc="the Dockerfile's path in the repository"),
        Field("build_args", "map", doc="--build-arg values"),
        Field("build_secrets", "secret_map", examples=({"token": "secret:NPM_TOKEN"},), doc=SECRET_IDS),
    ),
    "ansible": (
        Field("playbook", "str", required=True, examples=("deploy.yml",),
              doc="path of the playbook inside the repository"),
        Field("inventory", "str", default="localhost,", examples=("inventory/prod", "web1,web2,"),
              doc="inventory path in the repository, or a host list ending in ','"),
        Field("extra_vars", "map", doc="extra variables (secret:NAME values resolved by the agent)"),
        *BUILDER,
    ),
}


def validate(path: str, doc) -> dict:
    """Check one `target:` block; the error names the field that is wrong."""
    if not isinstance(doc, dict) or "type" not in doc:
        raise InvalidInput(f"{path}.type", f"is required (one of {', '.join(TARGETS)})")
    target_type = doc["type"]
    if not isinstance(target_type, str) or target_type not in TARGETS:
        raise InvalidInput(f"{path}.type", f"unknown target type {target_type!r} (one of {', '.join(TARGETS)})")
    clean = check(path, doc, COMMON + TARGETS[target_type])
    clean.setdefault("name", target_type)
    for f in BUILDER[1:] if BUILDER[0] in TARGETS[target_type] else ():  # a docker target's cpus are its app's
        if f.name in clean and "image" not in clean:
            raise InvalidInput(f"{path}.{f.name}", "applies to a builder container: set image: as well")
    if target_type == "docker" and clean["watch_seconds"] + clean["health_timeout"] >= clean["timeout"]:
        raise InvalidInput(f"{path}.watch_seconds", f"with health_timeout ({clean['health_timeout']} s) must end "
                                                    f"within the job's timeout ({clean['timeout']} s): the job runs "
                                                    "through the watch")
    pools = settings().pools
    if clean["pool"] not in pools:
        raise InvalidInput(f"{path}.pool", f"unknown pool {clean['pool']!r} (known: {', '.join(pools)}); pools are "
                                           "declared with TAHOBUDDY_POOLS, which provisioning and infra/ read")
    return clean
