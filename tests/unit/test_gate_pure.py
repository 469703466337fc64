"""The gate's pure parts: which refs are a pull request's, the rule a preview's jobs carry (no build
secrets), retargeted pull requests as events, and that no module but the gate queues a job."""
import ast
import copy
import json
from pathlib import Path

import pytest

from functions.domain import previews
from functions.providers import github, gitlab
from functions.domain.events import Action

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "providers"


@pytest.mark.parametrize("ref, number", [("refs/pull/7/head", 7), ("refs/pull/7/merge", 7),
                                         ("refs/merge-requests/12/head", 12), ("refs/pull/x/head", 0),
                                         ("refs/pull/0/head", 0), ("refs/heads/pull/7/head", 0), ("main", 0)])
def test_the_pull_request_a_ref_names(ref, number):
    assert previews.number_of(ref) == number
    assert previews.pull_request_ref(ref) == ref.startswith(("refs/pull/", "refs/merge-requests/"))


def test_a_preview_jobs_rule_carries_no_build_secrets():
    rule = {"name": "previews", "match": {"pull_request": {"base": "main"}}, "preview": {"seed": ["./seed"]},
            "target": {"type": "docker", "name": "docker", "build_secrets": {"npm": "secret:NPM"}}}
    job = previews.job_rule({"hostname": "blog.example.com"}, rule, 3)
    assert "build_secrets" not in job["target"] and "build_secrets" in rule["target"]  # the app's rule unchanged
    assert job["target"]["preview"] == {"number": 3, "hostname": "pr-3.blog.example.com", "seed": ["./seed"]}


def test_a_rows_facts_get_the_same_fork_and_author_check_as_an_event():
    rule = {"preview": {}}
    assert "fork" in previews.refusal_for(rule, 7, True, "OWNER", "mallory:x")
    assert "association NONE" in previews.refusal_for(rule, 7, False, "NONE")
    assert previews.refusal_for(rule, 7, False, "MEMBER") == ""
    assert previews.refusal_for({"preview": {"allow_forks": True}}, 7, True, "NONE") == ""


def test_a_base_change_is_a_retarget_on_github_and_gitlab():
    doc = {"action": "edited", "number": 5, "changes": {"base": {"ref": {"from": "main"}}},
           "pull_request": {"number": 5, "head": {"sha": "a" * 40, "ref": "f", "repo": {"full_name": "o/r"}},
                            "base": {"ref": "develop"}, "author_association": "OWNER"},
           "repository": {"full_name": "o/r", "clone_url": "https://github.com/o/r.git"}}
    event = github.normalise("pull_request", doc)
    assert (event.action, event.pr_number, event.base_branch) == (Action.PR_RETARGETED, 5, "develop")
    title_only = {**copy.deepcopy(doc), "changes": {"title": {"from": "x"}}}
    assert github.normalise("pull_request", title_only).action == Action.IGNORED
    mr = json.loads((FIXTURES / "gitlab" / "merge_request.json").read_text())["payload"]
    mr["object_attributes"].update(action="update", target_branch="develop")
    mr["object_attributes"].pop("oldrev", None)
    mr["changes"] = {"target_branch": {"previous": "main", "current": "develop"}}
    assert gitlab.normalise("Merge Request Hook", mr).action == Action.PR_RETARGETED


def test_only_the_gate_queues_jobs():
    """Every way in passes dispatch/gate.py (STYLE §21): no other module calls enqueue.enqueue."""
    callers = []
    for path in (ROOT / "functions").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("enqueue.enqueue", "enqueue"):
                callers.append(str(path.relative_to(ROOT)))
    assert sorted(set(callers)) == ["functions/dispatch/gate.py"], callers


def test_a_previews_names_are_never_another_apps():
    """App x's preview 1 and an app named x-pr-1 once shared network, database, volume and route @id."""
    from functions.domain import apps
    from runners import docker_convert as convert
    from runners.proxy import route
    preview = (convert.network("x", 1), convert.db_name("x", 1), convert.db_volume("x", 1),
               route({"name": convert.preview_name("x", 1)}, "u")["@id"])
    app = (convert.network("x-pr-1"), convert.db_name("x-pr-1"), convert.db_volume("x-pr-1"),
           route({"name": "x-pr-1"}, "u")["@id"])
    assert preview == ("tahobuddy-x.pr-1", "tahobuddy-x.pr-1-db", "tahobuddy-x.pr-1-db-data", "tahobuddy-x.pr-1")
    assert not set(preview) & set(app)
    assert convert.PREVIEW_SEPARATOR not in "abcdefghijklmnopqrstuvwxyz0123456789-"
    with pytest.raises(Exception, match="lower-case letters"):
        apps.validate({"name": "x.pr-1", "repository": "o/r"})
    assert apps.preview_lookalike("x-pr-1") == ("x", 1) and apps.preview_lookalike("x-pr-1-pr-22") == ("x-pr-1", 22)
    assert apps.preview_lookalike("x-preview") is None and apps.preview_lookalike("pr-1") is None
