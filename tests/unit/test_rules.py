import pytest

from functions.domain import apps, rules
from functions.errors import InvalidInput
from functions.domain.events import Action, WebhookEvent

SHA = "a" * 40


def ev(ref_type, name, action=None, base=""):
    action = action or (Action.BRANCH_PUSH if ref_type == "branch" else Action.TAG_CREATED)
    return WebhookEvent("push", action, ref_type=ref_type, ref_name=name, sha=SHA, base_branch=base)


def rule(**match):
    return rules.validate("rules[0]", {"match": match, "target": {"type": "docker"}}, 0)


@pytest.mark.parametrize("match, event, expected", [
    ({"branch": "development"}, ev("branch", "development"), True),
    ({"branch": "development"}, ev("branch", "development-2"), False),
    ({"branch": "feature/*"}, ev("branch", "feature/login"), True),
    ({"branch": "development"}, ev("tag", "development"), False),
    ({"tag": "release-*"}, ev("tag", "release-3"), True),
    ({"tag": "release-*"}, ev("tag", "Release-3"), False),
    ({"tag": "release-*"}, ev("tag", "release-3", Action.TAG_MOVED), True),
    ({"tag": "release-*"}, ev("branch", "release-3"), False),
    ({"tag_regex": r"v\d+\.\d+\.\d+"}, ev("tag", "v1.2.3"), True),
    ({"tag_regex": r"v\d+\.\d+\.\d+"}, ev("tag", "v1.2.3-rc1"), False),
    ({"branch_regex": "^(main|master)$"}, ev("branch", "master"), True),
    ({"tag": "release-*", "on_branch": "master"}, ev("tag", "release-3", base="master"), True),
    ({"tag": "release-*", "on_branch": "master"}, ev("tag", "release-3", base="dev"), False),
    ({"tag": "release-*", "on_branch": "master"}, ev("tag", "release-3"), False),
])
def test_evaluate(match, event, expected):
    assert rules.evaluate(rule(**match), event) is expected


def test_inert_events_never_match():
    r = rule(tag="*")
    assert not rules.evaluate(r, WebhookEvent("push", Action.DELETED, ref_type="tag", ref_name="x"))
    assert not rules.evaluate(r, WebhookEvent("ping", Action.PING))


def test_a_malformed_stored_rule_is_no_match():
    assert rules.evaluate({"target": {}}, ev("tag", "x")) is False


@pytest.mark.parametrize("doc, field", [
    ({"match": {}, "target": {"type": "docker"}}, "rules[0].match"),
    ({"match": {"branch": "a", "tag": "b"}, "target": {"type": "docker"}}, "rules[0].match"),
    ({"match": {"tag_regex": "("}, "target": {"type": "docker"}}, "rules[0].match.tag_regex"),
    ({"match": {"branch": "a", "on_branch": "m"}, "target": {"type": "docker"}}, "rules[0].match.on_branch"),
    ({"match": {"branch": "a"}}, "rules[0].target.type"),
    ({"match": {"branch": "a"}, "target": {"type": "ftp"}}, "rules[0].target.type"),
    ({"match": {"branch": "a"}, "target": {"type": "heroku", "api_key": "secret:K"}}, "rules[0].target.app"),
    ({"match": {"branch": "a"}, "target": {"type": "heroku", "app": "x", "api_key": "hunter2"}},
     "rules[0].target.api_key"),
    ({"match": {"branch": "a"}, "target": {"type": "shell", "commands": "make deploy"}}, "rules[0].target.commands"),
    ({"match": {"branch": "a"}, "target": {"type": "docker", "colour": "red"}}, "rules[0].target.colour"),
    ({"match": {"branch": "a"}, "target": {"type": "aws-ecs", "cluster": "c", "service": "s"}},
     "rules[0].target.repository"),
    ({"match": {"branch": "a"}, "target": {"type": "ansible"}}, "rules[0].target.playbook"),
    ({"match": {"branch": "a"}, "target": {"type": "docker", "build_secrets": {"token": "hunter2"}}},
     "rules[0].target.build_secrets.token"),
    ({"match": {"branch": "a"}, "target": {"type": "docker", "build_secrets": {"a,src=/x": "secret:T"}}},
     "rules[0].target.build_secrets.a,src=/x"),
    ({"match": {"branch": "a"}, "target": {"type": "docker", "build_secrets": ["secret:T"]}},
     "rules[0].target.build_secrets"),
])
def test_validation_names_the_bad_field(doc, field):
    with pytest.raises(InvalidInput) as err:
        rules.validate("rules[0]", doc, 0)
    assert err.value.field == field and str(err.value).startswith(field)


def test_build_secrets_are_secret_references_by_id():
    doc = {"match": {"branch": "a"}, "target": {"type": "docker", "build_secrets": {"npm.token": "secret:NPM_TOKEN"}}}
    assert rules.validate("r", doc, 0)["target"]["build_secrets"] == {"npm.token": "secret:NPM_TOKEN"}


def test_literal_secret_is_refused_without_echoing_it():
    doc = {"match": {"branch": "a"}, "target": {"type": "heroku", "app": "x", "api_key": "hunter2"}}
    with pytest.raises(InvalidInput) as err:
        rules.validate("r", doc, 0)
    assert "hunter2" not in str(err.value) and "secret:" in str(err.value)


APP = {"name": "blog", "repository": "https://github.com/me/blog.git", "hostname": "blog.example.com",
       "rules": [{"name": "dev", "match": {"branch": "development"}, "target": {"type": "docker"}},
                 {"name": "rel", "match": {"tag": "release-*", "on_branch": "master"},
                  "target": {"type": "heroku", "app": "blog-prod", "api_key": "secret:HEROKU_API_KEY"}}]}


def test_app_validation_fills_defaults():
    spec = apps.validate(APP)
    assert spec["port"] == 8080 and spec["path_prefix"] == "/"
    assert spec["rules"][0]["target"]["name"] == "docker" and spec["rules"][1]["target"]["method"] == "build"


@pytest.mark.parametrize("change, field", [
    ({"name": "Blog!"}, "name"), ({"repository": ""}, "repository"), ({"port": 70000}, "port"),
    ({"port": "80"}, "port"), ({"hostname": "bad host"}, "hostname"), ({"path_prefix": "x"}, "path_prefix"),
    ({"database": {"kind": "oracle"}}, "database.kind"), ({"rules": "x"}, "rules"), ({"colour": 1}, "colour"),
    ({"rules": [APP["rules"][0], APP["rules"][0]]}, "rules"),
])
def test_app_validation_names_the_bad_field(change, field):
    with pytest.raises(InvalidInput) as err:
        apps.validate({**APP, **change})
    assert err.value.field == field
