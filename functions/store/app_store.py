"""Apps in DynamoDB: save (validated), get, list, delete, and lookup by repository.

Every change is written to the audit log; a replace that changes nothing is not a change.
"""
from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, PutError

from functions.domain import apps, refs
from functions.store import audit, conditions
from functions.clock import now_iso
from functions.errors import Conflict, InvalidInput, NotFound
from functions.store.models import AppModel


def save(doc: dict, *, name: str | None = None, create_only: bool = False) -> tuple[dict, bool]:
    """Validate and store an app; returns (app, created)."""
    if name is not None:
        if isinstance(doc, dict) and doc.get("name", name) != name:
            raise InvalidInput("name", f"does not match the URL ({name})")
        doc = {**doc, "name": name} if isinstance(doc, dict) else doc
    app = apps.validate(doc)
    try:
        row = AppModel.get(app["name"])
        if create_only:
            raise Conflict(f"app {app['name']} exists; use PUT /api/v1/apps/{app['name']} to replace it")
        created, before = False, row.app
    except DoesNotExist:
        _refuse_preview_names(app["name"])
        row = AppModel(app["name"], created_at=now_iso())
        created, before = True, {}
    row.app, row.repo_key, row.updated_at = app, refs.repo_key(app["repository"]), now_iso()
    try:
        row.save()  # VersionAttribute: a concurrent writer makes this fail instead of losing an update
    except PutError as exc:
        if not conditions.failed(exc):
            raise
        raise Conflict(f"app {app['name']} changed while saving; try again") from exc
    if created:
        audit.record("created", f"app/{app['name']}", {"repository": app["repository"],
                                                         "rules": {"added": [r["name"] for r in app["rules"]]}})
    elif before != app:
        audit.record("replaced", f"app/{app['name']}", audit.app_diff(before, app))
    return app, created


def _refuse_preview_names(name: str) -> None:
    """A new app whose names would be another app's preview's (app x's preview 1 was named x-pr-1 before
    the "." separator, and those containers, networks and volumes may still run): refused, saying why."""
    lookalike = apps.preview_lookalike(name)
    if lookalike and _exists(lookalike[0]):
        raise Conflict(f"app name {name} reads as preview #{lookalike[1]} of app {lookalike[0]}: its network, "
                       f"database and volume (tahobuddy-{name}...) would be named like that preview's; choose a "
                       "name that does not end in -pr-NUMBER")
    taken = [row.name for row in AppModel.scan(AppModel.name.startswith(f"{name}-pr-"))
             if (apps.preview_lookalike(row.name) or ("", 0))[0] == name]
    if taken:
        raise Conflict(f"app {taken[0]} exists, and its name reads as a preview of an app named {name}: their "
                       f"networks, databases and volumes would be named alike; choose another name for this app")


def _exists(name: str) -> bool:
    try:
        AppModel.get(name)
        return True
    except DoesNotExist:
        return False


def get(name: str) -> dict:
    try:
        return AppModel.get(name).app
    except DoesNotExist as exc:
        raise NotFound(f"no app named {name!r}; see `tahobuddy apps`") from exc


def listing() -> list[dict]:
    return sorted((row.app for row in AppModel.scan()), key=lambda a: a["name"])


def delete(name: str) -> None:
    try:
        row = AppModel.get(name)
    except DoesNotExist as exc:
        raise NotFound(f"no app named {name!r}") from exc
    row.delete()
    audit.record("deleted", f"app/{name}", {"rules": {"removed": [r["name"] for r in row.app.get("rules", [])]}})


def for_repository(keys: set[str]) -> list[dict]:
    found: dict[str, dict] = {}
    for key in sorted(keys):
        for row in AppModel.by_repo.query(key):
            found[row.name] = row.app
    return [found[n] for n in sorted(found)]
