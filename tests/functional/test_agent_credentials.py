"""Agent credentials bound end to end, tried as an attacker would, over real HTTP (chalice local on
moto server): a token registers only in its pool, an agent id a live session of another token holds
cannot be taken, a session ends with its token (revoked or expired) and on its own, and log lines
are taken only while the job runs under that session."""
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import requests

from functions.config import boto_kwargs, settings
from local import procs
from tests.helpers import deliver, docker_app, push, put_app, unique

pytestmark = pytest.mark.functional
ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "tahobuddy")


def call(api, method, path, token, **kw):
    return requests.request(method, f"{api.url}/api/v1{path}", headers={"Authorization": f"Bearer {token}"},
                            timeout=30, **kw)


def agent_token(api, pool: str, **extra) -> dict:
    made = call(api, "POST", "/tokens", api.token, json={"role": "agent", "name": unique("agent"), "pool": pool,
                                                         **extra})
    assert made.status_code == 201, made.text
    return made.json()


def register(api, token: str, agent_id: str, pool: str) -> requests.Response:
    return call(api, "POST", "/agents/register", token, json={"agent_id": agent_id, "pool": pool,
                                                              "targets": ["docker", "shell"]})


def queued_job(api, pool: str) -> str:
    name = unique("cred")
    put_app(api, docker_app(name, rules=[{"name": "dev", "match": {"branch": "development"},
                                          "target": {"type": "docker", "pool": pool}}]))
    r = deliver(api, "push", push(name, "refs/heads/development"))
    assert r.status_code == 200 and len(r.json()["jobs"]) == 1, r.text
    return r.json()["jobs"][0]


