"""Tokens by id (list, revoke, expiry) and the audit log of app changes, over real HTTP."""
import re
import time

import pytest
import requests

from functions.store import tokens
from functions.clock import now_iso
from functions.store.models import TokenModel
from tests.helpers import docker_app, unique

pytestmark = pytest.mark.functional


def call(api, method, path, token=None, **kw):
    return requests.request(method, f"{api.url}/api/v1{path}", headers={"Authorization": f"Bearer {token or api.token}"},
                            timeout=30, **kw)


def test_a_token_is_listed_and_revoked_by_an_id_that_is_not_the_secret(api):
    made = call(api, "POST", "/tokens", json={"role": "admin", "name": unique("ci"), "expires_in": "30d"})
    assert made.status_code == 201, made.text
    secret, token_id = made.json()["token"], made.json()["id"]
    assert re.fullmatch(r"[0-9a-f]{12}", token_id) and token_id not in secret
    expires = made.json()["expires_at"]
    assert expires and 29 * 86400 < time.mktime(time.strptime(expires, "%Y-%m-%dT%H:%M:%SZ")) - time.mktime(
        time.gmtime()) <= 30 * 86400 + 60
    listed = call(api, "GET", "/tokens")
    assert secret not in listed.text
    [row] = [t for t in listed.json()["tokens"] if t["id"] == token_id]
    assert (row["name"], row["role"], row["expired"]) == (made.json()["name"], "admin", False)
    assert call(api, "GET", "/apps", token=secret).status_code == 200
    revoked = call(api, "DELETE", f"/tokens/{token_id}")
    assert revoked.status_code == 200 and revoked.json()["revoked"] == token_id
    r = call(api, "GET", "/apps", token=secret)
    assert r.status_code == 401 and "unknown token" in r.json()["Message"]
    assert call(api, "DELETE", f"/tokens/{token_id}").status_code == 404
    bad = call(api, "DELETE", "/tokens/not-an-id")
    assert bad.status_code == 400 and "12 hex characters" in bad.json()["Message"]


def test_an_expired_token_is_refused_with_a_clear_401(api):
    secret = f"tb_admin_{unique('old')}"
    TokenModel(tokens.digest(secret), role="admin", name="expired-one", created_at=now_iso(),
               expires_at=int(time.time()) - 1).save()
    r = call(api, "GET", "/apps", token=secret)
    assert r.status_code == 401 and r.json()["Message"].startswith("token expired at ")
    [row] = [t for t in call(api, "GET", "/tokens").json()["tokens"] if t["id"] == tokens.digest(secret)[:12]]
    assert row["expired"] is True


@pytest.mark.parametrize("ttl", ["soon", "0", "-5d", "99999w", True])
def test_a_bad_expiry_is_refused(api, ttl):
    r = call(api, "POST", "/tokens", json={"role": "agent", "name": "x", "expires_in": ttl})
    assert r.status_code == 400 and r.json()["Message"].startswith("expires_in: a duration like 30d")


def test_every_app_change_is_audited_with_the_token_that_made_it(api):
    made = call(api, "POST", "/tokens", json={"role": "admin", "name": unique("deployer")}).json()
    secret, name = made["token"], unique("audited")
    spec = docker_app(name)
    assert call(api, "PUT", f"/apps/{name}", token=secret, json=spec).status_code == 201
    changed = {**spec, "hostname": f"{name}.example.com",
               "rules": spec["rules"] + [{"name": "extra", "match": {"tag": "v*"}, "target": {"type": "docker"}}]}
    assert call(api, "PUT", f"/apps/{name}", token=secret, json=changed).status_code == 200
    assert call(api, "PUT", f"/apps/{name}", token=secret, json=changed).status_code == 200  # no change: no entry
    assert call(api, "DELETE", f"/apps/{name}", token=secret).status_code == 200
    entries = [e for e in call(api, "GET", "/audit", params={"limit": 500}).json()["audit"]
               if e["subject"] == f"app/{name}"]
    assert [e["action"] for e in entries] == ["deleted", "replaced", "created"]  # newest first
    assert all(e["token"] == {"id": made["id"], "name": made["name"]} for e in entries)
    assert entries[1]["changes"] == {"fields": ["hostname"], "rules": {"added": ["extra"]}}
    assert entries[1]["summary"] == "hostname changed; rule extra added"
    assert entries[2]["changes"]["rules"] == {"added": ["dev", "release"]}
    assert entries[0]["changes"] == {"rules": {"removed": ["dev", "release", "extra"]}}
    assert entries[0]["at"] >= entries[1]["at"] >= entries[2]["at"]
    token_entries = [e for e in call(api, "GET", "/audit", params={"limit": 500}).json()["audit"]
                     if e["subject"] == f"token/{made['id']}"]
    assert [e["action"] for e in token_entries] == ["created"]


def test_tokens_and_audit_need_an_admin_token(api, agent_token):
    for method, path in (("GET", "/tokens"), ("DELETE", "/tokens/0123456789ab"), ("GET", "/audit")):
        assert call(api, method, path, token=agent_token).status_code == 403
