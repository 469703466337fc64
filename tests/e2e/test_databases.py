"""An app's database as a real server (tests/conftest.py `db_images`: the official images, or where none
can be pulled the ones local/db-images.sh makes from Debian): the app reaches it through DATABASE_URL,
its migration runs there, its data outlives deploys and rollbacks, and a preview's database is its own."""
import json
import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest
import requests

from runners.docker_convert import preview_name
from tests.e2e.test_previews import Site, examples  # noqa: F401  (the fixture GitHub's payloads come from)
from tests.e2e.test_tag_to_serving import deploy
from tests.helpers import unique
from tests.realparts import BASE_IMAGE, AgentProcess, GitRepo, db_env, job_log, remove_app_resources, wait_job

pytestmark = pytest.mark.e2e

# The app is the database image itself (its client is there) plus busybox's httpd for the health check
# and the page: the page shows what the app read back through DATABASE_URL after its migration.
APP = """FROM {image}
COPY --from={busybox} /bin/busybox /usr/local/bin/busybox
COPY start.sh migrate.sql /app/
CMD ["sh", "/app/start.sh"]
"""
POSTGRES_START = """set -e
until psql "$DATABASE_URL" -qAtc 'select 1' >/dev/null 2>&1; do sleep 0.2; done
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qf /app/migrate.sql
mkdir -p /www
psql "$DATABASE_URL" -qAtc "select string_agg(version, ',' order by id) from releases" >/www/index.html
exec busybox httpd -f -p 8080 -h /www
"""
# mysql://USER:PASSWORD@HOST:PORT/NAME taken apart in the shell
MARIADB_START = """set -e
rest=${DATABASE_URL#mysql://}; creds=${rest%%@*}; hostport=${rest#*@}; hostport=${hostport%%/*}
export MYSQL_PWD=${creds#*:}
sql() { mariadb -h "${hostport%:*}" -P "${hostport#*:}" -u "${creds%%:*}" -N "${rest##*/}" "$@"; }
until sql -e 'select 1' >/dev/null 2>&1; do sleep 0.2; done
sql </app/migrate.sql
mkdir -p /www
sql -e "select group_concat(version order by id) from releases" >/www/index.html
exec busybox httpd -f -p 8080 -h /www
"""
REDIS_START = """set -e
until redis-cli -u "$DATABASE_URL" ping >/dev/null 2>&1; do sleep 0.2; done
mkdir -p /www
redis-cli -u "$DATABASE_URL" rpush releases "$(cat /app/migrate.sql)" >/dev/null
redis-cli -u "$DATABASE_URL" lrange releases 0 -1 | paste -sd, >/www/index.html
exec busybox httpd -f -p 8080 -h /www
"""
RELEASE_SQL = {"postgres": "CREATE TABLE IF NOT EXISTS releases (id serial PRIMARY KEY, version text NOT NULL);\n"
                           "INSERT INTO releases (version) VALUES ('{version}');\n",
               "mysql": "CREATE TABLE IF NOT EXISTS releases (id int AUTO_INCREMENT PRIMARY KEY, version text);\n"
                        "INSERT INTO releases (version) VALUES ('{version}');\n",
               "redis": "{version}"}
START = {"postgres": POSTGRES_START, "mysql": MARIADB_START, "redis": REDIS_START}


def app_files(images: dict, kind: str, version: str) -> dict:
    return {"Dockerfile": APP.format(image=images[kind], busybox=BASE_IMAGE), "start.sh": START[kind],
            "migrate.sql": RELEASE_SQL[kind].format(version=version)}


def in_database(name: str, kind: str, query: str, preview: int = 0) -> str:
    """What the database container itself answers (its own client, as its superuser on its socket)."""
    container = docker.from_env().containers.get(f"tahobuddy-{preview_name(name, preview)}-db" if preview
                                                 else f"tahobuddy-{name}-db")
    argv = {"postgres": ["psql", "-U", "tahobuddy", "-d", name, "-qAtc", query],
            "mysql": ["sh", "-c", f'MYSQL_PWD="$MYSQL_PASSWORD" mariadb -u tahobuddy -N {name} -e "{query}"'],
            "redis": ["redis-cli", *query.split()]}[kind]
    code, out = container.exec_run(argv)
    assert code == 0, out.decode()
    return out.decode().strip()


