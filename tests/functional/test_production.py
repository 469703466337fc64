"""The production commands as a user types them: `agent install-service` (checked by
systemd-analyze), `doctor` against the running API and moto server, and `infra deploy|destroy`
of the resources template to moto server through the same code path as a real deploy."""
import configparser
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from infra.template import FUNCTIONS
from tests.helpers import unique

pytestmark = pytest.mark.functional
ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "tahobuddy")


def tahobuddy(*args, env=None, timeout=300):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


# ---- agent install-service --------------------------------------------------------------
def test_install_service_writes_a_unit_systemd_accepts_and_refuses_to_overwrite_it(tmp_path):
    path, work = tmp_path / "tahobuddy-agent.service", tmp_path / "work"
    args = ["agent", "install-service", "--path", str(path), "--workdir", str(work), "--user", "tahobuddy",
            "--env-file", str(tmp_path / "agent.env"), "--config", str(tmp_path / "agent.yml")]
    first = tahobuddy(*args)
    assert first.returncode == 0, first.stderr
    assert "systemctl kill --kill-whom=main -s TERM" in first.stdout
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(path)
    assert unit["Service"]["ExecStart"] == f"{CLI} agent --config {tmp_path / 'agent.yml'}"
    assert unit["Service"]["ReadWritePaths"] == str(work) and unit["Install"]["WantedBy"] == "multi-user.target"
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (Debian's systemd package)"
    verify = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and "tahobuddy-agent" not in verify.stderr, verify.stderr

    path.write_text(path.read_text().replace("RestartSec=5", "RestartSec=7"))  # a user's edit
    again = tahobuddy(*args)
    assert again.returncode == 1 and "--force" in again.stderr and "RestartSec=7" in path.read_text()
    forced = tahobuddy(*args, "--force")
    assert forced.returncode == 0 and "RestartSec=5" in path.read_text()


# ---- doctor -----------------------------------------------------------------------------
def _lines(out: str) -> dict:
    rows = {}
    for line in out.splitlines():
        if line.startswith(" "):
            rows[last]["fix"] = line.strip()
            continue
        status, name = line.split()[:2]
        rows[name] = {"status": status, "line": line}
        last = name
    return rows


@pytest.fixture
def agent_env(api, agent_tokens, tmp_path, caddy):
    return {"TAHOBUDDY_API_URL": api.url, "TAHOBUDDY_AGENT_TOKEN": agent_tokens("spare"), "TAHOBUDDY_POOL": "spare",
            "TAHOBUDDY_WORKDIR": str(tmp_path / "agent"), "TAHOBUDDY_TARGETS": "shell",
            "TAHOBUDDY_PROXY_ADMIN": caddy.admin}


def test_doctor_says_ok_for_a_good_agent_setup(agent_env):
    r = tahobuddy("doctor", env=agent_env)
    rows = _lines(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert {k: v["status"] for k, v in rows.items()} == {
        "api": "ok", "token": "ok", "queue": "ok", "docker": "skipped", "caddy": "ok", "disk": "ok", "clock": "ok"}
    assert "agent token 'tests-spare' (pool 'spare')" in rows["token"]["line"]
    assert "tbtest-jobs-spare.fifo" in rows["queue"]["line"]


def test_doctor_checks_docker_and_skips_caddy_when_not_configured(agent_env):
    env = {**agent_env, "TAHOBUDDY_TARGETS": "docker,shell", "TAHOBUDDY_PROXY_ADMIN": ""}
    rows = _lines(tahobuddy("doctor", env=env).stdout)
    import docker
    live_restore = docker.from_env().info()["LiveRestoreEnabled"]  # the shared test engine runs without it
    assert rows["docker"]["status"] == ("ok" if live_restore else "warn"), rows["docker"]
    assert "Docker Engine" in rows["docker"]["line"] and f"live-restore {'on' if live_restore else 'off'}" in \
        rows["docker"]["line"]
    assert rows["caddy"]["status"] == "skipped"


def test_doctor_fails_a_wrong_token_and_an_unknown_pool_each_with_its_fix(agent_env, api):
    r = tahobuddy("doctor", env={**agent_env, "TAHOBUDDY_AGENT_TOKEN": "tb_agent_wrong", "TAHOBUDDY_POOL": "nowhere"})
    rows = _lines(r.stdout)
    assert r.returncode == 1
    assert rows["api"]["status"] == "ok"
    assert rows["token"]["status"] == "FAILED" and "tahobuddy token --role agent" in rows["token"]["fix"]
    assert rows["queue"]["status"] == "FAILED" and "'nowhere'" in rows["queue"]["line"]
    assert "TAHOBUDDY_POOL" in rows["queue"]["fix"]
    admin = tahobuddy("doctor", env={**agent_env, "TAHOBUDDY_AGENT_TOKEN": api.token})
    assert _lines(admin.stdout)["token"]["status"] == "FAILED" and "a admin token" in admin.stdout
    other = _lines(tahobuddy("doctor", env={**agent_env, "TAHOBUDDY_POOL": "home"}).stdout)["token"]
    assert other["status"] == "FAILED" and "is for pool 'spare'" in other["line"]
    assert "--pool home" in other["fix"]


def test_doctor_fails_an_api_that_does_not_answer(agent_env):
    from local import procs
    r = tahobuddy("doctor", env={**agent_env, "TAHOBUDDY_API_URL": f"http://127.0.0.1:{procs.free_port()}"})
    rows = _lines(r.stdout)
    assert r.returncode == 1 and rows["api"]["status"] == "FAILED" and "TAHOBUDDY_API_URL" in rows["api"]["fix"]
    assert rows["token"]["status"] == "skipped" and rows["clock"]["status"] == "skipped"


# ---- infra deploy / destroy -------------------------------------------------------------
def test_infra_deploys_updates_and_destroys_the_resources_stack_on_moto(moto, tmp_path):
    stack, bucket = unique("tb-stack"), unique("tb-artifacts")
    template = json.loads((ROOT / "infra" / "resources.json").read_text())
    # moto cannot run the SAM transform: deploy the resources without the functions and the roles chalice
    # completes for them (tables, queues, bucket, AgentPolicy), under names of this test's own
    doc = json.loads(json.dumps(template).replace("tahobuddy-prod-", f"{stack}-"))
    serverless = [k for k, v in doc["Resources"].items() if v["Type"].startswith("AWS::Serverless::")]
    for name in serverless + [f"{f}Role" for f in FUNCTIONS]:
        del doc["Resources"][name]
    (tmp_path / "resources.json").write_text(json.dumps(doc))
    args = ["infra", "deploy", "--stage", "test", "--stack-name", stack, "--bucket", bucket,
            "--template", str(tmp_path / "resources.json"), "--json"]
    first = tahobuddy(*args, env={"TAHOBUDDY_WEBHOOK_SECRET": ""})
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["status"] == "CREATE_COMPLETE" and "webhook secret" in first.stderr
    assert out["queue_urls"]["JobQueue"].endswith(f"{stack}-jobs.fifo") and out["agent_policy_arn"]
    assert out["webhook_url"] is None  # no API in a resources-only template

    kw = {"endpoint_url": moto, "region_name": "us-east-1"}
    sqs, s3, ddb = boto3.client("sqs", **kw), boto3.client("s3", **kw), boto3.client("dynamodb", **kw)
    attrs = sqs.get_queue_attributes(QueueUrl=out["queue_urls"]["JobQueue"], AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and '"maxReceiveCount"' in attrs["RedrivePolicy"].replace(" ", "")
    assert f"{stack}-jobs" in ddb.list_tables()["TableNames"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.startswith(f"{stack}/") and k.endswith(".template.json") for k in keys)

    second = tahobuddy(*args)  # the update path, secret kept (AWS says "no updates"; moto updates in place)
    assert second.returncode == 0, second.stderr
    again_out = json.loads(second.stdout)
    assert again_out["status"] in ("UPDATE_COMPLETE", "CREATE_COMPLETE") and "creating" not in second.stderr
    assert again_out["queue_urls"] == out["queue_urls"]

    gone = tahobuddy("infra", "destroy", "--stage", "test", "--stack-name", stack)
    assert gone.returncode == 0, gone.stderr
    cfn = boto3.client("cloudformation", **kw)
    assert not [s for s in cfn.list_stacks()["StackSummaries"]
                if s["StackName"] == stack and s["StackStatus"] != "DELETE_COMPLETE"]
    again = tahobuddy("infra", "destroy", "--stage", "test", "--stack-name", stack)
    assert again.returncode == 1 and "nothing to destroy" in again.stderr


# ---- the agent's image and ECS service ----------------------------------------------------
def test_agent_ecs_template_is_current_and_passes_cfn_lint():
    built = subprocess.run([sys.executable, "-m", "infra.agent_ecs"], cwd=ROOT, capture_output=True, text=True,
                           check=True, timeout=60).stdout
    assert json.loads(built) == json.loads((ROOT / "infra" / "agent-ecs.json").read_text()), \
        "run: python -m infra.agent_ecs > infra/agent-ecs.json"
    # W1030: the Fargate-only Subnets/SecurityGroups default to empty, unused with the EC2 launch type
    lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "--ignore-checks", "W1030", "--",
                           str(ROOT / "infra" / "agent-ecs.json")], capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    res = json.loads(built)["Resources"]
    assert res["AgentTaskRole"]["Properties"]["ManagedPolicyArns"] == [{"Ref": "AgentPolicyArn"}]
    volumes = res["AgentTaskDefinition"]["Properties"]["Volumes"]["Fn::If"]
    assert volumes[0] == "IsFargate" and volumes[1] == {"Ref": "AWS::NoValue"}  # Fargate: no docker socket
    assert volumes[2][0]["Host"]["SourcePath"] == "/var/run/docker.sock"  # EC2: the host's engine


def test_agent_dockerfile_installs_only_the_agent_and_runs_it_as_a_non_root_docker_user():
    """Static checks only: no base image can be pulled on these machines, so it is not built here."""
    lines = [line.strip() for line in (ROOT / "infra" / "agent.Dockerfile").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    joined = " ".join(line.rstrip("\\").strip() for line in lines)
    assert lines[0] == "FROM python:3.11-slim"
    assert 'pip install --no-cache-dir ".[agent]"' in joined
    assert "--groups docker" in joined and "USER tahobuddy" in lines
    assert lines.index("USER tahobuddy") < lines.index('ENTRYPOINT ["tahobuddy", "agent"]') == len(lines) - 1
    copied = {line.split()[1] for line in lines if line.startswith("COPY")}
    packages = {"contract", "functions", "runners", "agent", "cli", "local", "infra"}
    assert packages <= copied  # every package pyproject.toml ships
