"""Backups against real database servers (tests/conftest.py `db_images`), to a directory and to moto's
S3: each one restore-tested in a scratch container, a dump cut short caught, a restore that brings back
rows deleted after the backup, retention keeping the last verified one."""
import os
import time

import boto3
import docker
import pytest

from runners import db_backup
from runners import docker_convert as convert
from runners.backup_store import open_store
from tests.helpers import unique
from tests.realparts import remove_app_resources

pytestmark = pytest.mark.functional

SEED = {"postgres": "create table notes (id serial primary key, body text); "
                    "insert into notes (body) select 'note ' || g from generate_series(1, 500) g; "
                    "create table tags (name text); insert into tags values ('a'), ('b');",
        "mysql": "create table notes (id int auto_increment primary key, body text); "
                 "insert into notes (body) values ('one'), ('two'), ('three'); create table tags (name text);",
        "redis": ""}


def sql(container, kind: str, statement: str) -> str:
    argv = {"postgres": ["psql", "-v", "ON_ERROR_STOP=1", "-qAt", "-U", "tahobuddy", "-d",
                         container.labels["tahobuddy.app"], "-c", statement],
            "mysql": ["sh", "-c", 'MYSQL_PWD="$MYSQL_PASSWORD" mariadb -N -u tahobuddy "$MYSQL_DATABASE" -e "$0"',
                      statement],
            "redis": ["redis-cli", *statement.split()]}[kind]
    code, out = container.exec_run(argv)
    assert code == 0, out.decode()
    return out.decode().strip()


@pytest.fixture
def database(db_images):
    """An app's database container, made as the docker runner makes it, ready and seeded."""
    client, made = docker.from_env(), []

    def make(kind: str):
        app = unique(f"bk{kind}")
        made.append(app)
        client.networks.create(convert.network(app), driver="bridge")
        client.containers.run(**convert.database_kwargs(app, kind, db_images[kind], "pw-" + app))
        container = client.containers.get(convert.db_name(app))
        db_backup.wait_ready(container, kind)
        if kind == "redis":
            for i in range(40):
                sql(container, kind, f"set key:{i} {i}")
        else:
            sql(container, kind, SEED[kind])
        return app, container
    yield make
    for app in made:
        remove_app_resources(app)


@pytest.fixture
def bucket(moto):
    name = unique("backups")
    boto3.client("s3", endpoint_url=moto).create_bucket(Bucket=name)
    return name


