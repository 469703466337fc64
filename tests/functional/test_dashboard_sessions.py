"""Dashboard sessions have a key of their own, tried as an attacker would: a cookie forged from the
webhook secret and an admin token's public id, and a cookie dated far ahead, over real HTTP (chalice
local on moto server); and the token behind a cookie is read by its key, never by a scan."""
import contextlib
import hashlib
import hmac
import os
import sys
import time
from pathlib import Path

import pytest
import requests

from functions.dashboard import session
from functions.store import audit, tokens
from functions.store.models import ALL_MODELS, TokenModel
from local import procs

pytestmark = pytest.mark.functional
ROOT = Path(__file__).resolve().parents[2]
YEAR_5138 = 99_999_999_999  # the date the forged cookie of the report carried


@contextlib.contextmanager
def api_without_session_key(log: Path):
    """A chalice local as an installation had it before: the webhook secret set, no TAHOBUDDY_SESSION_KEY."""
    env = {k: v for k, v in os.environ.items() if k != "TAHOBUDDY_SESSION_KEY"}
    port = procs.free_port()
    proc = procs.start([sys.executable, "-m", "local.api", "--host", "127.0.0.1", "--port", str(port), "--stage",
                        "dev", "--no-autoreload"], str(log), env=env, cwd=str(ROOT))
    try:
        procs.wait_http(f"http://127.0.0.1:{port}/api/v1/health", proc=proc, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        procs.stop(proc)


def forged(secret: str, name: str, expires: int) -> str:
    """A cookie signed the way the dashboard once derived its key when TAHOBUDDY_SESSION_KEY was unset."""
    key = hmac.new(f"webhook:{secret}".encode(), b"tahobuddy-dashboard-session", hashlib.sha256).digest()
    body = f"{name}.{expires}"
    return f"{body}.{hmac.new(key, body.encode(), hashlib.sha256).hexdigest()}"


def page(url: str, cookie: str) -> requests.Response:
    return requests.get(f"{url}/apps", headers={"Cookie": f"{session.COOKIE}={cookie}"}, allow_redirects=False,
                        timeout=30)


def test_a_cookie_forged_from_the_webhook_secret_and_a_token_id_does_not_sign_in(api, tmp_path):
    digest = tokens.digest(api.token)
    token_id = audit.token_id(digest)  # public: `tahobuddy token list` and the audit log show it
    with api_without_session_key(tmp_path / "chalice.log") as url:
        r = page(url, forged(api.secret, f"v1.{token_id}", YEAR_5138))
        assert r.status_code == 303 and "/login" in r.headers["Location"], r.status_code
        refused = requests.post(f"{url}/login", data={"token": api.token, "next": "/apps"}, allow_redirects=False,
                                timeout=30)
        assert refused.status_code == 503 and "TAHOBUDDY_SESSION_KEY" in refused.text, refused.text
        assert "Set-Cookie" not in refused.headers
    # with a key of its own, not even the full digest and a sane expiry help the forger
    for name in (f"v1.{token_id}", f"v2.{digest}"):
        r = page(api.url, forged(api.secret, name, int(time.time()) + 3600))
        assert r.status_code == 303, (name, r.status_code)


def test_a_cookie_dated_further_ahead_than_the_lifetime_is_refused(api):
    row = TokenModel.get(tokens.digest(api.token))
    assert page(api.url, session.sign_in(row)).status_code == 200  # signed with the server's own key
    assert page(api.url, session.sign_in(row, at=time.time() + 60)).status_code == 200  # clocks differ a little
    for ahead in (session.LIFETIME + 3600, YEAR_5138 - time.time()):
        r = page(api.url, session.sign_in(row, at=time.time() + ahead))
        assert r.status_code == 303 and "/login" in r.headers["Location"], ahead


def test_a_dashboard_request_reads_its_token_by_key_and_scans_no_table(api):
    """Counted with a botocore hook on every table's client, in process (chalice.test.Client)."""
    from chalice.test import Client
    from functions.app import app
    row = TokenModel.get(tokens.digest(api.token))
    cookie = session.sign_in(row)
    calls: list[tuple[str, str]] = []

    def record(params, model, **_):
        calls.append((model.name, params.get("TableName", "")))
    clients = [m._get_connection().connection.client for m in ALL_MODELS]
    for client in clients:
        client.meta.events.register("provide-client-params.dynamodb", record)
    try:
        with Client(app) as client:
            for path in ("/jobs", "/events"):
                calls.clear()
                r = client.http.get(path, headers={"cookie": f"{session.COOKIE}={cookie}"})
                assert r.status_code == 200, (path, r.body[:300])
                on_tokens = [op for op, table in calls if table == TokenModel.Meta.table_name]
                assert on_tokens == ["GetItem"], (path, calls)  # never a Scan of the tokens table
    finally:
        for client in clients:
            client.meta.events.unregister("provide-client-params.dynamodb", record)
