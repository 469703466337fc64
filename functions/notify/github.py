"""GitHub's side of reporting: pure request builders for commit statuses and deployments, the
settings and credentials (a personal access token or a GitHub App's installation tokens), and a
thin client with one retry classification.

The builders take a `change` (outbox.snapshot: the job as it was at one state change) and return
(method, path, body); they have unit tests and no I/O. The client only sends and classifies:
5xx, 429, a rate-limit 403 and network errors are `Retry`; any other 4xx is `GiveUp` (retrying a
422 cannot help).
"""
from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from contract.states import JobState

from functions.config import boto_kwargs
from functions.domain import statuses
from functions.providers import github as github_provider
from functions.providers.base import JobStatus

DEFAULT_API = "https://api.github.com"
DEPLOYING_TARGETS = ("docker", "heroku", "aws-ecs")


class GitHubError(Exception):
    """A delivery that did not go through; `retry` says whether trying again can help, `status` is
    GitHub's answer (0: none), so a caller can tell a deleted comment (404) from the rest."""

    def __init__(self, message: str, retry: bool, status: int = 0):
        super().__init__(message)
        self.retry, self.status = retry, status


# ---- settings ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    api_url: str                 # https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server
    token: str                   # a personal access token, or ""
    app_id: str                  # a GitHub App's id, or ""
    app_key: str                 # that App's private key (PEM)
    installation_id: str         # optional: else looked up per repository
    public_url: str              # where people reach the API (and the dashboard): target_url / log_url
    dashboard: bool              # link to the dashboard's /jobs/ID instead of the API's job URL

    @property
    def enabled(self) -> bool:
        return bool(self.token or (self.app_id and self.app_key))


def stored_secret(name: str) -> dict:
    """Production: a Secrets Manager secret (JSON: token, or app_id + private_key; and the other forges'
    gitlab_token, gitea_token, forgejo_token: functions/notify/forges.py) named by the stack."""
    import boto3
    raw = boto3.client("secretsmanager", **boto_kwargs()).get_secret_value(SecretId=name)["SecretString"]
    doc = json.loads(raw) if raw.strip().startswith("{") else {"token": raw.strip()}
    return doc if isinstance(doc, dict) else {}


def settings(env=None) -> Settings:
    env = os.environ if env is None else env
    key = env.get("TAHOBUDDY_GITHUB_APP_KEY", "")
    if not key and env.get("TAHOBUDDY_GITHUB_APP_KEY_FILE"):
        key = Path(env["TAHOBUDDY_GITHUB_APP_KEY_FILE"]).read_text()
    stored = stored_secret(env["TAHOBUDDY_GITHUB_SECRET"]) if env.get("TAHOBUDDY_GITHUB_SECRET") else {}
    return Settings(
        api_url=(env.get("TAHOBUDDY_GITHUB_API_URL") or DEFAULT_API).rstrip("/"),
        token=env.get("TAHOBUDDY_GITHUB_TOKEN") or stored.get("token", ""),
        app_id=str(env.get("TAHOBUDDY_GITHUB_APP_ID") or stored.get("app_id", "")),
        app_key=key or stored.get("private_key", ""),
        installation_id=str(env.get("TAHOBUDDY_GITHUB_INSTALLATION_ID") or stored.get("installation_id", "")),
        public_url=(env.get("TAHOBUDDY_PUBLIC_URL") or "").rstrip("/"),
        dashboard=(env.get("TAHOBUDDY_DASHBOARD") or "").lower() in ("1", "true", "on", "yes"),
    )


# ---- pure builders -------------------------------------------------------------------------------
def job_url(s: Settings, job_id: str) -> str:
    if not s.public_url:
        return ""
    return f"{s.public_url}/jobs/{job_id}" if s.dashboard else f"{s.public_url}/api/v1/jobs/{job_id}"


def job_link(job_id: str, env=None) -> str:
    """The job's page from the environment alone (no credentials read): for notifications."""
    env = os.environ if env is None else env
    return job_url(Settings(api_url="", token="", app_id="", app_key="", installation_id="",
                            public_url=(env.get("TAHOBUDDY_PUBLIC_URL") or "").rstrip("/"),
                            dashboard=(env.get("TAHOBUDDY_DASHBOARD") or "").lower() in ("1", "true", "on", "yes")),
                   job_id)


def _short(text: str) -> str:
    return statuses.short(text)


def outcome(change: dict) -> tuple[str, str]:
    """(commit status state, description) of a job state change, from the one state table."""
    state, reason, code = change["state"], change.get("reason") or "", change.get("reason_code") or ""
    return (statuses.word("github", state, code),
            statuses.description(state, reason, code, change.get("promoted_from") or ""))


def commit_status(s: Settings, change: dict) -> tuple[str, str, dict]:
    """The commit status, shaped by the GitHub provider as every forge's is (functions/providers)."""
    req = github_provider.report(change["repo"], change["sha"], status_of(change, job_url(s, change["job_id"])))
    return req.method, req.path, req.body


def status_of(change: dict, target_url: str) -> JobStatus:
    """What any forge's commit status says about one outbox change."""
    return JobStatus(change["state"], change.get("reason_code") or "", context=f"tahobuddy/{change['app']}/{change['rule']}",
                     target_url=target_url, description=outcome(change)[1])


