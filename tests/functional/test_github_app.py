"""GitHub App credentials against the stand-in: a JWT signed with the App's private key (verified by
the stand-in with its public key), the repository's installation, an installation token cached
until shortly before it expires, then refreshed."""
import json
import time

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.notify import github
from tests.github_standin import App, GitHubStandIn
from tests.realparts import wait_for

pytestmark = pytest.mark.functional
SHA = "ab" * 20


def keypair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@pytest.fixture(scope="module")
def keys():
    return keypair()


def app_client(standin, private: str, **env) -> github.Client:
    return github.Client(github.settings({"TAHOBUDDY_GITHUB_API_URL": standin.url, "TAHOBUDDY_GITHUB_APP_ID": "4242",
                                          "TAHOBUDDY_GITHUB_APP_KEY": private, **env}))


def status(n: int) -> dict:
    return {"job_id": f"J{n}", "app": "blog", "rule": "live", "state": "queued", "sha": SHA, "repo": "octo/blog"}


def test_installation_token_is_made_from_a_verified_jwt_and_cached(keys):
    private, public = keys
    standin = GitHubStandIn(app=App(4242, public, installation_id=77))
    try:
        client = app_client(standin, private)
        for n in range(3):
            client.call("octo/blog", github.commit_status(client.s, status(n)))
        assert len(standin.statuses) == 3 and client.credentials.minted == 1
        calls = [(m, t) for m, t, _, code in standin.requests if code < 300]
        assert calls[:2] == [("GET", "/repos/{owner}/{repo}/installation"),
                             ("POST", "/app/installations/{installation_id}/access_tokens")]
        assert calls[2:] == [("POST", "/repos/{owner}/{repo}/statuses/{sha}")] * 3
        assert not standin.violations
    finally:
        standin.stop()


def test_an_expiring_token_is_refreshed_and_the_expired_one_is_refused(keys):
    private, public = keys
    app = App(4242, public, installation_id=78, token_seconds=2)
    standin = GitHubStandIn(app=app)
    try:
        client = app_client(standin, private, TAHOBUDDY_GITHUB_INSTALLATION_ID="78")
        client.call("octo/blog", github.commit_status(client.s, status(1)))
        first, expires = app.issued[0]
        wait_for(lambda: time.time() > expires + 0.1, "the first installation token to expire", timeout=10)
        refused = requests.post(f"{standin.url}/repos/octo/blog/statuses/{SHA}", timeout=10,
                                headers={"Authorization": f"token {first}", "Accept": "application/vnd.github+json"},
                                json={"state": "pending", "context": "x"})
        assert refused.status_code == 401
        client.call("octo/blog", github.commit_status(client.s, status(2)))
        assert client.credentials.minted == 2 and app.issued[1][0] != first
        assert len(standin.statuses) == 2
        assert not any(t == "/repos/{owner}/{repo}/installation" for _, t, _, _ in standin.requests)  # id was given
    finally:
        standin.stop()


def test_a_jwt_signed_with_another_key_is_refused_and_not_retried(keys):
    _, public = keys
    other, _ = keypair()
    standin = GitHubStandIn(app=App(4242, public))
    try:
        client = app_client(standin, other)
        with pytest.raises(github.GitHubError) as caught:
            client.call("octo/blog", github.commit_status(client.s, status(1)))
        assert caught.value.retry is False and "401" in str(caught.value)
        assert "could not be decoded" in str(caught.value) and standin.statuses == []
    finally:
        standin.stop()


def test_a_personal_access_token_is_sent_as_is_and_a_502_is_retryable():
    standin = GitHubStandIn(tokens={"ghp_x"})
    try:
        client = github.Client(github.settings({"TAHOBUDDY_GITHUB_API_URL": standin.url,
                                                "TAHOBUDDY_GITHUB_TOKEN": "ghp_x"}))
        standin.outage(30)
        with pytest.raises(github.GitHubError) as caught:
            client.call("octo/blog", github.commit_status(client.s, status(1)))
        assert caught.value.retry is True and "502" in str(caught.value)
        standin.outage(0)
        client.call("octo/blog", github.commit_status(client.s, status(1)))
        assert [s["context"] for s in standin.statuses] == ["tahobuddy/blog/live"]
    finally:
        standin.stop()


def test_credentials_come_from_the_secret_the_stack_names(moto, keys):
    """On AWS the functions get TAHOBUDDY_GITHUB_SECRET (the GitHubSecret parameter); here the secret
    lives in the moto server."""
    import uuid

    import boto3

    from functions.config import boto_kwargs
    private, public = keys
    sm = boto3.client("secretsmanager", **boto_kwargs())
    token_name, app_name = f"gh-token-{uuid.uuid4().hex[:8]}", f"gh-app-{uuid.uuid4().hex[:8]}"
    sm.create_secret(Name=token_name, SecretString='{"token": "ghp_from_secrets_manager"}')
    sm.create_secret(Name=app_name, SecretString=json.dumps({"app_id": "4242", "private_key": private}))
    standin = GitHubStandIn(tokens={"ghp_from_secrets_manager"}, app=App(4242, public))
    try:
        for name in (token_name, app_name):
            s = github.settings({"TAHOBUDDY_GITHUB_SECRET": name, "TAHOBUDDY_GITHUB_API_URL": standin.url})
            client = github.Client(s)
            client.call("octo/blog", github.commit_status(s, status(1)))
        assert len(standin.statuses) == 2 and len(standin.app.issued) == 1
    finally:
        standin.stop()
        for name in (token_name, app_name):
            sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