def app_env(name: str) -> dict:
    [app] = docker.from_env().containers.list(filters={"label": [f"tahobuddy.app={name}", "tahobuddy.role=app"]})
    return dict(item.split("=", 1) for item in app.attrs["Config"]["Env"])


@pytest.fixture
def db_app(api, tmp_path, db_images):
    made = []

    def make(kind: str, backup: dict | None = None):
        repo, name = GitRepo(tmp_path / f"{kind}app"), unique(f"{kind}app")
        r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
            "name": name, "repository": str(repo.origin), "hostname": f"{name}.localhost", "port": 8080,
            "database": {"kind": kind, **({"backup": backup} if backup else {})},
            "rules": [{"name": "release", "match": {"tag": "release-*"},
                       # a short watch that passes: a deploy keeps the previous container unrouted for 3 s
                       "target": {"type": "docker", "health_path": "/", "health_timeout": 90,
                                  "drain_seconds": 1, "watch_seconds": 3}}]})
        assert r.status_code == 201, r.text
        made.append(name)
        return repo, name
    yield make
    for name in made:  # the app goes too: a later sweep must not queue backups of its schedule
        requests.delete(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30)
        remove_app_resources(name)


def release(api, repo, images, kind: str, version: str) -> dict:
    repo.write(app_files(images, kind, version))
    job = deploy(api, repo, f"release-{version}", repo.commit_and_tag(version, f"release-{version}"))
    assert job["state"] == "succeeded", job_log(api, job["id"])
    return job


def test_postgres_migration_through_database_url_and_its_data_outlive_a_deploy_and_a_rollback(
        api, agent_token, caddy, tmp_path, db_images, db_app, empty_queue):
    repo, name = db_app("postgres")
    host = f"{name}.localhost"
    agent = AgentProcess(api, agent_token, tmp_path, caddy, extra=db_env(db_images))
    try:
        job = release(api, repo, db_images, "postgres", "1")
        assert caddy.get(host).text.strip() == "1"
        url = app_env(name)["DATABASE_URL"]
        assert url.startswith("postgres://tahobuddy:") and url.endswith(f"@tahobuddy-{name}-db:5432/{name}")
        assert url.split(":")[2].split("@")[0] not in job_log(api, job["id"])  # the password is masked
        db = docker.from_env().containers.get(f"tahobuddy-{name}-db")
        job = release(api, repo, db_images, "postgres", "2")
        assert "watch: passed after 3 s" in job_log(api, job["id"])
        assert caddy.get(host).text.strip() == "1,2"  # the new container read the first one's row
        assert app_env(name)["DATABASE_URL"] == url  # the same password
        assert docker.from_env().containers.get(f"tahobuddy-{name}-db").id == db.id  # made once, kept
        r = requests.post(f"{api.url}/api/v1/apps/{name}/rollback", json={"to": "release-1"},
                          headers=api.headers(), timeout=30)
        job = wait_job(api, r.json()["jobs"][0]["id"])
        assert job["state"] == "succeeded", job_log(api, job["id"])
        assert caddy.get(host).text.strip() == "1,2,1"  # the rolled-back code ran against the same data
        assert in_database(name, "postgres", "select count(*) from releases") == "3"
        assert docker.from_env().containers.get(f"tahobuddy-{name}-db").id == db.id
    finally:
        assert agent.stop() == 0, agent.output()


@pytest.mark.parametrize("kind", ["mysql", "redis"])
def test_mariadb_and_redis_are_reached_and_written_through_database_url_and_kept_across_a_deploy(
        api, agent_token, caddy, tmp_path, db_images, db_app, empty_queue, kind):
    repo, name = db_app(kind)
    host = f"{name}.localhost"
    agent = AgentProcess(api, agent_token, tmp_path, caddy, extra=db_env(db_images))
    try:
        release(api, repo, db_images, kind, "1")
        assert caddy.get(host).text.strip() == "1"
        release(api, repo, db_images, kind, "2")
        assert caddy.get(host).text.strip() == "1,2"
        query = {"mysql": "select count(*) from releases", "redis": "llen releases"}[kind]
        assert in_database(name, kind, query) == "2"
    finally:
        assert agent.stop() == 0, agent.output()


