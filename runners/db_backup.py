"""Backups of an app's database, each one proven to restore; and a restore.

backup():  counts (rows per table, or keys) and the dump, both made in the app's database container by
           the engine's own tools (runners/db_engines.py; for Postgres both in one snapshot); the dump
           streams from `docker exec` to the destination (runners/backup_store.py) a chunk at a time.
           Then verify(), then retention.
verify():  a scratch container of the same image, on no network, gets the dump streamed back from the
           destination, restores it and counts again: `verified` when every count matches the one taken
           at dump time, else `failed: why`. A dump cut short fails its restore or its counts.
restore(): the dump is loaded into a new volume by a scratch container; then the database container is
           stopped and made again on the new volume (the app's only pause, measured). The old volume is
           kept, and named in the log, until its owner removes it.
"""
from __future__ import annotations

import tarfile
import time
from typing import Iterator

from docker.errors import APIError, NotFound

from . import db_engines as engines
from .base import Log

READY_SECONDS = 120


class BackupError(Exception):
    """A step of a backup or restore failed; the message says which and why."""


def stamp(at: float | None = None) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at or time.time()))


def _tail(data: bytes | None, limit: int = 400) -> str:
    return (data or b"").decode(errors="replace").strip()[-limit:]


def run_script(container, script: str) -> str:
    code, (out, err) = container.exec_run(["sh", "-c", script], demux=True)
    if code != 0:
        raise BackupError(f"exit {code}: {_tail(err) or _tail(out)}")
    return (out or b"").decode(errors="replace")


class ExecStream:
    """The stdout of `sh -c script` in a container, as chunks; at its end the exit code is checked, so a
    dump that failed half way raises instead of passing for a short one."""

    def __init__(self, client, container, script: str, what: str):
        self.client, self.what, self.err = client, what, b""
        self.exec_id = client.api.exec_create(container.id, ["sh", "-c", script], stdout=True, stderr=True)["Id"]

    def __iter__(self) -> Iterator[bytes]:
        for out, err in self.client.api.exec_start(self.exec_id, stream=True, demux=True):
            if err:
                self.err = (self.err + err)[-4000:]
            if out:
                yield out
        code = self.client.api.exec_inspect(self.exec_id)["ExitCode"]
        if code != 0:
            raise BackupError(f"{self.what} exited {code}: {_tail(self.err)}")


