"""Backup figures for a Postgres database of about 100 MB made here (one table, 100-byte rows):
seconds to count and dump it (streamed straight to the destination: dump and upload are one pass),
seconds to restore-test it in a scratch container, the dump's size, and this process's peak memory
(the dump passes through it a chunk at a time), to a directory and to the embedded S3 (moto). Uses the database image `make test` uses (local/db_images.py).
"""
from __future__ import annotations

import json
import resource
import time

import boto3
import docker

from harness import AWS_PORT, WORK, Daemons, start_aws  # noqa: F401  (sets the env first)

from local import db_images  # noqa: E402
from runners import db_backup  # noqa: E402
from runners import docker_convert as convert  # noqa: E402
from runners.backup_store import open_store  # noqa: E402

ROWS = 580_000  # ~175 bytes on disk a row with its index: ~100 MB


def max_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> dict:
    image = db_images.ensure(log=lambda line: None)["postgres"]
    client, app = docker.from_env(), f"bench-{int(time.time())}"
    daemons = Daemons()
    client.networks.create(convert.network(app), driver="bridge")
    try:
        start_aws(daemons)
        client.containers.run(**convert.database_kwargs(app, "postgres", image, "bench"))
        db = client.containers.get(convert.db_name(app))
        db_backup.wait_ready(db, "postgres")
        started = time.monotonic()
        code, out = db.exec_run(["psql", "-U", "tahobuddy", "-d", app, "-qAt", "-c",
                                 "create table rows (id bigint primary key, body text); insert into rows "
                                 f"select g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) "
                                 f"from generate_series(1, {ROWS}) g; "
                                 f"select pg_database_size('{app}')"])
        assert code == 0, out.decode()
        result = {"peak_rss_mb_before": max_rss_mb(), "rows": ROWS, "database_bytes": int(out.decode().split()[-1]),
                  "fill_seconds": round(time.monotonic() - started, 1)}
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{AWS_PORT}").create_bucket(Bucket="bench-backups")
        for where, to in (("dir", f"dir:{WORK}/backups"), ("s3", "s3://bench-backups/pg")):
            store = open_store(to, f"http://127.0.0.1:{AWS_PORT}")
            record = db_backup.backup(client, app, "postgres", db.name, store, 3, lambda line: None)
            assert record["verified"] == "verified", record
            result[where] = {**{k: record[k] for k in ("bytes", "dump_seconds", "verify_seconds")},
                             "peak_rss_mb_so_far": max_rss_mb()}
        return result
    finally:
        for c in client.containers.list(all=True, filters={"label": f"tahobuddy.app={app}"}):
            c.remove(force=True, v=True)
        for v in client.volumes.list(filters={"name": f"tahobuddy-{app}-"}):
            v.remove(force=True)
        client.networks.get(convert.network(app)).remove()
        daemons.stop_all()


if __name__ == "__main__":
    print(json.dumps(main()))
