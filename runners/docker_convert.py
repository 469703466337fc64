"""JobSpec -> docker-py arguments and the BuildKit `docker build` argv, as plain functions
(Woodpecker's docker/convert.go)."""
from __future__ import annotations

import dataclasses
import posixpath
import re

import requests
from docker.errors import APIError, DockerException
from urllib3.exceptions import ProtocolError

from contract.wire import BUILD_SECRET_ID, SECRET_REF  # the same rules the API checks when an app is saved

from .base import JobSpec

DB_DATA = {"postgres": "/var/lib/postgresql/data", "mysql": "/var/lib/mysql", "redis": "/data"}
DB_PORT = {"postgres": 5432, "mysql": 3306, "redis": 6379}


def safe_tag(text: str) -> str:
    """A Docker tag from any ref name: [A-Za-z0-9_.-], at most 128, not starting with '.' or '-'."""
    tag = re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:128].lstrip(".-")
    return tag or "untagged"


PREVIEW_SEPARATOR = "."   # app names cannot contain it (functions/domain/apps.py): app x's preview 1 is x.pr-1,
                          # and no app's own names can be the same (an app named x-pr-1 once shared them)


def preview_name(app: str, preview: int) -> str:
    """What names everything of preview `preview` of `app`: its route's @id, network, database, volume."""
    return f"{app}{PREVIEW_SEPARATOR}pr-{preview}"


def network(app: str, preview: int = 0) -> str:
    """A preview's own network: its code can reach its own database, never the app's."""
    return f"tahobuddy-{preview_name(app, preview)}" if preview else f"tahobuddy-{app}"


def repository(app: str) -> str:
    return f"tahobuddy/{app}"


def db_name(app: str, preview: int = 0) -> str:
    return f"tahobuddy-{preview_name(app, preview)}-db" if preview else f"tahobuddy-{app}-db"


def db_volume(app: str, preview: int = 0) -> str:
    return f"{db_name(app, preview)}-data"


INSTALLATION = "tahobuddy.installation"


def preview_labels(app: str, preview: int, installation: str = "") -> dict[str, str]:
    """What marks everything of one preview (container, image, volume, network): teardown and the
    reconciler find them by these labels. `installation` (the agent's, agent/config.py) tells apart two
    Tahobuddy installations sharing one Docker Engine, so neither removes the other's previews."""
    out = {"tahobuddy.app": app}
    if preview:
        out["tahobuddy.preview"] = str(preview)
    if installation:
        out[INSTALLATION] = installation
    return out


def preview_filter(app: str, preview: int, installation: str = "") -> list[str]:
    """docker's `label` filter for what preview_labels stamped (every label must match)."""
    return [f"{k}={v}" for k, v in preview_labels(app, preview, installation).items()]


def owner(labels: dict | None, installation: str) -> str:
    """Whose preview thing this is: "own" (this installation's label), "other" (another installation's),
    or "unlabelled" (made before the installation label existed: nobody can tell whose it is)."""
    stamped = (labels or {}).get(INSTALLATION, "")
    if not stamped:
        return "unlabelled"
    return "own" if stamped == installation else "other"


def route_key(app: str, preview: int = 0) -> str:
    """The agent's name for a route (routes.json): the app's, or one preview's."""
    return f"{app}#pr-{preview}" if preview else app


def without_secrets(env: dict | None) -> dict:
    """An environment with every `secret:NAME` value dropped: a preview runs a pull request's code."""
    return {k: v for k, v in (env or {}).items() if not (isinstance(v, str) and SECRET_REF.match(v))}


def preview_spec(spec: JobSpec) -> JobSpec:
    """A preview job as the runner runs it: served at its own hostname under its own route name, with no
    build secrets and no `secret:` values in its environment (the agent resolves none for it)."""
    preview = spec.target.get("preview") or {}
    target = {k: v for k, v in spec.target.items() if k != "build_secrets"}
    target["env"] = without_secrets(target.get("env"))
    app = {**spec.app_spec, "name": preview_name(spec.app, spec.preview), "hostname": preview.get("hostname", ""),
           "env": without_secrets(spec.app_spec.get("env"))}
    return dataclasses.replace(spec, target=target, app_spec=app)


def labels(spec: JobSpec) -> dict[str, str]:
    """Every label of what a job makes (image, container): the app, the preview, the installation, the job."""
    return {**preview_labels(spec.app, spec.preview, spec.installation), "tahobuddy.job": spec.job_id,
            "tahobuddy.sha": spec.sha, "tahobuddy.ref": spec.ref, "tahobuddy.rule": spec.rule}