@pytest.fixture
def preview_site(api, examples, tmp_path, caddy, docker_images, empty_queue):  # noqa: F811
    site = Site(api, examples, tmp_path / "site", caddy, database=True)
    yield site
    remove_app_resources(site.name)


def test_a_previews_postgres_database_is_apart_from_the_apps(api, agent_token, caddy, tmp_path, db_images,
                                                             preview_site):
    s = preview_site
    agent = AgentProcess(api, agent_token, tmp_path, caddy, extra=db_env(db_images))
    try:
        release(api, s.repo, db_images, "postgres", "main")
        assert caddy.get(s.host).text.strip() == "main"
        body = s.send("opened", 4, s.push(4, "pr4", files=app_files(db_images, "postgres", "pr4")))
        job = wait_job(api, body["jobs"][0])
        assert job["state"] == "succeeded", job_log(api, job["id"])
        assert s.served(4) == "pr4"  # the preview's migration ran on an empty database of its own
        assert caddy.get(s.host).text.strip() == "main"
        assert in_database(s.name, "postgres", "select string_agg(version, ',') from releases") == "main"
        assert in_database(s.name, "postgres", "select string_agg(version, ',') from releases", preview=4) == "pr4"
    finally:
        assert agent.stop() == 0, agent.output()


def tahobuddy(api, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TAHOBUDDY_API_URL": api.url, "TAHOBUDDY_TOKEN": api.token}
    return subprocess.run([str(Path(sys.executable).parent / "tahobuddy"), *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_a_scheduled_backup_on_the_tick_and_a_restore_by_hand_bring_back_rows_deleted_after_it(
        api, agent_token, caddy, tmp_path, db_images, db_app, empty_queue):
    repo, name = db_app("postgres", backup={"schedule": "* * * * *", "keep": 3, "to": f"dir:{tmp_path}/backups"})
    agent = AgentProcess(api, agent_token, tmp_path, caddy, extra=db_env(db_images))
    try:
        release(api, repo, db_images, "postgres", "1")
        release(api, repo, db_images, "postgres", "2")
        swept = requests.post(f"{api.url}/api/v1/sweep", headers=api.headers(), timeout=60).json()
        [job_id] = [j for j in swept["backups"] if requests.get(
            f"{api.url}/api/v1/jobs/{j}", headers=api.headers(), timeout=30).json()["app"] == name]
        job = wait_job(api, job_id)
        assert (job["state"], job["trigger"]) == ("succeeded", "backup"), job_log(api, job_id)
        assert "verified" in job["detail"] and "restore-testing" in job_log(api, job_id)
        listed = json.loads(tahobuddy(api, "db", "backups", name, "--json").stdout)["backups"]
        assert [(b["verified"], b["counts"]) for b in listed] == [("verified", {"public.releases": 2})]
        assert (tmp_path / "backups" / listed[0]["name"]).stat().st_size == listed[0]["bytes"]

        in_database(name, "postgres", "delete from releases")
        refused = tahobuddy(api, "db", "restore", name, "--from", listed[0]["name"])
        assert refused.returncode == 1 and "--yes" in refused.stderr
        done = tahobuddy(api, "db", "restore", name, "--from", listed[0]["name"], "--yes", "--json")
        assert done.returncode == 0, done.stderr
        job = wait_job(api, json.loads(done.stdout)["jobs"][0]["id"])
        assert (job["state"], job["trigger"]) == ("succeeded", "restore"), job_log(api, job["id"])
        assert "the database was down" in job["detail"]
        assert in_database(name, "postgres", "select string_agg(version, ',' order by id) from releases") == "1,2"
        release(api, repo, db_images, "postgres", "3")  # the app reaches the restored database as before
        assert caddy.get(f"{name}.localhost").text.strip() == "1,2,3"
    finally:
        assert agent.stop() == 0, agent.output()
