"""Removing pull-request previews from this machine: a teardown job removes one; the reconciler
removes every preview the store no longer keeps (closed, expired, or never known), because a home
server has little disk and leftover preview databases are what fills it.

Everything of a preview carries the labels `tahobuddy.app` and `tahobuddy.preview` (container, image,
database volume, network); its route is `APP#pr-N` in the agent's routes.json.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from docker.errors import APIError, NotFound

from . import docker_convert as convert
from .base import Log
from .proxy import Caddy, ProxyError


def remove(client, caddy: Caddy | None, workdir: Path, app: str, number: int, log: Log) -> list[str]:
    """Remove container(s), route, images, volume and network of preview `number` of `app`; safe twice.
    Returns what it removed, in words."""
    removed, labels = [], {"label": convert.preview_filter(app, number)}
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
    for net in client.networks.list(names=[convert.network(app, number)]):
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


def found(client, caddy: Caddy | None) -> set[tuple[str, int]]:
    """Every (app, pull request) that has anything on this machine."""
    out: set[tuple[str, int]] = set()
    things = [*client.containers.list(all=True, filters={"label": "tahobuddy.preview"}),
              *client.images.list(filters={"label": "tahobuddy.preview"}),
              *client.volumes.list(filters={"label": "tahobuddy.preview"}),
              *client.networks.list(filters={"label": "tahobuddy.preview"})]
    for thing in things:
        # containers and images have `labels`; volumes and networks keep them in their attrs
        labels = (thing.labels if hasattr(type(thing), "labels") else thing.attrs.get("Labels")) or {}
        number = labels.get("tahobuddy.preview", "")
        if labels.get("tahobuddy.app") and number.isdigit():
            out.add((labels["tahobuddy.app"], int(number)))
    for key in (caddy.routes() if caddy is not None else {}):
        app, sep, number = key.rpartition("#pr-")
        if sep and number.isdigit():
            out.add((app, int(number)))
    return out


def reconcile(client, caddy: Caddy | None, workdir: Path, kept: set[tuple[str, int]], log: Log) -> list[str]:
    """Remove every preview on this machine that the store does not keep; returns what went."""
    removed = []
    for app, number in sorted(found(client, caddy) - kept):
        removed += [f"{app} #{number}: {what}" for what in remove(client, caddy, workdir, app, number, lambda _: None)]
    for line in removed:
        log(f"reconciler removed {line}")
    return removed