def prunable(image_labels: dict | None, preview: int, installation: str) -> bool:
    """Whether an image the app's (or one preview's) label filter found is this job's to prune: the app's
    pruning leaves every preview's images alone, and neither touches another installation's images of an
    app with the same name on a shared Docker Engine. Unlabelled images (built before the installation
    label) are pruned as before: only this engine's users of that app name could have built them."""
    found = image_labels or {}
    if not preview and "tahobuddy.preview" in found:
        return False
    return owner(found, installation) != "other"


def tags(spec: JobSpec) -> list[str]:
    """Image tags: the commit, the tag or branch name, and the job."""
    return [safe_tag(spec.sha[:12]), safe_tag(spec.ref_name), f"job-{spec.job_id}"]




class BuildInputError(ValueError):
    """A target block the build cannot use as written; the message says what to change."""


def dockerfile_in_context(dockerfile: str) -> str:
    """The Dockerfile path relative to the worktree; one that leaves it is refused (it would read agent files)."""
    path = posixpath.normpath(dockerfile or "Dockerfile")
    if path.startswith("/") or path == ".." or path.startswith("../"):
        raise BuildInputError(f"dockerfile {dockerfile!r} must be a path inside the repository")
    return path


def build_secret_env(ids) -> dict[str, str]:
    """Secret id -> the environment variable the docker CLI reads it from (`--secret id=ID,env=VAR`).

    Variables, not files or build args: the value reaches BuildKit over the build session only,
    never the image config, its history or the command line."""
    out = {}
    for n, secret_id in enumerate(sorted(ids)):
        if not BUILD_SECRET_ID.match(secret_id):
            raise BuildInputError(f"build secret id {secret_id!r} must be 1-64 of A-Z a-z 0-9 _ . -")
        out[secret_id] = f"TAHOBUDDY_BUILD_SECRET_{n}"
    return out


def buildkit_argv(spec: JobSpec, context: str, iidfile: str, docker: str = "/usr/bin/docker",
                  dockerfile: str = "", stage: str = "", names: list[str] | None = None) -> list[str]:
    """`docker build` for BuildKit (run with DOCKER_BUILDKIT=1): plain progress lines for the job log,
    every tag and label in one go (labels go into the image config: no extra build steps), the image id
    written to `iidfile`, and the layer cache kept (no --no-cache, no --pull: nothing can be pulled).
    `dockerfile`: the file to build instead of the target's (its cache mounts namespaced, below).
    `stage` and `names`: build only that stage, named `names` instead of the app's tags (a cache image)."""
    target = spec.target
    argv = [docker, "build", "--progress=plain", "--iidfile", iidfile, "--file",
            dockerfile or posixpath.join(context, dockerfile_in_context(target.get("dockerfile", "Dockerfile")))]
    if stage:
        argv += ["--target", stage]
    for name in names if names is not None else [f"{repository(spec.app)}:{tag}" for tag in tags(spec)]:
        argv += ["--tag", name]
    for key, value in labels(spec).items():
        argv += ["--label", f"{key}={value}"]
    for key, value in sorted((target.get("build_args") or {}).items()):
        argv += ["--build-arg", f"{key}={value}"]
    for secret_id, var in build_secret_env(target.get("build_secrets") or {}).items():
        argv += ["--secret", f"id={secret_id},env={var}"]
    return argv + ["--", context]


# What a docker client prints when dockerd goes away under it: the CLI's build stream cut before a result
# (with --iidfile, Debian's 20.10 CLI says only that no image ID came; without it, "unexpected EOF"), a
# gRPC "Unavailable"/"transport is closing", or no daemon on the socket any more (docker-py too).
ENGINE_GONE = re.compile(r"did not provide an image ID|^(error: )?unexpected EOF$|rpc error: code = Unavailable|"
                         r"transport is closing|Cannot connect to the Docker daemon|error during connect|"
                         r"docker\.sock: connect: (no such file|connection refused)|Connection aborted|"
                         r"RemoteDisconnected|Error while fetching server API version", re.IGNORECASE)


def engine_lost(last_line: str) -> str:
    """A failed build's last line (the client's own last word) when it says the Docker Engine went away,
    or "" when the build failed for its own reasons (a RUN step that exited non-zero, a missing file...).
    Only the last line: a RUN step's output may say anything. The agent's scratch path is left out."""
    line = last_line.strip()
    if not ENGINE_GONE.search(line):
        return ""
    return re.sub(r"cannot write \S+ because", "cannot write the image id because", line)[:300]