def tar_stream(name: str, size: int, chunks, mode: int = 0o644) -> Iterator[bytes]:
    """One file as a tar stream, for `put_archive`, without holding it: header, body, padding."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, int(time.time())
    yield info.tobuf(tarfile.GNU_FORMAT)
    sent = 0
    for chunk in chunks:
        sent += len(chunk)
        yield chunk
    if sent != size:
        raise BackupError(f"{name}: read {sent} of {size} bytes")
    yield b"\0" * ((512 - size % 512) % 512) + b"\0" * 1024


def to_delete(records: list[dict], keep: int) -> list[str]:
    """Retention: the oldest beyond `keep`, never the newest verified one (even when it is older)."""
    ordered = sorted(records, key=lambda r: r["name"])
    verified = [r for r in ordered if r.get("verified") == "verified"]
    last_verified = verified[-1]["name"] if verified else None
    return [r["name"] for r in ordered[:max(0, len(ordered) - keep)] if r["name"] != last_verified]


def backup(client, app: str, kind: str, container_name: str, store, keep: int, log: Log,
           at: float | None = None) -> dict:
    container = client.containers.get(container_name)
    image = container.attrs["Config"]["Image"]
    name = f"{app}-{stamp(at)}.{engines.SUFFIX[kind]}"
    started, counted = time.monotonic(), f"/tmp/tahobuddy-counts-{name}"
    if kind not in engines.COUNTS_IN_DUMP:
        run_script(container, f"{{ {engines.COUNT[kind]}; }} >{counted}")
    size = store.put(name, ExecStream(client, container, engines.dump_script(kind, counted), f"the {kind} dump"))
    counts = engines.parse_counts(run_script(container, f"cat {counted} && rm -f {counted}"))
    log(f"backup {name}: {sum(counts.values())} {'keys' if kind == 'redis' else 'rows'} in {len(counts)} "
        f"{'database(s)' if kind == 'redis' else 'table(s)'} at dump time")
    record = {"name": name, "app": app, "kind": kind, "image": image, "bytes": size, "counts": counts,
              "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at or time.time())),
              "dump_seconds": round(time.monotonic() - started, 2)}
    log(f"backup {name}: {size} bytes dumped and stored in {record['dump_seconds']} s; restore-testing it")
    record.update(verify(client, store, record, log))
    store.put_record(name, record)
    return {**record, "removed": apply_retention(store, keep, log)}


def apply_retention(store, keep: int, log: Log) -> list[str]:
    removed = to_delete(store.records(), keep)
    for old in removed:
        store.delete(old)
        log(f"retention: removed {old} (keep {keep}; the last verified backup is always kept)")
    return removed


def verify(client, store, record: dict, log: Log) -> dict:
    """{verified: 'verified' | 'failed: why', verify_seconds}; the scratch container is always removed."""
    started, kind = time.monotonic(), record["kind"]
    scratch = client.containers.create(record["image"], environment=engines.scratch_env(kind, record["app"]),
                                       network_mode="none", labels={"tahobuddy.app": record["app"],
                                                                    "tahobuddy.role": "backup-verify"})
    try:
        _load(scratch, store, record["name"], kind)
        run_script(scratch, engines.restore_script(kind, f"/tmp/{record['name']}"))
        found = engines.parse_counts(run_script(scratch, engines.COUNT[kind]))
        diff = engines.compare(record["counts"], found)
        verdict = f"failed: counts differ ({diff})" if diff else "verified"
    except (BackupError, APIError) as exc:
        verdict = f"failed: {exc}"
    finally:
        scratch.remove(force=True, v=True)
    seconds = round(time.monotonic() - started, 2)
    log(f"backup {record['name']}: {verdict} ({seconds} s)")
    return {"verified": verdict, "verify_seconds": seconds}


def _load(container, store, name: str, kind: str) -> None:
    """The dump streamed into the (created, not started) container; the server started and ready."""
    size, chunks = store.get(name)
    if kind == "redis":  # loaded by the server as it starts
        container.put_archive(engines.DATA["redis"], tar_stream("dump.rdb", size, chunks))
    else:
        container.put_archive("/tmp", tar_stream(name, size, chunks))
    container.start()
    wait_ready(container, kind)


def wait_ready(container, kind: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while True:
        container.reload()
        if container.status != "running":
            raise BackupError(f"the {kind} server stopped at start ({container.status}): "
                              f"{_tail(container.logs(tail=5), 600)}")
        if container.exec_run(["sh", "-c", engines.READY[kind]]).exit_code == 0:
            return
        if time.monotonic() > deadline:
            raise BackupError(f"the {kind} server was not ready within {READY_SECONDS} s")
        time.sleep(0.2)


def restore(client, kind: str, container_name: str, store, name: str, log: Log) -> dict:
    """Load backup `name` into a new volume, then swap the database container onto it."""
    record = next((r for r in store.records() if r["name"] == name), None)
    if record is None:
        raise BackupError(f"no backup named {name} at this destination")
    if record.get("verified") != "verified":
        log(f"warning: backup {name} was not verified ({record.get('verified', 'never checked')}); restoring it "
            "anyway, as asked")
    old = client.containers.get(container_name)
    config, host = old.attrs["Config"], old.attrs["HostConfig"]
    mount = next(m for m in old.attrs["Mounts"] if m["Destination"] == engines.DATA[kind])
    env = dict(item.split("=", 1) for item in config["Env"])
    volume = f"{container_name}-data-{stamp()}"
    labels = client.volumes.get(mount["Name"]).attrs.get("Labels") or {}
    client.volumes.create(volume, labels=labels)
    binds = {volume: {"bind": engines.DATA[kind], "mode": "rw"}}
    started = time.monotonic()
    scratch = client.containers.create(config["Image"], environment=env, volumes=binds, network_mode="none",
                                       labels={**config["Labels"], "tahobuddy.role": "restore"})
    try:
        _load(scratch, store, name, kind)
        run_script(scratch, engines.restore_script(kind, f"/tmp/{name}"))
        scratch.stop(timeout=60)
    except (BackupError, APIError) as exc:
        scratch.remove(force=True)
        client.volumes.get(volume).remove(force=True)
        raise BackupError(f"restore of {name} into a new volume failed, nothing was changed: {exc}") from exc
    scratch.remove(force=True)
    loaded = round(time.monotonic() - started, 2)
    paused_at = time.monotonic()  # the app's database is down from here until the new one answers
    old.stop(timeout=60)
    old.rename(f"{container_name}-replaced-{stamp()}")
    network = next(iter(old.attrs["NetworkSettings"]["Networks"]))
    try:
        new = client.containers.run(config["Image"], name=container_name, detach=True, environment=env,
                                    labels=config["Labels"], volumes=binds, network=network,
                                    restart_policy=host.get("RestartPolicy") or {"Name": "unless-stopped"})
        wait_ready(new, kind)
    except (BackupError, APIError, NotFound) as exc:
        _put_back(client, old, container_name)
        raise BackupError(f"the restored database did not start; the old one runs again: {exc}") from exc
    paused = round(time.monotonic() - paused_at, 2)
    old.remove()
    log(f"restored {name}: loaded in {loaded} s; the app's database was down {paused} s while it was swapped; "
        f"the data from before is kept in volume {mount['Name']} (remove it with `docker volume rm`)")
    return {"restored": name, "load_seconds": loaded, "paused_seconds": paused, "volume": volume,
            "previous_volume": mount["Name"]}


def _put_back(client, old, name: str) -> None:
    try:
        client.containers.get(name).remove(force=True)
    except NotFound:
        pass
    old.rename(name)
    old.start()
