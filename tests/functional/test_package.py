"""The Lambda zip from `chalice package` holds every module the functions import,
and the merged CloudFormation passes cfn-lint."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# One worker builds the package once for the module: `chalice package` caches the zip it builds in the project's
# .chalice/deployments/ and reuses one that exists, so a second worker's build read the first's half-written zip
# (BadZipFile in a two-worker run).
pytestmark = [pytest.mark.functional, pytest.mark.xdist_group("chalice-package")]


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    out = tmp_path_factory.mktemp("package") / "out"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run([str(Path(sys.executable).parent / "chalice"), "package", "--stage", "prod",
                    "--merge-template", "infra/resources.json", str(out)],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    return out


def test_zip_imports_the_app_in_a_clean_interpreter(package, tmp_path):
    with zipfile.ZipFile(package / "deployment.zip") as z:
        z.extractall(tmp_path)
    probe = ("import sys; sys.path[:0] = [sys.argv[1]]; import app, functions.app as f; "
             "import functions, pkgutil; mods = [m.name[len('functions.'):] for m in "
             "pkgutil.walk_packages(functions.__path__, 'functions.') if not m.ispkg]; "
             "[__import__('functions.' + m) for m in mods]; import contract; "
             "[__import__('contract.' + m.name) for m in pkgutil.iter_modules(contract.__path__)]; "
             "assert sys.modules['contract'].__file__.startswith(sys.argv[1]); "
             "import functions.domain.patterns as p; import jwt, cryptography, functions.notify.sender; assert p.regex('(a+)+b').fullmatch('a' * 40 + 'c') is None; "
             "assert '/api/v1/hooks/github' in app.app.routes and '/api/v1/hooks/forgejo' in app.app.routes; print(len(app.app.routes), sorted(mods)); assert all(p.startswith(sys.argv[1]) for p in "
             "[app.__file__, f.__file__, sys.modules['pynamodb'].__file__, sys.modules['boto3'].__file__])")
    # -I: no user site, no PYTHON* variables; -S: no site-packages. Only the unzipped folder.
    run = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(tmp_path)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, env={"AWS_DEFAULT_REGION": "us-east-1"})
    assert run.returncode == 0, run.stderr
    shipped = set(json.loads(run.stdout.split(" ", 1)[1].replace("'", '"')))
    on_disk = {".".join(p.relative_to(ROOT / "functions").with_suffix("").parts)
               for p in (ROOT / "functions").rglob("*.py") if p.stem != "__init__"}  # box folders too
    assert shipped == on_disk


def test_zip_ships_the_dashboard_its_assets_and_serves_them(package, tmp_path):
    """Every file of functions/dashboard/ (modules, CSS, JS) is in the zip, and the unzipped app
    answers /assets/dashboard.js with the shipped file's text: no CDN, nothing fetched at run time."""
    on_disk = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "functions" / "dashboard").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts)
    assert any(n.endswith(".js") for n in on_disk) and any(n.endswith(".css") for n in on_disk)
    with zipfile.ZipFile(package / "deployment.zip") as z:
        names = set(z.namelist())
        z.extractall(tmp_path)
    assert [n for n in on_disk if n not in names] == []
    probe = ("import sys; sys.path[:0] = [sys.argv[1]]; import app; "  # the event API Gateway sends
             "e = {'requestContext': {'httpMethod': 'GET', 'resourcePath': '/assets/{name}', 'stage': 'api', "
             "'path': '/api/assets/dashboard.js'}, 'headers': {}, 'pathParameters': {'name': 'dashboard.js'}, "
             "'multiValueQueryStringParameters': None, 'body': None, 'stageVariables': {}}; "
             "r = app.app(e, None); "
             "assert r['statusCode'] == 200 and r['headers']['Content-Type'].startswith('text/javascript'), r; "
             "sys.stdout.write(r['body'])")
    run = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(tmp_path)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, env={"AWS_DEFAULT_REGION": "us-east-1",
                                                         "TAHOBUDDY_WEBHOOK_SECRET": "x"})
    assert run.returncode == 0, run.stderr
    assert run.stdout == (ROOT / "functions" / "dashboard" / "assets" / "dashboard.js").read_text()