def engine_lost_detail(error: str, during: str = "during the build",
                       left: str = "the running version was not touched", todo: str = "") -> str:
    """What the job's reason says: what happened, what is still serving, and what to do."""
    return (f"the Docker Engine went away {during} (dockerd restarted or stopped?): {error}; {left}; "
            f"deploy again once `docker info` answers on the agent{todo}")


# What docker-py raises when no dockerd answers on its socket, or one closes the connection without an
# answer (requests' ConnectionError around urllib3's "Connection aborted."), or cuts an answer short
LOST_CONNECTION = (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError, ProtocolError)


def engine_lost_error(exc: BaseException) -> str:
    """`exc` in words when it says the Docker Engine went away under a docker-py call, "" otherwise.

    Lost: a lost connection anywhere in its chain of causes (docker-py raises requests' ConnectionError
    as it is, and wraps it in a DockerException when it asks the API version first), or a DockerException
    in the client's words (ENGINE_GONE). Not lost: an answer of dockerd (an APIError: 404, 409, 500; it
    is there), a read timeout (it is there, slow), anything else (a bug of ours stays a crash)."""
    seen, cause = set(), exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, APIError):
            return ""
        if isinstance(cause, LOST_CONNECTION) or (isinstance(cause, DockerException)
                                                  and ENGINE_GONE.search(str(cause))):
            return f"{exc.__class__.__name__}: {exc}"[:300]
        cause = cause.__cause__ or cause.__context__
    return ""


def start_refused(exc: APIError, live: dict | None) -> str:
    """The reason of a job whose new container Docker would not create or start (more cpus than the host
    has, a host port another process held...): Docker's words, and what still serves."""
    words = str(exc.explanation or exc).strip()[:400]
    hint = (" (another process holds the host port Docker picked: Docker tries ten ports up from the bottom of "
            "net.ipv4.ip_local_port_range and knows only its own; `ss -ltnp` shows who listens)"
            if "address already in use" in words or "port is already allocated" in words else "")
    kept = (f"the route still points at {live['ref']} ({live['sha'][:12]})" if live and live.get("sha")
            else "the route was not changed")
    return f"Docker would not start the new container: {words}{hint}; {kept}"


def build_kwargs(spec: JobSpec, context: str) -> dict:
    """docker-py's legacy builder, used only where BuildKit is missing (each label becomes a build step)."""
    target = spec.target
    out = {"path": context, "dockerfile": target.get("dockerfile", "Dockerfile"),
           "tag": f"{repository(spec.app)}:{tags(spec)[0]}", "labels": labels(spec),
           "buildargs": dict(target.get("build_args") or {}), "rm": True, "forcerm": True, "pull": False,
           "decode": True}
    if spec.preview:  # the legacy builder limits each step's container; BuildKit 20.10 ignores such flags
        memory = _bytes(str((target.get("preview") or {}).get("memory") or PREVIEW_LIMITS["memory"]))
        out["container_limits"] = {"memory": memory, "memswap": memory}
    return out


# A preview runs a pull request's code on the home server: by default it gets one CPU, 512 MiB (no swap
# beyond it) and 256 processes, so a fork bomb or a leak stays inside it; the rule's preview block can
# change each (preview: {cpus, memory, pids}). Production containers get none unless their image does.
PREVIEW_LIMITS = {"cpus": "1", "memory": "512m", "pids": 256}
NANO = 1_000_000_000


def preview_limits(preview: dict | None) -> dict:
    """docker-py's limit kwargs for a preview's containers: the rule's preview block, else the defaults."""
    chosen = {k: (preview or {}).get(k) or default for k, default in PREVIEW_LIMITS.items()}
    return {"nano_cpus": int(round(float(chosen["cpus"]) * NANO)), "mem_limit": str(chosen["memory"]),
            "memswap_limit": str(chosen["memory"]), "pids_limit": int(chosen["pids"])}