def test_a_postgres_backup_to_a_directory_is_verified_and_a_dump_cut_short_is_caught(database, tmp_path):
    app, container = database("postgres")
    store, lines = open_store(f"dir:{tmp_path}/backups"), []
    record = db_backup.backup(docker.from_env(), app, "postgres", container.name, store, 7, lines.append)
    assert record["verified"] == "verified", lines
    assert record["counts"] == {"public.notes": 500, "public.tags": 2}
    assert record["bytes"] == os.path.getsize(tmp_path / "backups" / record["name"]) > 0
    assert [r["name"] for r in store.records()] == [record["name"]]
    os.truncate(tmp_path / "backups" / record["name"], record["bytes"] // 2)
    cut = db_backup.verify(docker.from_env(), store, {**record, "bytes": record["bytes"] // 2}, lines.append)
    assert cut["verified"].startswith("failed: ") and "pg_restore" in cut["verified"], cut
    assert not docker.from_env().containers.list(all=True, filters={"label": [f"tahobuddy.app={app}",
                                                                            "tahobuddy.role=backup-verify"]})


def test_postgres_rows_written_during_the_backup_do_not_fail_its_check(database, tmp_path):
    """The counts and the dump come from one snapshot: an app that keeps writing gets a verified backup."""
    app, container = database("postgres")
    writer = ("do $$ begin for i in 1..30000 loop insert into notes (body) values ('w'); commit; "
              "perform pg_sleep(0.001); end loop; end $$")
    container.exec_run(["psql", "-U", "tahobuddy", "-d", app, "-c", writer], detach=True)
    try:
        wait_rows = time.monotonic() + 30
        while int(sql(container, "postgres", "select count(*) from notes")) < 600:
            assert time.monotonic() < wait_rows, "the writer never started"
            time.sleep(0.1)
        store, lines = open_store(f"dir:{tmp_path}/backups"), []
        record = db_backup.backup(docker.from_env(), app, "postgres", container.name, store, 7, lines.append)
        after = int(sql(container, "postgres", "select count(*) from notes"))
    finally:
        sql(container, "postgres", "select pg_cancel_backend(pid) from pg_stat_activity where query like 'do $$%'")
    assert record["verified"] == "verified", lines
    assert 600 <= record["counts"]["public.notes"] < after  # rows went in before, during and after the dump


@pytest.mark.parametrize("kind", ["mysql", "redis"])
def test_mariadb_and_redis_backups_stream_to_s3_are_encrypted_and_verified_and_cut_ones_fail(
        database, bucket, moto, kind):
    app, container = database(kind)
    store, lines = open_store(f"s3://{bucket}/{app}", endpoint=moto), []
    record = db_backup.backup(docker.from_env(), app, kind, container.name, store, 7, lines.append)
    assert record["verified"] == "verified", lines
    assert record["counts"] == ({"notes": 3, "tags": 0} if kind == "mysql" else {"db0": 40})
    s3 = boto3.client("s3", endpoint_url=moto)
    head = s3.head_object(Bucket=bucket, Key=f"{app}/{record['name']}")
    assert head["ContentLength"] == record["bytes"] and head["ServerSideEncryption"] == "AES256"
    body = s3.get_object(Bucket=bucket, Key=f"{app}/{record['name']}")["Body"].read()
    s3.put_object(Bucket=bucket, Key=f"{app}/{record['name']}", Body=body[:len(body) - 40])  # its end lost
    cut = db_backup.verify(docker.from_env(), store, record, lines.append)
    assert cut["verified"].startswith("failed: "), cut


def test_a_restore_brings_back_rows_deleted_after_the_backup_and_says_how_long_the_database_was_down(
        database, tmp_path):
    app, container = database("postgres")
    client, store, lines = docker.from_env(), open_store(f"dir:{tmp_path}/backups"), []
    record = db_backup.backup(client, app, "postgres", container.name, store, 7, lines.append)
    assert record["verified"] == "verified", lines
    sql(container, "postgres", "delete from notes where id > 10")
    done = db_backup.restore(client, "postgres", container.name, store, record["name"], lines.append)
    now = client.containers.get(convert.db_name(app))
    assert now.id != container.id and now.name == container.name
    assert sql(now, "postgres", "select count(*) from notes") == "500"
    assert 0 < done["paused_seconds"] < 60 and any("was down" in line for line in lines), lines
    assert [m["Name"] for m in now.attrs["Mounts"]] == [done["volume"]]
    assert client.volumes.get(done["previous_volume"])  # the data from before the restore is kept
    # the app reaches it by the same name on the same network, with the same password
    assert now.attrs["Config"]["Env"] == container.attrs["Config"]["Env"]
    assert list(now.attrs["NetworkSettings"]["Networks"]) == [convert.network(app)]


def test_retention_keeps_the_last_verified_backup_however_old(database, tmp_path):
    app, container = database("redis")
    client, store, lines = docker.from_env(), open_store(f"dir:{tmp_path}/backups"), []
    at = time.time() - 60

    def backup(offset: int, broken: bool = False) -> dict:
        record = db_backup.backup(client, app, "redis", container.name, store, 5, lines.append, at=at + offset)
        assert record["verified"] == "verified", lines
        if broken:  # the file lost its end after the check: the next check says so
            os.truncate(tmp_path / "backups" / record["name"], record["bytes"] - 20)
            record.update(db_backup.verify(client, store, record, lines.append))
            assert record["verified"].startswith("failed: "), record
            store.put_record(record["name"], record)
        return record

    first, second, third = backup(0), backup(1, broken=True), backup(2, broken=True)
    assert db_backup.apply_retention(store, 2, lines.append) == []  # the first is the last verified one
    assert [r["name"] for r in store.records()] == [first["name"], second["name"], third["name"]]
    fourth = backup(3)
    assert db_backup.apply_retention(store, 2, lines.append) == [first["name"], second["name"]]
    assert [r["name"] for r in store.records()] == [third["name"], fourth["name"]]
    assert sorted(os.listdir(tmp_path / "backups")) == sorted(
        [third["name"], third["name"] + ".json", fourth["name"], fourth["name"] + ".json"])


def test_a_schedule_queues_one_backup_job_per_slot_however_often_the_sweeper_ticks(moto):
    from functions.dispatch import backups
    from functions.store import app_store, jobs
    name = unique("sched")
    app_store.save({"name": name, "repository": f"https://github.com/o/{name}.git",
                    "database": {"kind": "redis", "backup": {"schedule": "*/5 * * * *", "to": "dir:/srv/b"}},
                    "rules": [{"name": "rel", "match": {"tag": "v*"}, "target": {"type": "docker"}}]}, name=name)
    try:
        slot = (time.time() // 300) * 300 - 600  # a slot ten minutes ago: minute 0 of five
        mine = lambda ids: [i for i in ids if jobs.get(i).app == name]  # noqa: E731
        first = mine(backups.scheduled(slot + 30))
        assert len(first) == 1 and mine(backups.scheduled(slot + 90)) == []   # the same slot: no second job
        job = jobs.get(first[0])
        assert (job.trigger, job.group, job.target["backup"]["to"]) == ("backup", f"{name}.database", "dir:/srv/b")
        assert len(mine(backups.scheduled(slot + 300))) == 1                  # the next slot
    finally:
        app_store.delete(name)


def test_a_restore_asks_for_yes_and_warns_before_using_a_backup_that_failed_its_check(api):
    import types

    import requests

    from functions.store import backups
    name = unique("warn")
    app = {"name": name, "repository": f"https://github.com/o/{name}.git",
           "database": {"kind": "postgres", "backup": {"to": "dir:/srv/b"}},
           "rules": [{"name": "rel", "match": {"tag": "v*"}, "target": {"type": "docker"}}]}
    assert requests.put(f"{api.url}/api/v1/apps/{name}", json=app, headers=api.headers(), timeout=30).status_code == 201
    try:
        backups.record(types.SimpleNamespace(app=name, id="j1"), "a1", "dir:/srv/b",
                       {"name": f"{name}-20261205T030000Z.pgdump", "verified": "failed: counts differ (t: 5, 4)",
                        "kind": "postgres", "bytes": 10, "counts": {"t": 5}})
        listed = requests.get(f"{api.url}/api/v1/apps/{name}/backups", headers=api.headers(), timeout=30).json()
        assert [(b["name"], b["verified"]) for b in listed["backups"]] == [
            (f"{name}-20261205T030000Z.pgdump", "failed: counts differ (t: 5, 4)")]
        url, body = f"{api.url}/api/v1/apps/{name}/restore", {"from": f"{name}-20261205T030000Z.pgdump"}
        r = requests.post(url, json=body, headers=api.headers(), timeout=30)
        assert r.status_code == 400 and "yes" in r.json()["Message"], r.text
        r = requests.post(url, json={"from": "nope", "yes": True}, headers=api.headers(), timeout=30)
        assert r.status_code == 404, r.text
        r = requests.post(url, json={**body, "yes": True}, headers=api.headers(), timeout=30)
        assert r.status_code == 201 and "was not verified (failed: counts differ" in r.json()["warning"], r.text
        job = r.json()["jobs"][0]
        assert (job["trigger"], job["ref"], job["group"]) == ("restore", body["from"], f"{name}.database")
    finally:
        requests.delete(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30)
