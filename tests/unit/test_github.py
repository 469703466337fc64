import json

import pytest

from functions.errors import InvalidInput
from functions.domain.events import Action
from functions.providers.base import decode_body
from functions.providers.github import normalise

SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
REPO = {"full_name": "me/blog", "clone_url": "https://github.com/me/blog.git"}


def push(ref, **kw):
    return {"ref": ref, "after": SHA, "created": False, "deleted": False, "repository": REPO, **kw}


def test_branch_push():
    e = normalise("push", push("refs/heads/development"))
    assert (e.action, e.ref_type, e.ref_name, e.sha, e.repository) == (
        Action.BRANCH_PUSH, "branch", "development", SHA, "me/blog")
    assert e.ref == "refs/heads/development" and e.deployable


def test_new_tag_and_moved_tag():
    assert normalise("push", push("refs/tags/release-3", created=True)).action == Action.TAG_CREATED
    assert normalise("push", push("refs/tags/release-3", forced=True)).action == Action.TAG_MOVED


def test_tag_pushed_at_a_branch_head_knows_the_branch():
    assert normalise("push", push("refs/tags/v1", created=True, base_ref="refs/heads/master")).base_branch == "master"


@pytest.mark.parametrize("doc", [
    push("refs/tags/x", deleted=True, after="0" * 40), push("refs/heads/x", deleted=True, after="0" * 40)])
def test_deletions_deploy_nothing(doc):
    e = normalise("push", doc)
    assert e.action == Action.DELETED and not e.deployable and "deleted" in e.reason


def test_create_tag_has_no_commit_and_create_branch_is_left_to_push():
    tag = normalise("create", {"ref": "release-1", "ref_type": "tag", "repository": REPO})
    assert tag.action == Action.TAG_CREATED and tag.sha == "" and tag.ref == "refs/tags/release-1"
    branch = normalise("create", {"ref": "feature", "ref_type": "branch", "repository": REPO})
    assert branch.action == Action.IGNORED and "push" in branch.reason


def test_delete_event_and_ping_and_unknown_types():
    assert normalise("delete", {"ref": "v1", "ref_type": "tag", "repository": REPO}).action == Action.DELETED
    assert normalise("ping", {"zen": "x"}).action == Action.PING
    other = normalise("issues", {"action": "opened"})
    assert other.action == Action.IGNORED and "'issues' is not acted on" in other.reason


@pytest.mark.parametrize("doc", [
    {}, {"ref": 42}, {"ref": None, "after": None}, {"ref": "refs/heads/x", "after": "zzz"},
    {"ref": "refs/remotes/origin/x", "after": SHA}, {"ref": "refs/heads/a..b", "after": SHA},
    {"ref": "refs/tags/bad\nname", "after": SHA, "created": True},
])
def test_odd_payloads_are_inert_never_errors(doc):
    e = normalise("push", doc)
    assert not e.deployable and e.reason


def test_injection_shaped_tag_is_a_valid_ref_kept_verbatim():
    e = normalise("push", push("refs/tags/release-$(touch${IFS}x)", created=True))
    assert e.deployable and e.ref_name == "release-$(touch${IFS}x)"


def test_a_repository_that_is_not_an_object_just_matches_no_app():
    e = normalise("push", push("refs/heads/x", repository="not-a-dict"))
    assert e.repository == "" and e.repo_urls == ()


def test_decode_json_and_form_bodies():
    doc = {"ref": "refs/heads/main"}
    assert decode_body(json.dumps(doc).encode(), "application/json; charset=utf-8") == doc
    form = b"payload=" + json.dumps(doc).replace(" ", "+").encode()
    assert decode_body(form, "application/x-www-form-urlencoded") == doc


@pytest.mark.parametrize("body, ctype, field", [
    (b"{nope", "application/json", "body"), (b"[1,2]", "application/json", "body"),
    (b"{}", "text/plain", "Content-Type"), (b"x=1", "application/x-www-form-urlencoded", "body"),
    (b"\xff\xfe", "application/json", "body"),
])
def test_decode_rejects_bad_bodies_with_the_field(body, ctype, field):
    with pytest.raises(InvalidInput) as err:
        decode_body(body, ctype)
    assert err.value.field == field
