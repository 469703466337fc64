"""Removing pull-request previews from this machine: a teardown job removes one; the reconciler
removes every preview the store no longer keeps (closed, expired, or never known), because a home
server has little disk and leftover preview databases are what fills it.

Everything of a preview carries the labels `tahobuddy.app`, `tahobuddy.preview` and
`tahobuddy.installation` (container, image, database volume, network); its route is `APP#pr-N` in the
agent's routes.json. Their names use the separator "." (`tahobuddy-APP.pr-N`, docker_convert.preview_name),
which app names cannot contain; what was made before was named `tahobuddy-APP-pr-N`, and is found by its
labels all the same. One Docker Engine may serve two Tahobuddy installations (a staging and a
production stack on one home server), and each one's store knows only its own previews: so teardown
and the reconciler touch only what carries their own installation's label.

What was made before that label existed carries none, and nobody can tell whose it is: it is left
alone, never removed, and the reconciler names it once per agent process so a user can remove it by
hand (`docker rm -f NAME`, `docker volume rm NAME`...). Removing it would risk another installation's
live preview; leaving it costs some disk until someone looks.
"""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

from docker.errors import APIError, NotFound

from . import docker_convert as convert
from .base import Log
from .proxy import Caddy, ProxyError

# (app, number) of unlabelled previews already named in this agent's log: said once, not every round
_told: set[tuple[str, int]] = set()
_told_lock = threading.Lock()


def remove(client, caddy: Caddy | None, workdir: Path, app: str, number: int, installation: str,
           log: Log) -> list[str]:
    """Remove container(s), route, images, volume and network of preview `number` of `app` made by
    `installation`; safe twice. Returns what it removed, in words."""
    if not installation:
        raise ValueError("an installation id is needed to remove a preview (AgentConfig.resolved_installation)")
    removed, labels = [], {"label": convert.preview_filter(app, number, installation)}
    for c in client.containers.list(all=True, filters=labels):
        c.remove(force=True, v=True)
        removed.append(f"container {c.name}")
    key = convert.route_key(app, number)
    if caddy is not None and key in caddy.routes():
        try:
            caddy.apply({key: None})
            removed.append(f"route {key}")
        except ProxyError as exc:
            log(f"could not remove route {key}: {exc}")
    for image in client.images.list(filters=labels):
        try:
            client.images.remove(image.id, force=True)
            removed.append(f"image {image.id[:19]}")
        except (APIError, NotFound) as exc:
            log(f"could not remove image {image.id[:19]}: {exc}")
    for volume in client.volumes.list(filters=labels):
        try:
            volume.remove(force=True)
            removed.append(f"volume {volume.name}")
        except (APIError, NotFound) as exc:
            log(f"could not remove volume {volume.name}: {exc}")
    for net in client.networks.list(filters=labels):  # by labels: a network named before the "." separator too
        try:
            net.remove()
            removed.append(f"network {net.name}")
        except (APIError, NotFound) as exc:
            log(f"could not remove network {net.name}: {exc}")
    shutil.rmtree(password_dir(workdir, app, number), ignore_errors=True)
    for what in removed:
        log(f"removed {what}")
    return removed


def password_dir(workdir: Path, app: str, number: int) -> Path:
    return workdir / "apps" / app / f"pr-{number}"


def _preview_things(client) -> list[tuple[str, dict]]:
    """(a name to show, labels) of every container, image, volume and network marked as a preview."""
    only = {"label": "tahobuddy.preview"}
    out = [(f"container {c.name}", c.labels) for c in client.containers.list(all=True, filters=only)]
    out += [(f"image {i.id[:19]}", i.labels) for i in client.images.list(filters=only)]
    # volumes and networks keep their labels in their attrs
    out += [(f"volume {v.name}", v.attrs.get("Labels")) for v in client.volumes.list(filters=only)]
    out += [(f"network {n.name}", n.attrs.get("Labels")) for n in client.networks.list(filters=only)]
    return out


def found(client, caddy: Caddy | None, installation: str) -> tuple[set[tuple[str, int]], dict]:
    """Every (app, pull request) of `installation` that has anything on this machine (its routes are the
    agent's own), and the things of previews that carry no installation label, by (app, number)."""
    own: set[tuple[str, int]] = set()
    unlabelled: dict[tuple[str, int], list[str]] = {}
    for name, labels in _preview_things(client):
        labels = labels or {}
        number = labels.get("tahobuddy.preview", "")
        if not (labels.get("tahobuddy.app") and number.isdigit()):
            continue
        key, whose = (labels["tahobuddy.app"], int(number)), convert.owner(labels, installation)
        if whose == "own":
            own.add(key)
        elif whose == "unlabelled":
            unlabelled.setdefault(key, []).append(name)
    for key in (caddy.routes() if caddy is not None else {}):
        app, sep, number = key.rpartition("#pr-")
        if sep and number.isdigit():
            own.add((app, int(number)))
    return own, unlabelled


def reconcile(client, caddy: Caddy | None, workdir: Path, kept: set[tuple[str, int]], installation: str,
              log: Log) -> list[str]:
    """Remove every preview of `installation` on this machine that the store does not keep; returns what
    went. Other installations' previews are not looked at; unlabelled ones are named once, never removed."""
    own, unlabelled = found(client, caddy, installation)
    removed = []
    for app, number in sorted(own - kept):
        removed += [f"{app} #{number}: {what}" for what in
                    remove(client, caddy, workdir, app, number, installation, lambda _: None)]
    for line in removed:
        log(f"reconciler removed {line}")
    with _told_lock:
        new = sorted(set(unlabelled) - _told)
        _told.update(new)
    for app, number in new:
        log(f"reconciler left alone {app} #{number}: {', '.join(sorted(unlabelled[(app, number)]))}: made before "
            f"previews carried a {convert.INSTALLATION} label, so it may be another installation's; remove it by "
            "hand if it is this one's and the pull request is closed")
    return removed
