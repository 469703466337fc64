"""Apps and their rules, deploys and rollbacks by hand (chosen in functions/dispatch/manual.py), and their
database's backups and restores (functions/dispatch/backups.py)."""
from __future__ import annotations

from chalice import Blueprint, Response

from functions.api import http
from functions.config import settings
from functions.domain import preview_hosts
from functions.dispatch import backups, manual, schedules
from functions.store import app_store, output
from functions.store import backups as backups_store

bp = Blueprint(__name__)


@bp.route(f"{http.V1}/apps", methods=["GET"])
@http.api("admin")
def list_apps():
    return {"apps": app_store.listing()}


@bp.route(f"{http.V1}/apps", methods=["POST"])
@http.api("admin")
def create_app():
    app, _ = app_store.save(http.body(), create_only=True)
    return Response(body=_with_warnings(app), status_code=201)


@bp.route(f"{http.V1}/apps/{{name}}", methods=["PUT"])
@http.api("admin")
def put_app(name):
    app, created = app_store.save(http.body(), name=name)
    return Response(body=_with_warnings(app), status_code=201 if created else 200)


def _with_warnings(app: dict) -> dict:
    """The saved app, and what is risky about it (not stored: said each time it is saved)."""
    said = preview_hosts.warnings(app, settings().preview_domain)
    return {**app, "warnings": said} if said else app


@bp.route(f"{http.V1}/apps/{{name}}", methods=["GET"])
@http.api("admin")
def get_app(name):
    return app_store.get(name)


@bp.route(f"{http.V1}/apps/{{name}}", methods=["DELETE"])
@http.api("admin")
def delete_app(name):
    """?purge=true also queues the removal of its volumes, database and containers on its agents."""
    purging = (http.query("purge") or "").lower() in ("1", "true", "yes")
    queued = manual.purge(name) if purging else []
    app_store.delete(name)
    return {"deleted": name, "purge_jobs": queued} if purging else {"deleted": name}


@bp.route(f"{http.V1}/apps/{{name}}/deploy", methods=["POST"])
@http.api("admin")
def deploy_app(name):
    return Response(body={"jobs": manual.deploy(name, http.body())}, status_code=201)


@bp.route(f"{http.V1}/apps/{{name}}/rollback", methods=["POST"])
@http.api("admin")
def rollback_app(name):
    return Response(body={"jobs": manual.rollback(name, http.body())}, status_code=201)


@bp.route(f"{http.V1}/apps/{{name}}/promote", methods=["POST"])
@http.api("admin")
def promote_app(name):
    return Response(body={"jobs": manual.promote(name, http.body())}, status_code=201)


@bp.route(f"{http.V1}/apps/{{name}}/run", methods=["POST"])
@http.api("admin")
def run_in_app(name):
    return Response(body={"jobs": manual.run(name, http.body())}, status_code=201)


@bp.route(f"{http.V1}/apps/{{name}}/output", methods=["GET"])
@http.api("admin")
def app_output(name):
    """What the app's serving container printed (the agent ships it): the newest lines (`since` seconds
    back), or those after `after` to follow."""
    return output.page(name, http.int_query("preview", 0, 10**9), http.int_query("after", 0, 10**15),
                       http.int_query("since", 0, 10**9), http.int_query("limit", 1000, 5000))


@bp.route(f"{http.V1}/schedules", methods=["GET"])
@http.api("admin")
def list_schedules():
    return {"schedules": schedules.listing()}


@bp.route(f"{http.V1}/apps/{{name}}/backups", methods=["POST"])
@http.api("admin")
def backup_app(name):
    return Response(body={"jobs": [backups.backup(name)]}, status_code=201)


@bp.route(f"{http.V1}/apps/{{name}}/backups", methods=["GET"])
@http.api("admin")
def list_backups(name):
    app_store.get(name)
    return {"backups": backups_store.listing(name)}


@bp.route(f"{http.V1}/apps/{{name}}/restore", methods=["POST"])
@http.api("admin")
def restore_app(name):
    job = backups.restore(name, http.body())
    return Response(body={"jobs": [job], **({"warning": job["warning"]} if "warning" in job else {})},
                    status_code=201)
