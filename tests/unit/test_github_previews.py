"""The pure side of a preview's feedback on GitHub: what a preview job's change says (transient
environment, URL, lane per pull request), the one comment's body in each state, and the
teardown's `inactive` status. The wire side: tests/functional/test_github_previews.py."""
import re

import pytest

from functions.notify import github, github_previews
from functions.store import outbox
from functions.notify.github import settings
from functions.store.models import JobModel

pytestmark = pytest.mark.unit
SHA = "b" * 40
S = settings({"TAHOBUDDY_PUBLIC_URL": "https://deploy.example.com"})
HOSTILE = "x`@admin <img src=x onerror=alert(1)>\n\n# owned [link](https://evil.example)`"


def preview_job(trigger="preview", state="queued", **kw) -> JobModel:
    return JobModel("J7", **{"sha": SHA, **kw}, app="blog", rule="previews", state=state, ref="refs/pull/7/head",
                    trigger=trigger, preview=7, target={"type": "docker", "name": "docker",
                                       "preview": {"number": 7, "hostname": "pr-7.blog.example.com"}})


def change(state="queued", teardown=False, **kw) -> dict:
    job = preview_job("teardown" if teardown else "preview", state, **kw)
    return {**outbox.snapshot(job, {"name": "blog", "hostname": "blog.example.com", "rules": []}),
            "repo": "octo/blog"}


def test_a_preview_change_is_a_transient_environment_at_its_own_hostname():
    c = change()
    assert (c["preview"], c["teardown"], c["environment"]) == (7, False, "blog-pr-7")
    assert c["environment_url"] == "https://pr-7.blog.example.com/"
    assert c["transient_environment"] is True and c["production_environment"] is False
    assert change(teardown=True)["teardown"] is True
    _, path, body = github.deployment(c)
    assert path == "/repos/octo/blog/deployments"
    assert body["transient_environment"] is True and body["production_environment"] is False
    assert body["environment"] == "blog-pr-7"
    live = github.deployment_status(S, {**c, "state": "succeeded"}, 5)[2]
    assert live["environment_url"] == "https://pr-7.blog.example.com/" and live["state"] == "success"


def test_a_release_is_not_a_preview():
    job = JobModel("J1", app="blog", rule="release", state="queued", ref="refs/tags/v1", sha=SHA, trigger="webhook",
                   target={"type": "docker", "name": "docker"})
    c = outbox.snapshot(job, {"name": "blog", "hostname": "blog.example.com", "rules": []})
    assert "preview" not in c and "transient_environment" not in github.deployment({**c, "repo": "o/r"})[2]


def test_previews_have_a_lane_per_pull_request_and_app_others_per_commit():
    assert outbox.lane_of("octo/blog", preview_job()) == "octo/blog#pr-7/blog"
    assert outbox.lane_of("octo/blog", preview_job("teardown", sha="c" * 40)) == "octo/blog#pr-7/blog"
    release = JobModel("J1", app="blog", sha=SHA, preview=0)
    assert outbox.lane_of("octo/blog", release) == f"octo/blog@{SHA}"
    assert outbox.lane_of("", release) == f"app/blog@{SHA}"


@pytest.mark.parametrize("state, kw, words", [
    ("queued", {}, "queued"),
    ("running", {}, "deploying"),
    ("succeeded", {}, "live"),
    ("failed", {"reason": "failed: build exited with 3"}, "failed"),
    ("failed", {"reason": "refused: comes from a fork", "reason_code": "refused"}, "refused"),
    ("canceled", {"reason": "canceled: by ann"}, "canceled"),
])
def test_the_comment_says_the_state_in_words(state, kw, words):
    body = github_previews.comment_body(S, change(state, **kw))
    assert body.startswith("<!-- tahobuddy:preview app=blog -->\n")
    assert f"**Preview of `blog`: {words}**" in body
    assert f"Commit `{SHA[:12]}`" in body and "[`J7`](https://deploy.example.com/api/v1/jobs/J7)" in body
    assert ("Served at https://pr-7.blog.example.com/" in body) == (words == "live")
    if kw.get("reason"):
        assert "`" + kw["reason"].split(": ", 1)[1] + "`" in body  # the reason, without its state repeated


def test_teardown_says_being_removed_then_removed():
    assert "**Preview of `blog`: being removed**" in github_previews.comment_body(S, change("running", teardown=True))
    assert "**Preview of `blog`: removed**" in github_previews.comment_body(S, change("succeeded", teardown=True))
    failed = github_previews.comment_body(S, change("failed", teardown=True, reason="failed: docker is down"))
    assert "removal failed" in failed and "`failed: docker is down`" in failed


def test_a_failed_push_says_when_the_previous_one_still_serves():
    failed = change("failed", reason="failed: build exited with 3")
    served = "The previous push still serves at https://pr-7.blog.example.com/"
    assert served in github_previews.comment_body(S, failed, still_served=True)
    assert served not in github_previews.comment_body(S, failed)
    assert served not in github_previews.comment_body(S, change("succeeded"), still_served=True)
    assert served not in github_previews.comment_body(S, change("failed", teardown=True), still_served=True)


def test_a_superseded_job_leaves_the_comment_to_the_newer_one():
    assert not github_previews.owes_comment(change("superseded"))
    assert github_previews.owes_comment(change("queued"))
    assert not github_previews.owes_comment({"state": "queued"})  # not a preview


def test_text_from_the_pull_request_side_renders_harmlessly():
    body = github_previews.comment_body(S, change("failed", reason=f"refused: from a fork ({HOSTILE})",
                                                  reason_code="refused"))
    why = next(line for line in body.splitlines() if line.startswith("Why: "))
    assert why.count("`") == 2 and why.startswith("Why: `") and why.endswith("`")  # one code span, whole line
    assert "@admin" in why and "<img" in why  # shown as text, inside the span: no mention, no HTML
    assert "\n# owned" not in body and "\n\n\n" not in body
    assert len(github_previews.code("y" * 1000)) == github_previews.USER_TEXT_LIMIT + 2
    assert github_previews.code("") == "" and github_previews.code("a\u2028b\x00c") == "`a b c`"


def test_no_public_url_shows_the_job_id_without_a_link():
    body = github_previews.comment_body(settings({}), change())
    assert "job `J7`" in body and "](" not in body


def test_comment_requests_and_the_inactive_status():
    c = change("succeeded", teardown=True)
    assert github_previews.create_comment(c, "hi") == ("POST", "/repos/octo/blog/issues/7/comments", {"body": "hi"})
    assert github_previews.update_comment(c, 42, "hi") == ("PATCH", "/repos/octo/blog/issues/comments/42",
                                                           {"body": "hi"})
    method, path, body = github_previews.inactive_status(S, c, 9)
    assert (method, path) == ("POST", "/repos/octo/blog/deployments/9/statuses")
    assert body == {"state": "inactive", "description": "preview removed", "environment": "blog-pr-7",
                    "log_url": "https://deploy.example.com/api/v1/jobs/J7"}
    assert re.fullmatch(r"<!-- tahobuddy:preview app=blog -->", github_previews.MARKER.format(app="blog"))
