"""The JSON Schema an editor checks tahobuddy.yaml with, and the API's validator, agree: they accept the
same examples and refuse the same broken documents (the API naming the field). What only code can
check is listed here by name, so the schema's gap is known and cannot grow unnoticed."""
import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from functions.domain import apps, schema

pytestmark = pytest.mark.functional
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
COMMITTED = ROOT / "schema" / "tahobuddy.schema.json"

BASE = {"name": "blog", "repository": "https://github.com/me/blog.git", "hostname": "blog.example.com",
        "rules": [{"name": "release", "match": {"tag": "release-*"}, "target": {"type": "docker"}}]}
PR_RULE = {"name": "previews", "match": {"pull_request": {"base": "main"}}, "target": {"type": "docker"}}


def app(**change) -> dict:
    """BASE with top-level keys replaced (None deletes one)."""
    out = copy.deepcopy(BASE)
    for key, value in change.items():
        out.pop(key, None) if value is None else out.__setitem__(key, value)
    return out


def rule(**change) -> dict:
    one = copy.deepcopy(BASE["rules"][0])
    for key, value in change.items():
        one.pop(key, None) if value is None else one.__setitem__(key, value)
    return app(rules=[one])


def target(**fields) -> dict:
    return rule(target=fields)


# (document's apps[0], the field the API names)
BROKEN = [
    (app(name=None), "name"), (app(name="Blog!"), "name"), (app(repository=None), "repository"),
    (app(colour="red"), "colour"), (app(port=0), "port"), (app(port=70000), "port"), (app(port="80"), "port"),
    (app(path_prefix="blog"), "path_prefix"), (app(hostname="bad host"), "hostname"),
    (app(database={"kind": "oracle"}), "database.kind"), (app(database={"kind": "postgres", "size": 1}),
                                                          "database.size"),
    (app(env={"A": [1]}), "env"), (app(env="x"), "env"), (app(rules="x"), "rules"),
    (rule(match=None), "rules[0].match"), (rule(target=None), "rules[0].target.type"),
    (rule(match={}), "rules[0].match"), (rule(match={"branch": "a", "tag": "b"}), "rules[0].match"),
    (rule(match={"branch": "a", "on_branch": "main"}), "rules[0].match.on_branch"),
    (rule(match={"tag": "v*", "colour": 1}), "rules[0].match.colour"), (rule(colour=1), "rules[0].colour"),
    (rule(name="bad name!"), "rules[0].name"), (rule(production_environment="yes"),
                                                "rules[0].production_environment"),
    (target(), "rules[0].target.type"), (target(type="k8s"), "rules[0].target.type"),
    (target(type="heroku", api_key="secret:K"), "rules[0].target.app"),
    (target(type="heroku", app="x", api_key="hunter2"), "rules[0].target.api_key"),
    (target(type="heroku", app="x", api_key="secret:K", method="git"), "rules[0].target.method"),
    (target(type="shell", commands="make deploy"), "rules[0].target.commands"),
    (target(type="shell", commands=[["make"]], network="host", image="x"), "rules[0].target.network"),
    (target(type="shell", commands=[["make"]], cpus=1), "rules[0].target.cpus"),
    (target(type="shell", commands=[["make"]], image="x", memory="lots"), "rules[0].target.memory"),
    (target(type="docker", colour=1), "rules[0].target.colour"),
    (target(type="docker", commands=[["make"]]), "rules[0].target.commands"),
    (target(type="aws-ecs", cluster="c", service="s"), "rules[0].target.repository"),
    (target(type="ansible"), "rules[0].target.playbook"),
    (target(type="docker", build_secrets={"token": "x"}), "rules[0].target.build_secrets.token"),
    (target(type="docker", build_secrets={"a,src=/x": "secret:A"}), "rules[0].target.build_secrets.a,src=/x"),
    (target(type="docker", build_secrets={}), "rules[0].target.build_secrets"),
    (target(type="docker", quiet_period=90000), "rules[0].target.quiet_period"),
    (target(type="docker", timeout=-1), "rules[0].target.timeout"),
    (target(type="docker", name="Web_1"), "rules[0].target.name"),
    (target(type="docker", volumes={"Data!": "/data"}), "rules[0].target.volumes.Data!"),
    (target(type="docker", volumes={"data": "data"}), "rules[0].target.volumes.data"),
    (target(type="docker", volumes={"data": "/"}), "rules[0].target.volumes.data"),
    (target(type="docker", volumes={"data": "/a:/b"}), "rules[0].target.volumes.data"),
    (target(type="docker", pids=4), "rules[0].target.pids"),
    (target(type="docker", log_driver="syslog"), "rules[0].target.log_driver"),
    (app(rules=[{**PR_RULE, "target": {"type": "shell", "commands": [["make"]]}}]), "rules[0].target.type"),
    (rule(preview={"max_previews": 2}), "rules[0].preview"),
    (app(rules=[{**PR_RULE, "preview": {"colour": 1}}]), "rules[0].preview.colour"),
    (app(rules=[{**PR_RULE, "preview": {"max_previews": 0}}]), "rules[0].preview.max_previews"),
    (app(rules=[{**PR_RULE, "match": {"pull_request": {}}}]), "rules[0].match.pull_request.base"),
    (app(rules=[{**PR_RULE, "match": {"pull_request": {"base": "main"}, "branch": "x"}}]), "rules[0].match"),
    (app(notify="x"), "notify"), (app(notify=[{"type": "email", "url": "secret:U"}]), "notify[0].type"),
    (app(notify=[{"type": "slack", "url": "https://hooks.slack.com/x"}]), "notify[0].url"),
    (app(notify=[{"type": "webhook", "url": "secret:U"}]), "notify[0].secret"),
    (app(notify=[{"type": "slack", "url": "secret:U", "secret": "secret:K"}]), "notify[0].secret"),
    (app(notify=[{"type": "slack", "url": "secret:U", "states": []}]), "notify[0].states"),
    (app(notify=[{"type": "slack", "url": "secret:U", "states": ["done"]}]), "notify[0].states"),
    (app(notify=[{"type": "slack", "url": "secret:U", "colour": 1}]), "notify[0].colour"),
]

