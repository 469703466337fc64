"""JobSpec -> docker-py arguments, as plain functions (Woodpecker's docker/convert.go)."""
from __future__ import annotations

import re

from .base import JobSpec

DB_DATA = {"postgres": "/var/lib/postgresql/data", "mysql": "/var/lib/mysql", "redis": "/data"}
DB_PORT = {"postgres": 5432, "mysql": 3306, "redis": 6379}


def safe_tag(text: str) -> str:
    """A Docker tag from any ref name: [A-Za-z0-9_.-], at most 128, not starting with '.' or '-'."""
    tag = re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:128].lstrip(".-")
    return tag or "untagged"


def network(app: str) -> str:
    return f"tahobuddy-{app}"


def repository(app: str) -> str:
    return f"tahobuddy/{app}"


def db_name(app: str) -> str:
    return f"tahobuddy-{app}-db"


def labels(spec: JobSpec) -> dict[str, str]:
    return {"tahobuddy.app": spec.app, "tahobuddy.job": spec.job_id, "tahobuddy.sha": spec.sha,
            "tahobuddy.ref": spec.ref, "tahobuddy.rule": spec.rule}


def tags(spec: JobSpec) -> list[str]:
    """Image tags: the commit, the tag or branch name, and the job."""
    return [safe_tag(spec.sha[:12]), safe_tag(spec.ref_name), f"job-{spec.job_id}"]


def build_kwargs(spec: JobSpec, context: str) -> dict:
    target = spec.target
    return {"path": context, "dockerfile": target.get("dockerfile", "Dockerfile"),
            "tag": f"{repository(spec.app)}:{tags(spec)[0]}", "labels": labels(spec),
            "buildargs": dict(target.get("build_args") or {}), "rm": True, "forcerm": True, "pull": False,
            "decode": True}


def run_kwargs(spec: JobSpec, image: str, extra_env: dict[str, str]) -> dict:
    app = spec.app_spec
    port = int(app.get("port", 8080))
    env = {**(app.get("env") or {}), **(spec.target.get("env") or {}), **extra_env, **spec.env(),
           "PORT": str(port)}
    return {"image": image, "name": f"tahobuddy-{spec.app}-{spec.job_id}", "detach": True,
            "labels": {**labels(spec), "tahobuddy.role": "app"}, "environment": env,
            "ports": {f"{port}/tcp": ("127.0.0.1", None)}, "restart_policy": {"Name": "unless-stopped"},
            "network": network(spec.app),
            # docker-init as PID 1 forwards SIGTERM, so an app that never installed a handler still stops
            # at once when it is retired (busybox httpd as PID 1 ignored it: a 10 s stop per deploy)
            "init": True}


def database_kwargs(app: str, kind: str, image: str, password: str) -> dict:
    env = {"postgres": {"POSTGRES_USER": "tahobuddy", "POSTGRES_PASSWORD": password, "POSTGRES_DB": app},
           "mysql": {"MYSQL_USER": "tahobuddy", "MYSQL_PASSWORD": password, "MYSQL_DATABASE": app,
                     "MYSQL_RANDOM_ROOT_PASSWORD": "yes"},
           "redis": {}}[kind]
    return {"image": image, "name": db_name(app), "detach": True, "environment": env,
            "labels": {"tahobuddy.app": app, "tahobuddy.role": "database"},
            "volumes": {f"{db_name(app)}-data": {"bind": DB_DATA[kind], "mode": "rw"}},
            "restart_policy": {"Name": "unless-stopped"}, "network": network(app)}


def database_url(app: str, kind: str, password: str) -> str:
    host, port = db_name(app), DB_PORT[kind]
    if kind == "redis":
        return f"redis://{host}:{port}/0"
    scheme = "postgres" if kind == "postgres" else "mysql"
    return f"{scheme}://tahobuddy:{password}@{host}:{port}/{app}"
