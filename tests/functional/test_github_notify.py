"""App notifications: Slack, Discord and a generic Standard Webhooks receiver on loopback get the
states they asked for; the generic one checks the signature with the `standardwebhooks` library's
own verify. URLs and keys are Secrets Manager secrets in the moto server, as on AWS."""
import base64
import json
import secrets
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
import requests
from standardwebhooks import Webhook

from functions.config import boto_kwargs
from tests.functional.test_api import agent_call, call
from tests.functional.test_github_reports import gh_api, standin  # noqa: F401 - the API with reports on
from tests.helpers import deliver, put_app, unique
from tests.realparts import wait_for

pytestmark = pytest.mark.functional


class Receiver:
    """A webhook receiver on loopback: answers `status`, keeps what it got; `key` checks signatures."""

    def __init__(self, status: int, answer: bytes = b"", key: str | None = None):
        self.got, self.refused = [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                code = status
                if key is not None:
                    try:
                        Webhook(key).verify(body, dict(self.headers.items()))
                    except Exception as exc:  # the library's own verdict, kept for the test to show
                        receiver.refused.append(repr(exc))
                        code = 401
                if code < 300:
                    receiver.got.append(json.loads(body))
                self.send_response(code)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/{uuid.uuid4().hex}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers(moto):
    key = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    made = {"slack": Receiver(200, b"ok"), "discord": Receiver(204), "webhook": Receiver(200, key=key)}
    sm = boto3.client("secretsmanager", **boto_kwargs())
    names = {}
    for channel, value in (("slack", made["slack"].url), ("discord", made["discord"].url),
                        ("webhook", made["webhook"].url), ("key", key)):
        names[channel] = f"{channel.upper()}_{uuid.uuid4().hex[:8]}"
        sm.create_secret(Name=f"tahobuddy/{names[channel]}", SecretString=value)
    yield made, names
    for r in made.values():
        r.stop()
    for name in names.values():
        sm.delete_secret(SecretId=f"tahobuddy/{name}", ForceDeleteWithoutRecovery=True)


def notify_app(api, gh_repo, names, entries) -> str:
    name = unique("note")
    key = {"secret": f"secret:{names['key']}"}
    notify = [{"type": t, "url": f"secret:{names[t]}", **(key if t == "webhook" else {}), "states": states}
              for t, states in entries]
    put_app(api, {"name": name, "repository": f"https://github.com/{gh_repo}.git", "notify": notify,
                  "rules": [{"name": "run", "match": {"branch": "main"}, "target": {"type": "shell",
                                                                                    "commands": [["true"]]}}]})
    return name


def run_job(api, agent_token, name, gh_repo, sha, end: dict) -> str:
    r = deliver(api, "push", {"ref": "refs/heads/main", "after": sha, "created": False, "deleted": False,
                              "repository": {"full_name": gh_repo, "clone_url": f"https://github.com/{gh_repo}.git"}})
    job = r.json()["jobs"][0]
    assert agent_call(api, agent_token, "notifier", f"/agent/jobs/{job}/claim").json()["run"] is True
    assert agent_call(api, agent_token, "notifier", f"/agent/jobs/{job}/finish", end).ok
    return job


def settled(api, job: str) -> dict | None:
    """The job's reports once nothing is left to send."""
    reports = call(api, "GET", f"/jobs/{job}").json().get("reports") or {}
    done = reports and reports["pending"] == 0 and all(n["result"] != "pending" for n in reports.get("notify", []))
    return reports if done else None


def test_each_channel_gets_the_states_it_asked_for(gh_api, standin, receivers, agent_token):  # noqa: F811
    made, names = receivers
    name = notify_app(gh_api, "octo/notes", names, [("slack", ["succeeded", "failed"]), ("discord", ["failed"]),
                                                    ("webhook", ["running", "succeeded"])])
    ok = run_job(gh_api, agent_token, name, "octo/notes", "7" * 40, {"state": "succeeded"})
    bad = run_job(gh_api, agent_token, name, "octo/notes", "8" * 40,
                  {"state": "failed", "reason": "command 1 (true) exited with 1", "exit_code": 1})
    for job in (ok, bad):
        reports = wait_for(lambda: settled(gh_api, job), f"the reports of job {job}")
        assert all(n["result"] == "sent" for n in reports["notify"]), reports
    slack = [m["text"] for m in made["slack"].got]
    assert len(slack) == 2 and ": succeeded" in slack[0] and ": failed" in slack[1] and "exited with 1" in slack[1]
    assert f"{gh_api.url}/api/v1/jobs/{ok}" in slack[0]
    [discord] = made["discord"].got
    assert discord["embeds"][0]["title"].endswith(f"{'8' * 7}): failed")
    assert [(m["type"], m["data"]["job_id"]) for m in made["webhook"].got] == [
        ("job.running", ok), ("job.succeeded", ok), ("job.running", bad)]
    assert made["webhook"].refused == [] and made["webhook"].got[1]["data"]["repo"] == "octo/notes"
    assert [s["state"] for s in standin.statuses if s["sha"] == "7" * 40] == ["pending", "pending", "success"]


def test_notifications_go_without_github_and_a_wrong_key_is_refused(api, receivers, agent_token):
    """The shared API has no GitHub credentials: notifications alone. Its outbox is sent by hand."""
    made, names = receivers
    name = notify_app(api, "octo/quiet", names, [("webhook", ["succeeded"])])
    job = run_job(api, agent_token, name, "octo/quiet", "9" * 40, {"state": "succeeded"})

    def sent():
        requests.post(f"{api.url}/api/v1/outbox/deliver", headers=api.headers(), timeout=30)
        return settled(api, job)
    reports = wait_for(sent, "the webhook notification")
    assert reports["notify"] == [{"state": "succeeded", "type": "webhook", "result": "sent"}]
    assert [m["type"] for m in made["webhook"].got] == ["job.succeeded"]
    boto3.client("secretsmanager", **boto_kwargs()).put_secret_value(
        SecretId=f"tahobuddy/{names['key']}", SecretString="whsec_" + base64.b64encode(b"x" * 24).decode())
    again = run_job(api, agent_token, name, "octo/quiet", "6" * 40, {"state": "succeeded"})

    def refused():
        requests.post(f"{api.url}/api/v1/outbox/deliver", headers=api.headers(), timeout=30)
        return settled(api, again)
    reports = wait_for(refused, "the badly signed notification to be given up")
    assert reports["notify"][0]["result"] == "gave up: webhook answered 401"
    assert made["webhook"].refused and len(made["webhook"].got) == 1


def test_a_notification_url_without_a_scheme_is_given_up_naming_its_secret_not_its_value(api, agent_token, moto):
    """The URL of a Slack hook is its credential: a value typed without `https://` must not be echoed
    into the job's reports (the outbox error) or the functions' log."""
    token = f"T0/B0/{uuid.uuid4().hex}"
    secret_name = f"SLACK_{uuid.uuid4().hex[:8]}"
    sm = boto3.client("secretsmanager", **boto_kwargs())
    sm.create_secret(Name=f"tahobuddy/{secret_name}", SecretString=f"hooks.slack.com/services/{token}")
    try:
        name = unique("note")
        put_app(api, {"name": name, "repository": "https://github.com/octo/schemeless.git",
                      "notify": [{"type": "slack", "url": f"secret:{secret_name}", "states": ["succeeded"]}],
                      "rules": [{"name": "run", "match": {"branch": "main"},
                                 "target": {"type": "shell", "commands": [["true"]]}}]})
        job = run_job(api, agent_token, name, "octo/schemeless", "5" * 40, {"state": "succeeded"})

        def given_up():
            requests.post(f"{api.url}/api/v1/outbox/deliver", headers=api.headers(), timeout=30)
            return settled(api, job)
        reports = wait_for(given_up, "the notification to be given up")
        [entry] = reports["notify"]
        assert entry["result"].startswith("gave up:") and f"secret {secret_name}" in entry["result"], entry
        assert "https://" in entry["result"]  # says what to fix
        shown = json.dumps(call(api, "GET", f"/jobs/{job}").json())
        assert token not in shown and "hooks.slack.com" not in shown  # the outbox's warning logs this same text
    finally:
        sm.delete_secret(SecretId=f"tahobuddy/{secret_name}", ForceDeleteWithoutRecovery=True)
