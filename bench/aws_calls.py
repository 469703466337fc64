"""AWS calls of one matched webhook delivery and of one job's life (claim, one heartbeat, finish), as
botocore sends them: every request of this process, counted at botocore's send (retries count too).
Warm, as a Lambda that has served before: a first delivery and a first job (PynamoDB's table
descriptions, the queue's URL) are not counted. tests/functional/test_aws_calls.py asserts them.

    .venv/bin/python bench/aws_calls.py        (`make bench` runs it)
"""
from __future__ import annotations

import contextlib
import json
import sys
import urllib.parse
import uuid
from pathlib import Path

SECRET_ENV = "TAHOBUDDY_WEBHOOK_SECRET"


class Calls:
    """`with Calls() as calls:` ... `calls.ops` is ['DynamoDB.Query', 'SQS.SendMessage', ...] in order."""

    def __init__(self):
        self.ops: list[str] = []

    @staticmethod
    def name(request) -> str:
        target = request.headers.get("X-Amz-Target") or b""
        target = target.decode() if isinstance(target, bytes) else target
        if target:  # DynamoDB_20120810.Query, AmazonSQS.SendMessage
            service, _, op = target.partition(".")
            return f"{'DynamoDB' if service.startswith('DynamoDB') else 'SQS' if 'SQS' in service else service}.{op}"
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        action = urllib.parse.parse_qs(body).get("Action", ["?"])[0]   # the query protocol (older SQS)
        host = urllib.parse.urlsplit(request.url).netloc
        return f"{host}.{action}"

    def __enter__(self):
        from botocore.endpoint import Endpoint
        self._original, calls = Endpoint._send, self

        def counted(endpoint, request):
            calls.ops.append(calls.name(request))
            return calls._original(endpoint, request)
        Endpoint._send = counted
        return self

    def __exit__(self, *exc):
        from botocore.endpoint import Endpoint
        Endpoint._send = self._original


def _app(name: str) -> dict:
    return {"name": name, "repository": f"https://github.com/bench/{name}.git", "rules": [
        {"name": "run", "match": {"branch": "main"}, "target": {"type": "shell", "commands": [["true"]]}}]}


def _delivery(name: str, sha: str):
    import os

    from functions.dispatch import intake
    from functions.providers.github import sign
    body = json.dumps({"ref": "refs/heads/main", "after": sha, "created": False, "deleted": False,
                       "repository": {"full_name": f"bench/{name}",
                                      "clone_url": f"https://github.com/bench/{name}.git"}}).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Hook-ID": "1",
               "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": sign(os.environ[SECRET_ENV], body)}
    return intake.Delivery("github", headers, body)


def matched_delivery() -> tuple[list[str], str]:
    """(the calls of one matched push, its job id), after a first delivery that warms the process."""
    from functions.dispatch import intake
    from functions.store import app_store
    name = f"calls-{uuid.uuid4().hex[:8]}"
    app_store.save(_app(name))
    intake.receive(_delivery(name, "1" * 40))
    with Calls() as calls:
        answer = intake.receive(_delivery(name, "2" * 40))
    assert answer["status"] == "processed" and len(answer["jobs"]) == 1, answer
    return calls.ops, answer["jobs"][0]


def job_life(job_id: str) -> dict[str, list[str]]:
    """The calls of each step of one job's life, as the agent's requests make them (dispatch/agent_api)."""
    from functions.clock import now_iso
    from functions.dispatch import agent_api
    from functions.store.models import AgentModel
    agent = AgentModel(f"calls-agent-{uuid.uuid4().hex[:6]}", pool="default", targets=["shell"], started_at=now_iso())
    steps = {}
    with Calls() as calls:
        assert agent_api.claim(job_id, agent)["run"] is True
    steps["claim"] = calls.ops
    with Calls() as calls:
        agent_api.heartbeat(job_id, agent)
    steps["heartbeat"] = calls.ops
    with Calls() as calls:
        assert agent_api.finish(job_id, agent, {"state": "succeeded", "exit_code": 0})["state"] == "succeeded"
    steps["finish"] = calls.ops
    return steps


def measure() -> dict:
    """Warm first (a delivery and a job's life), then count one of each."""
    _, warm_job = matched_delivery()
    job_life(warm_job)
    delivery, job_id = matched_delivery()
    life = job_life(job_id)
    return {"matched_delivery": len(delivery), "delivery_calls": delivery,
            "job_life": sum(len(v) for v in life.values()), "job_life_calls": life}


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from harness import Daemons, start_aws  # noqa: PLC0415 - sets the environment before functions/ loads
    daemons = Daemons()
    try:
        start_aws(daemons)
        with contextlib.redirect_stdout(sys.stderr):
            got = measure()
        print("== AWS calls (warm, counted at botocore's send) ==")
        print(f"one matched webhook delivery: {got['matched_delivery']}  {' '.join(got['delivery_calls'])}")
        print(f"one job's life (claim, heartbeat, finish): {got['job_life']}")
        for step, ops in got["job_life_calls"].items():
            print(f"  {step}: {len(ops)}  {' '.join(ops)}")
    finally:
        daemons.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