# What takes code to check: the schema lets these through, the API (and `tahobuddy validate`) does not.
ONLY_THE_API = [
    (rule(match={"tag_regex": "(a)\\1"}), "rules[0].match.tag_regex"),             # RE2 refuses a backreference
    (rule(match={"branch": "x" * 1001}), "rules[0].match.branch"),                  # longer than RE2's limit here
    (app(rules=[BASE["rules"][0], BASE["rules"][0]]), "rules"),                     # duplicate rule names
    (app(repository="   "), "repository"),                                          # no repository identity
    (app(rules=[{**PR_RULE, "preview": {"hostname": "pr.example.com"}}]), "rules[0].preview.hostname"),
    (app(hostname=None, rules=[PR_RULE]), "rules[0].preview.hostname"),             # {hostname} with none set
    (target(type="shell", commands=[["make"]], image="x", memory="1k"), "rules[0].target.memory"),  # < 6m
    (target(type="shell", commands=[["make"]], image="x", cpus="lots"), "rules[0].target.cpus"),
    (target(type="docker", pool="nowhere"), "rules[0].target.pool"),                # pools are declared per API
    (target(type="docker", memory="1k"), "rules[0].target.memory"),                 # below Docker's 6m
    (target(type="docker", timeout=120), "rules[0].target.watch_seconds"),          # the watch outlasts the job
]


def schema_accepts(doc) -> bool:
    return jsonschema.Draft202012Validator(schema.document()).is_valid(doc)


def api_problems(doc) -> list[str]:
    return apps.validate_file(doc)


def test_the_committed_schema_is_the_generated_one_and_a_valid_schema():
    committed = json.loads(COMMITTED.read_text())
    jsonschema.Draft202012Validator.check_schema(committed)
    assert committed == schema.document(), "schema/tahobuddy.schema.json is out of date: run python docs/gen.py"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_both_accept_every_example_and_it_names_the_schema(path):
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=../schema/tahobuddy.schema.json\n")
    doc = yaml.safe_load(text)
    assert api_problems(doc) == []
    errors = [e.message for e in jsonschema.Draft202012Validator(schema.document()).iter_errors(doc)]
    assert errors == []


def test_there_are_examples_of_every_target_type_and_rule_kind():
    docs = [yaml.safe_load(p.read_text()) for p in EXAMPLES]
    rules = [r for d in docs for a in d["apps"] for r in a["rules"]]
    assert {r["target"]["type"] for r in rules} == {"docker", "shell", "heroku", "aws-ecs", "ansible"}
    assert {k for r in rules for k in r["match"]} >= {"branch", "tag", "tag_regex", "on_branch", "pull_request"}


@pytest.mark.parametrize("broken,field", BROKEN, ids=lambda x: x if isinstance(x, str) else "")
def test_both_refuse_a_broken_document(broken, field):
    doc = {"apps": [broken]}
    problems = api_problems(doc)
    assert len(problems) == 1 and problems[0].split(": ")[1] == field, problems  # "apps[0] (blog): FIELD: why"
    assert not schema_accepts(doc), f"the schema accepts what the API refuses: {problems[0]}"


@pytest.mark.parametrize("broken,field", ONLY_THE_API, ids=lambda x: x if isinstance(x, str) else "")
def test_what_only_the_api_checks(broken, field):
    doc = {"apps": [broken]}
    problems = api_problems(doc)
    assert len(problems) == 1 and problems[0].split(": ")[1] == field, problems
    assert schema_accepts(doc), "the schema refuses this now: move it to BROKEN"


@pytest.mark.parametrize("doc", [{}, {"apps": "x"}, {"apps": [], "extra": 1}, [], None])
def test_both_refuse_a_file_that_is_no_list_of_apps(doc):
    assert api_problems(doc) and not schema_accepts(doc)