def test_merged_template_passes_cfn_lint_and_declares_the_resources(package):
    lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(package / "sam.json")],
                          capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    resources = json.loads((package / "sam.json").read_text())["Resources"]
    kinds = [r["Type"] for r in resources.values()]
    from functions.store.models import ALL_MODELS
    assert kinds.count("AWS::DynamoDB::Table") == len(ALL_MODELS) and kinds.count("AWS::SQS::Queue") == 2
    assert resources["JobQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] >= 1
    actions = [a for role in ("ApiHandlerRole", "SweepEveryMinuteRole")
               for s in resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
               for a in s["Action"]]
    assert "dynamodb:UpdateItem" in actions and "sqs:ReceiveMessage" in actions  # both roles have the sweeper's
    sweeper = resources["SweepEveryMinute"]["Properties"]["Environment"]["Variables"]
    assert sweeper["TAHOBUDDY_POOLS"] == "default" and sweeper["TAHOBUDDY_PREFIX"] == "tahobuddy-prod"
    assert not any(a.endswith("*") for a in actions), actions  # least privilege: no wildcard actions
    stream = resources["DeliverOutbox"]["Properties"]["Events"]["DeliverOutboxDynamodbEventSource"]["Properties"]
    assert stream["Stream"] == {"Fn::GetAtt": ["OutboxTable", "StreamArn"]}  # the outbox wakes the sender
    assert resources["OutboxTable"]["Properties"]["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"


def test_resources_json_is_built_from_the_current_models():
    env = {k: v for k, v in os.environ.items() if k not in ("TAHOBUDDY_POOLS", "TAHOBUDDY_PREFIX")}
    built = subprocess.run([sys.executable, "-m", "infra.template"], cwd=ROOT, capture_output=True, text=True,
                           check=True, timeout=60, env=env).stdout
    assert json.loads(built) == json.loads((ROOT / "infra" / "resources.json").read_text()), \
        "run: python -m infra.template > infra/resources.json"


def test_each_declared_pool_gets_a_queue_and_dead_letter_queue_the_roles_can_reach():
    env = {**{k: v for k, v in os.environ.items() if k != "TAHOBUDDY_PREFIX"}, "TAHOBUDDY_POOLS": "home,ecs-fargate"}
    doc = json.loads(subprocess.run([sys.executable, "-m", "infra.template"], cwd=ROOT, capture_output=True,
                                    text=True, check=True, timeout=60, env=env).stdout)
    res = doc["Resources"]
    names = sorted(r["Properties"]["QueueName"] for r in res.values() if r["Type"] == "AWS::SQS::Queue")
    assert names == sorted(f"tahobuddy-prod-{n}.fifo" for n in (
        "jobs", "jobs-dlq", "jobs-home", "jobs-home-dlq", "jobs-ecs-fargate", "jobs-ecs-fargate-dlq"))
    for policy, queue_logical in (("AgentPolicy", "JobQueue"), ("AgentPolicyHome", "JobQueueHome"),
                                  ("AgentPolicyEcsFargate", "JobQueueEcsFargate")):
        agent = res[policy]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"]
        assert [a["Fn::GetAtt"][0] for a in agent] == [queue_logical]
    assert res["APIHandler"]["Properties"]["Environment"]["Variables"]["TAHOBUDDY_POOLS"] == "default,home,ecs-fargate"


def test_each_pool_has_an_agent_policy_that_names_only_its_own_queue():
    """An agent of pool `home` holds credentials that reach the home queue and no other: a policy per
    pool, and no agent policy that lists two pools' queues."""
    env = {**{k: v for k, v in os.environ.items() if k != "TAHOBUDDY_PREFIX"}, "TAHOBUDDY_POOLS": "home,ecs-fargate"}
    doc = json.loads(subprocess.run([sys.executable, "-m", "infra.template"], cwd=ROOT, capture_output=True,
                                    text=True, check=True, timeout=60, env=env).stdout)
    res = doc["Resources"]
    queues = {r["Properties"]["QueueName"]: logical for logical, r in res.items()
              if r["Type"] == "AWS::SQS::Queue" and not logical.startswith("JobDeadLetterQueue")}
    own = {"default": queues["tahobuddy-prod-jobs.fifo"], "home": queues["tahobuddy-prod-jobs-home.fifo"],
           "ecs-fargate": queues["tahobuddy-prod-jobs-ecs-fargate.fifo"]}
    policies = {logical: r for logical, r in res.items() if r["Type"] == "AWS::IAM::ManagedPolicy"}
    by_pool = {}
    for logical, policy in policies.items():
        named = {a["Fn::GetAtt"][0] for s in policy["Properties"]["PolicyDocument"]["Statement"]
                 for a in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])}
        assert len(named) == 1, (logical, named)  # one queue per agent policy, never every pool's
        by_pool[logical] = named.pop()
    assert sorted(by_pool.values()) == sorted(own.values())
    for pool, queue in own.items():
        [logical] = [p for p, q in by_pool.items() if q == queue]
        assert pool in policies[logical]["Properties"]["Description"]
        assert doc["Outputs"][f"{logical}Arn"] == {"Value": {"Ref": logical}}
    assert "AgentPolicyArn" in doc["Outputs"]  # the default pool's, under the name it always had