def _bytes(size: str) -> int:
    """`512m` -> bytes, in Docker's units (the API checked the rule's value when the app was saved)."""
    number, unit = re.fullmatch(r"([0-9]+)([bkmg]?)", size.strip().lower()).groups()
    return int(number) * {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[unit]


def run_kwargs(spec: JobSpec, image: str, extra_env: dict[str, str]) -> dict:
    app = spec.app_spec
    port = int(app.get("port", 8080))
    env = {**(app.get("env") or {}), **(spec.target.get("env") or {}), **extra_env, **spec.env(),
           "PORT": str(port)}
    limits = preview_limits(spec.target.get("preview")) if spec.preview else {}
    return {**limits, "image": image, "name": f"tahobuddy-{spec.app}-{spec.job_id}", "detach": True,
            "labels": {**labels(spec), "tahobuddy.role": "app"}, "environment": env,
            "ports": {f"{port}/tcp": ("127.0.0.1", None)}, "restart_policy": {"Name": "unless-stopped"},
            "network": network(spec.app, spec.preview),
            # docker-init as PID 1 forwards SIGTERM, so an app that never installed a handler still stops
            # at once when it is retired (busybox httpd as PID 1 ignored it: a 10 s stop per deploy)
            "init": True, **container_kwargs(spec)}


LOG_ROTATION = {"max-size": "10m", "max-file": "3"}  # Dokku's and Kamal's 10 MB; json-file and local take both


def volume_name(app: str, name: str, preview: int = 0) -> str:
    """The Docker volume behind `volumes: {NAME: /path}`; a preview's are its own (and go with it)."""
    return f"{network(app, preview)}-vol-{name}"


def volumes(spec: JobSpec) -> dict[str, dict]:
    """docker-py's `volumes`: each named volume of the target, read-write at its path."""
    return {volume_name(spec.app, name, spec.preview): {"bind": path, "mode": "rw"}
            for name, path in sorted((spec.target.get("volumes") or {}).items())}


def log_config(target: dict) -> dict:
    """A rotating log driver: json-file (or local) with max-size 10m and max-file 3 unless log_options say
    otherwise, so an app's output never fills the disk (Docker's own default keeps json-file forever)."""
    options = {**LOG_ROTATION, **{k: str(v) for k, v in (target.get("log_options") or {}).items()}}
    return {"type": target.get("log_driver") or "json-file", "config": options}


def limits(target: dict) -> dict:
    """cpus, memory and pids of a docker target as docker-py's nano_cpus, mem_limit and pids_limit."""
    out = {}
    if target.get("cpus"):
        out["nano_cpus"] = int(round(float(target["cpus"]) * 1e9))
    if target.get("memory"):
        out["mem_limit"] = target["memory"]
    if target.get("pids"):
        out["pids_limit"] = int(target["pids"])
    return out


def container_kwargs(spec: JobSpec) -> dict:
    """What every container of the app's image runs with: its limits, its volumes and a rotating log."""
    return {**limits(spec.target), "volumes": volumes(spec), "log_config": log_config(spec.target)}


def database_kwargs(app: str, kind: str, image: str, password: str, preview: int = 0,
                    installation: str = "") -> dict:
    env = {"postgres": {"POSTGRES_USER": "tahobuddy", "POSTGRES_PASSWORD": password, "POSTGRES_DB": app},
           "mysql": {"MYSQL_USER": "tahobuddy", "MYSQL_PASSWORD": password, "MYSQL_DATABASE": app,
                     "MYSQL_RANDOM_ROOT_PASSWORD": "yes"},
           "redis": {}}[kind]
    return {"image": image, "name": db_name(app, preview), "detach": True, "environment": env,
            "labels": {**preview_labels(app, preview, installation), "tahobuddy.role": "database"},
            "volumes": {db_volume(app, preview): {"bind": DB_DATA[kind], "mode": "rw"}},
            "restart_policy": {"Name": "unless-stopped"}, "network": network(app, preview)}


def database_url(app: str, kind: str, password: str, preview: int = 0) -> str:
    host, port = db_name(app, preview), DB_PORT[kind]
    if kind == "redis":
        return f"redis://{host}:{port}/0"
    scheme = "postgres" if kind == "postgres" else "mysql"
    return f"{scheme}://tahobuddy:{password}@{host}:{port}/{app}"


def procfile_release(text: str) -> list[str]:
    """The `release:` line of a Procfile as an argv (run by `sh -c`, as Heroku and Dokku run Procfile lines),
    or [] when it has none."""
    for line in text.splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == "release" and command.strip():
            return ["sh", "-c", command.strip()]
    return []


def oneoff_kwargs(spec: JobSpec, image: str, extra_env: dict[str, str], argv: list[str], role: str) -> dict:
    """A one-off container of the app's image (release command, `tahobuddy run`): the app's environment,
    network, volumes, limits and log rotation, no published port, no restart."""
    base = run_kwargs(spec, image, extra_env)
    return {"image": image, "command": list(argv), "name": f"tahobuddy-{spec.app}-{spec.job_id}-{role}",
            "labels": {**base["labels"], "tahobuddy.role": role}, "environment": base["environment"],
            "network": base["network"], "init": True, **container_kwargs(spec)}