def deploys(change: dict) -> bool:
    return change.get("target_type") in DEPLOYING_TARGETS


def deployment(change: dict) -> tuple[str, str, dict]:
    """The Deployment: made once per job, at its first change. `required_contexts: []` because
    GitHub would otherwise refuse it while our own status is still pending."""
    body = {"ref": change["sha"], "task": "deploy", "auto_merge": False, "required_contexts": [],
            "environment": change["environment"],
            "description": _short(change.get("promoted_from") or f"{change['app']} {change['ref']}"),
            "payload": {"tahobuddy_job": change["job_id"], "ref": change["ref"]}}
    if change.get("promoted_from"):
        body["payload"]["promoted_from"] = change["promoted_from"]
    if change.get("production_environment") is not None:
        body["production_environment"] = bool(change["production_environment"])
    if change.get("transient_environment"):
        body["transient_environment"] = True    # a preview: gone when its pull request closes
    return "POST", f"/repos/{change['repo']}/deployments", body


def deployment_state(change: dict) -> str:
    state = change["state"]
    if state in (JobState.QUEUED.value, JobState.AWAITING_APPROVAL.value, JobState.FROZEN.value):
        return "queued"
    if state == JobState.RUNNING.value:
        return "in_progress"
    if state == JobState.SKIPPED.value:
        return "inactive"        # never deployed: the environment still serves the release before it
    return {"success": "success", "failure": "failure"}.get(outcome(change)[0], "error")


def deployment_status(s: Settings, change: dict, deployment_id: int) -> tuple[str, str, dict]:
    body = {"state": deployment_state(change), "description": outcome(change)[1],
            "environment": change["environment"], "auto_inactive": True}
    if job_url(s, change["job_id"]):
        body["log_url"] = job_url(s, change["job_id"])
    if change.get("environment_url") and body["state"] == "success":
        body["environment_url"] = change["environment_url"]
    return "POST", f"/repos/{change['repo']}/deployments/{deployment_id}/statuses", body


# ---- credentials ---------------------------------------------------------------------------------
class Credentials:
    """The Authorization header for a repository: the token, or an App installation token cached
    until a minute before it expires (GitHub's last one hour)."""

    def __init__(self, s: Settings):
        self.s = s
        self._tokens: dict[str, tuple[str, float]] = {}     # installation id -> (token, expires epoch)
        self._installations: dict[str, str] = {}            # repo -> installation id
        self._lock = threading.Lock()
        self.minted = 0                                     # installation tokens asked for (tests read it)

    def app_jwt(self) -> str:
        import jwt
        now = int(time.time())
        return jwt.encode({"iat": now - 60, "exp": now + 540, "iss": self.s.app_id}, self.s.app_key,
                          algorithm="RS256")

    def header(self, client: "Client", repo: str) -> str:
        if self.s.token:
            return f"token {self.s.token}"
        with self._lock:
            inst = self.s.installation_id or self._installations.get(repo)
            if not inst:
                doc = client.send("GET", f"/repos/{repo}/installation", None, f"Bearer {self.app_jwt()}")
                inst = self._installations[repo] = str(doc["id"])
            token, expires = self._tokens.get(inst, ("", 0.0))
            if time.time() > expires - 60:
                doc = client.send("POST", f"/app/installations/{inst}/access_tokens", None,
                                  f"Bearer {self.app_jwt()}")
                token, expires = doc["token"], _epoch(doc["expires_at"])
                self._tokens[inst] = (token, expires)
                self.minted += 1
            return f"token {token}"


def _epoch(stamp: str) -> float:
    import calendar
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


# ---- the client ----------------------------------------------------------------------------------
class Client:
    def __init__(self, s: Settings, timeout: float = 10):
        self.s, self.timeout = s, timeout
        self.credentials = Credentials(s)

    def send(self, method: str, path: str, body: dict | None, authorization: str) -> dict | list:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.s.api_url + path, data=data, method=method, headers={
            "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "tahobuddy", "Authorization": authorization,
            **({"Content-Type": "application/json"} if data is not None else {})})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                return json.loads(raw) if raw else {}
        except urllib.error.HTTPError as exc:
            text = exc.read()[:500].decode("utf-8", "replace")
            limited = exc.code == 403 and exc.headers.get("X-RateLimit-Remaining") == "0"
            raise GitHubError(f"{method} {path}: GitHub answered {exc.code}: {text}",
                              retry=exc.code >= 500 or exc.code == 429 or limited, status=exc.code) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise GitHubError(f"{method} {path}: {exc}", retry=True) from exc

    def call(self, repo: str, request: tuple[str, str, dict]) -> dict:
        method, path, body = request
        return self.send(method, path, body, self.credentials.header(self, repo))


_CLIENT: Client | None = None


def client() -> Client | None:
    """The process's client (its App token cache lives as long as the process), or None when no
    credentials are configured."""
    global _CLIENT
    if _CLIENT is None:
        s = settings()
        if not s.enabled:
            return None
        _CLIENT = Client(s)
    return _CLIENT
