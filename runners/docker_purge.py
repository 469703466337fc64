"""`tahobuddy apps --delete NAME --purge`: a `purge` job removes everything the app's docker target made on
this machine: its containers (the app's, its database's, its previews'), its routes, its named volumes and
database volume, its images, its networks and its database password. Nothing else ever removes a volume:
deploys, rollbacks and retiring a container keep them.

What another installation sharing this Docker Engine stamped (`tahobuddy.installation`) is left alone, as
preview teardown does (runners/docker_previews.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

from docker.errors import APIError, NotFound

from . import docker_convert as convert
from .base import Log
from .proxy import Caddy, ProxyError


def _mine(labels: dict | None, installation: str) -> bool:
    return convert.owner(labels, installation) != "other"


def purge(client, caddy: Caddy | None, workdir: Path, app: str, installation: str, log: Log) -> list[str]:
    """Remove what `app` has on this machine; safe twice. Returns what went, in words."""
    removed, only = [], {"label": f"tahobuddy.app={app}"}
    for c in client.containers.list(all=True, filters=only):
        if _mine(c.labels, installation):
            c.remove(force=True, v=True)
            removed.append(f"container {c.name}")
    if caddy is not None:
        keys = [k for k in caddy.routes() if k == app or k.startswith(f"{app}#pr-")]
        try:
            if keys:
                caddy.apply({k: None for k in keys})
                removed += [f"route {k}" for k in keys]
        except ProxyError as exc:
            log(f"could not remove route(s) {', '.join(keys)}: {exc}")
    volumes = [v for v in client.volumes.list(filters=only) if _mine(v.attrs.get("Labels"), installation)]
    try:  # the app's database volume is made by `docker run`, without labels
        volumes.append(client.volumes.get(convert.db_volume(app)))
    except NotFound:
        pass
    for volume in volumes:
        try:
            volume.remove(force=True)
            removed.append(f"volume {volume.name}")
        except (APIError, NotFound) as exc:
            log(f"could not remove volume {volume.name}: {exc}")
    for image in client.images.list(filters=only):
        if _mine(image.labels, installation):
            try:
                client.images.remove(image.id, force=True)
                removed.append(f"image {image.id[:19]}")
            except (APIError, NotFound) as exc:
                log(f"could not remove image {image.id[:19]}: {exc}")
    for net in client.networks.list(filters=only):  # the app's and its previews' (labelled when made)
        if _mine(net.attrs.get("Labels"), installation):
            try:
                net.remove()
                removed.append(f"network {net.name}")
            except (APIError, NotFound) as exc:
                log(f"could not remove network {net.name}: {exc}")
    shutil.rmtree(workdir / "apps" / app, ignore_errors=True)
    for what in removed:
        log(f"removed {what}")
    return removed
