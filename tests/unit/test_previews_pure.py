"""Preview rules, who may get a preview, and what a preview job runs with: pure functions."""
import pytest

from functions.domain import apps, previews, rules
from functions.errors import InvalidInput
from functions.providers import github
from functions.domain.events import Action
from runners import docker_convert as convert
from runners.base import JobSpec

pytestmark = pytest.mark.unit
SHA = "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"


def pr(action="opened", fork=False, association="OWNER", base="main", number=7):
    head_repo = {"full_name": "someone/blog" if fork else "octo-org/blog", "fork": fork}
    return github.normalise("pull_request", {
        "action": action, "number": number, "repository": {"full_name": "octo-org/blog"},
        "pull_request": {"number": number, "author_association": association,
                         "head": {"ref": "feature", "sha": SHA, "repo": head_repo}, "base": {"ref": base}}})


def rule(**preview):
    doc = {"name": "previews", "match": {"pull_request": {"base": "ma*"}}, "target": {"type": "docker"}}
    if preview:
        doc["preview"] = preview
    return rules.validate("rules[0]", doc, 0)


def test_pull_request_actions_normalise_to_open_close_or_nothing():
    for action in ("opened", "reopened", "synchronize"):
        event = pr(action)
        assert (event.action, event.ref, event.sha, event.pr_number, event.base_branch) == (
            Action.PR_OPENED, "refs/pull/7/head", SHA, 7, "main")
    assert pr("closed").action == Action.PR_CLOSED
    assert pr("labeled").action == Action.IGNORED
    assert pr(fork=True).head_repo_is_fork and not pr().head_repo_is_fork
    broken = github.normalise("pull_request", {"action": "opened", "number": "x"})
    assert broken.action == Action.IGNORED


def test_a_preview_rule_has_defaults_and_matches_its_base_branch_only():
    r = rule()
    assert r["preview"] == {"hostname": "pr-{number}.{hostname}", "allow_forks": False, "max_previews": 3,
                            "expire_after_days": 7}
    assert rules.evaluate(r, pr()) and rules.evaluate(r, pr("closed"))
    assert not rules.evaluate(r, pr(base="develop")) and not rules.evaluate(r, pr("labeled"))
    branch_rule = rules.validate("r", {"match": {"branch": "main"}, "target": {"type": "docker"}}, 0)
    assert not rules.evaluate(branch_rule, pr())  # a branch rule never deploys a pull request
    assert previews.hostname({"hostname": "Blog.example.com"}, r, 7) == "pr-7.blog.example.com"


@pytest.mark.parametrize("doc, field, words", [
    ({"match": {"pull_request": {}}}, "match.pull_request.base", "is required"),
    ({"match": {"pull_request": {"base": "main"}, "branch": "x"}}, "match", "cannot be combined"),
    ({"match": {"branch": "main"}, "preview": {}}, "preview", "applies only"),
    ({"target": {"type": "shell", "commands": [["true"]]}}, "target.type", "docker targets"),
    ({"preview": {"hostname": "pr.example.com"}}, "preview.hostname", "must contain {number}"),
    ({"preview": {"hostname": "pr-{number}.{secret}"}}, "preview.hostname", "no placeholder"),
    ({"preview": {"max_previews": 0}}, "preview.max_previews", "at least 1"),
    ({"preview": {"allow_forks": "yes"}}, "preview.allow_forks", "true or false"),
    ({"preview": {"seed": "make seed"}}, "preview.seed", "list of strings"),
    ({"preview": {"ttl": 3}}, "preview.ttl", "unknown field"),
])
def test_bad_preview_rules_say_which_field_and_what_to_do(doc, field, words):
    full = {"name": "p", "match": {"pull_request": {"base": "main"}}, "target": {"type": "docker"}, **doc}
    with pytest.raises(InvalidInput) as err:
        rules.validate("rules[0]", full, 0)
    assert err.value.field == f"rules[0].{field}" and words in str(err.value), str(err.value)


def test_an_app_without_hostname_needs_a_template_without_it():
    doc = {"name": "blog", "repository": "octo-org/blog",
           "rules": [{"match": {"pull_request": {"base": "main"}}, "target": {"type": "docker"}}]}
    with pytest.raises(InvalidInput, match="the app has none"):
        apps.validate(doc)
    doc["rules"][0]["preview"] = {"hostname": "pr-{number}.preview.example.com"}
    assert apps.validate(doc)["rules"][0]["preview"]["hostname"] == "pr-{number}.preview.example.com"


def test_forks_and_outside_authors_are_refused_unless_the_rule_allows_them():
    strict, open_ = rule(), rule(allow_forks=True)
    assert previews.refusal(strict, pr()) == "" and previews.refusal(strict, pr(association="MEMBER")) == ""
    assert "from a fork" in previews.refusal(strict, pr(fork=True))
    assert "association CONTRIBUTOR" in previews.refusal(strict, pr(association="CONTRIBUTOR"))
    assert previews.refusal(open_, pr(fork=True, association="NONE")) == ""


def test_a_preview_job_runs_apart_from_the_app_and_without_secrets():
    spec = JobSpec("j1", "blog", "previews", {
        "type": "docker", "env": {"A": "1", "TOKEN": "secret:TOKEN"}, "build_secrets": {"npm": "secret:NPM"},
        "preview": {"number": 7, "hostname": "pr-7.blog.example.com"}}, "repo", "refs/pull/7/head", SHA,
        trigger="preview", app_spec={"name": "blog", "hostname": "blog.example.com",
                                     "env": {"B": "2", "KEY": "secret:KEY"}})
    run = convert.preview_spec(spec)
    assert run.preview == 7 and "build_secrets" not in run.target
    assert run.target["env"] == {"A": "1"} and run.app_spec["env"] == {"B": "2"}
    assert run.app_spec["hostname"] == "pr-7.blog.example.com" and run.app_spec["name"] == "blog.pr-7"
    kwargs = convert.run_kwargs(run, "img", {})
    assert "secret:" not in str(kwargs["environment"])
    assert kwargs["network"] == "tahobuddy-blog.pr-7" and kwargs["labels"]["tahobuddy.preview"] == "7"
    assert convert.route_key("blog", 7) == "blog#pr-7" and convert.route_key("blog") == "blog"
    db = convert.database_kwargs("blog", "postgres", "pg", "pw", 7)
    assert db["name"] == "tahobuddy-blog.pr-7-db" and "tahobuddy-blog.pr-7-db-data" in db["volumes"]
    assert convert.database_url("blog", "redis", "pw", 7) == "redis://tahobuddy-blog.pr-7-db:6379/0"
    main = JobSpec("j2", "blog", "release", {"type": "docker"}, "repo", "refs/tags/v1", SHA)
    assert main.preview == 0 and "tahobuddy.preview" not in convert.labels(main)