def test_an_agent_token_registers_only_in_the_pool_it_was_made_for(api):
    home = agent_token(api, "home")
    assert home["pool"] == "home"
    listed = [t for t in call(api, "GET", "/tokens", api.token).json()["tokens"] if t["id"] == home["id"]]
    assert listed[0]["pool"] == "home"
    r = register(api, home["token"], unique("home"), "remote")
    assert r.status_code == 403, r.text
    assert "for pool 'home'" in r.json()["Message"] and "remote" in r.json()["Message"]
    assert register(api, home["token"], unique("home"), "home").status_code == 201
    bad = call(api, "POST", "/tokens", api.token, json={"role": "agent", "name": "x", "pool": "nowhere"})
    assert bad.status_code == 400 and bad.json()["Message"].startswith("pool: unknown pool 'nowhere'")
    cli = subprocess.run([CLI, "--api-url", api.url, "--token", api.token, "token", "--role", "agent", "--pool",
                          "remote", "--name", unique("cli")], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    made = json.loads(cli.stdout)
    assert made["pool"] == "remote" and register(api, made["token"], unique("cli"), "remote").status_code == 201


def test_a_second_agent_token_cannot_take_over_a_live_agent_and_finish_its_job(api):
    """The reproduction: another token of the same pool registers as `home-1`, then would finish the
    real home-1's job as succeeded with an image of its choosing (which entered the rollback history)."""
    real, impostor, agent_id = agent_token(api, "home"), agent_token(api, "home"), unique("home-1")
    job_id = queued_job(api, "home")
    session = register(api, real["token"], agent_id, "home").json()["session"]
    claimed = call(api, "POST", f"/agent/jobs/{job_id}/claim", session).json()
    assert claimed["run"] is True
    taken = register(api, impostor["token"], agent_id, "home")
    assert taken.status_code == 409, taken.text
    assert agent_id in taken.json()["Message"] and "another agent token" in taken.json()["Message"]
    assert call(api, "POST", "/agents/heartbeat", session, json={"state": "busy", "jobs": [job_id]}).status_code == 200
    job = call(api, "GET", f"/jobs/{job_id}", api.token).json()
    assert (job["state"], job["agent_id"]) == ("running", agent_id)
    # the real agent restarting with its own token takes its id back, as before
    again = register(api, real["token"], agent_id, "home")
    assert again.status_code == 201, again.text
    done = call(api, "POST", f"/agent/jobs/{job_id}/finish", again.json()["session"],
                json={"state": "succeeded", "release": {"image": "registry.example/real:1"}})
    assert done.status_code == 200 and done.json()["state"] == "succeeded"
    # once the real token is revoked, its sessions are dead: the id is free for another token
    assert call(api, "DELETE", f"/tokens/{real['id']}", api.token).status_code == 200
    assert register(api, impostor["token"], agent_id, "home").status_code == 201


def test_a_session_ends_at_once_when_its_agent_token_is_revoked_or_expires(api):
    from functions.store import tokens
    from functions.store.models import TokenModel
    for how in ("revoked", "expired"):
        made = agent_token(api, "home")
        session = register(api, made["token"], unique(f"gone-{how}"), "home").json()["session"]
        assert call(api, "POST", "/agents/heartbeat", session, json={"state": "idle"}).status_code == 200
        if how == "revoked":
            assert call(api, "DELETE", f"/tokens/{made['id']}", api.token).status_code == 200
        else:  # what the clock does to a token made with --expires-in
            row = TokenModel.get(tokens.digest(made["token"]))
            row.update(actions=[TokenModel.expires_at.set(int(time.time()) - 1)])
        for path, body in (("/agents/heartbeat", {"state": "idle"}), ("/agent/jobs/nope/claim", {})):
            r = call(api, "POST", path, session, json=body)
            assert r.status_code == 401, (how, r.text)
            assert f"agent token was {how}" in r.json()["Message"] if how == "revoked" else \
                "agent token expired" in r.json()["Message"], r.text


def test_a_session_from_before_the_upgrade_is_refused_with_a_401_saying_to_restart(api):
    """Sessions were rows of the tokens table, bound to nothing: such a row is refused, never a 500."""
    from functions.clock import now_iso
    from functions.store import tokens
    from functions.store.models import TokenModel
    old = f"tb_session_{unique('old')}"
    TokenModel(tokens.digest(old), role="session", name=unique("old-agent"), created_at=now_iso()).save()
    r = call(api, "POST", "/agents/heartbeat", old, json={"state": "idle"})
    assert r.status_code == 401 and "restart the agent" in r.json()["Message"], r.text


@contextlib.contextmanager
def api_with(env: dict, log: Path):
    """A second chalice local with settings of its own."""
    port = procs.free_port()
    proc = procs.start([sys.executable, "-m", "local.api", "--host", "127.0.0.1", "--port", str(port), "--stage",
                        "dev", "--no-autoreload"], str(log), env={**os.environ, **env}, cwd=str(ROOT))
    try:
        procs.wait_http(f"http://127.0.0.1:{port}/api/v1/health", proc=proc, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        procs.stop(proc)


def test_a_session_expires_on_its_own_unless_the_agent_keeps_beating(api, tmp_path):
    lifetime = 3
    with api_with({"TAHOBUDDY_AGENT_SESSION_SECONDS": str(lifetime)}, tmp_path / "chalice.log") as url:
        from tests.conftest import Api
        short = Api(url, api.token, api.secret)
        made = agent_token(short, "home")
        beating = register(short, made["token"], unique("beating"), "home").json()["session"]
        idle = register(short, made["token"], unique("idle"), "home").json()["session"]
        until = time.monotonic() + lifetime + 2
        while time.monotonic() < until:  # a beat renews the session well before it ends
            r = call(short, "POST", "/agents/heartbeat", beating, json={"state": "idle"})
            assert r.status_code == 200, r.text
            time.sleep(0.5)
        r = call(short, "POST", "/agents/heartbeat", idle, json={"state": "idle"})
        assert r.status_code == 401 and "session expired" in r.json()["Message"], r.text
    ddb = boto3.client("dynamodb", **boto_kwargs())
    ttl = ddb.describe_time_to_live(TableName=settings().table("sessions"))["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    from functions.store import tokens
    from functions.store.models import SessionModel
    row = SessionModel.get(tokens.digest(beating))
    assert time.time() < row.expires_at <= time.time() + lifetime + 1  # DynamoDB deletes it once it passed


def test_log_lines_are_taken_only_while_the_job_runs_under_that_session(api):
    made = agent_token(api, "home")
    mine, other = unique("logs-a"), unique("logs-b")
    session = register(api, made["token"], mine, "home").json()["session"]
    other_session = register(api, made["token"], other, "home").json()["session"]
    job_id = queued_job(api, "home")
    r = call(api, "POST", f"/agent/jobs/{job_id}/logs", session, json={"first_seq": 1, "lines": ["early"]})
    assert r.status_code == 409 and "is queued" in r.json()["Message"], r.text
    assert call(api, "POST", f"/agent/jobs/{job_id}/claim", session).json()["run"] is True
    ok = call(api, "POST", f"/agent/jobs/{job_id}/logs", session, json={"first_seq": 1, "lines": ["building"]})
    assert ok.status_code == 200 and ok.json()["last_seq"] == 1
    r = call(api, "POST", f"/agent/jobs/{job_id}/logs", other_session, json={"first_seq": 2, "lines": ["forged"]})
    assert r.status_code == 409 and f"not held by agent {other}" in r.json()["Message"], r.text
    assert call(api, "POST", f"/agent/jobs/{job_id}/finish", session, json={"state": "failed"}).status_code == 200
    late = call(api, "POST", f"/agent/jobs/{job_id}/logs", session,
                json={"first_seq": 2, "lines": ["deploy succeeded, all good"]})
    assert late.status_code == 409 and "is failed" in late.json()["Message"], late.text
    lines = call(api, "GET", f"/jobs/{job_id}/logs", api.token).json()["lines"]
    assert [line["line"] for line in lines] == ["building"]
