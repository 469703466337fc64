import pytest

from functions.domain import refs
from contract.states import ENDED
from functions.store.jobs import TRANSITIONS, JobState, allowed


NAMES = [
    ("release-3", True), ("release-$(touch${IFS}x)", True), ("release-$(touch x)", False), ("v1;id", True), ("v1.0;rm -rf ~", False), ("a b", False),
    ("feature/login", True), ("a..b", False), ("-rf", False), ("x.lock", False), ("x/", False),
    ("@", False), ("a@{1}", False), (".hidden", False), ("back`tick`", True), ("a\nb", False), ("a|b", True),
]


@pytest.mark.parametrize("name, ok", NAMES + [("", False)])
def test_ref_names_follow_git(name, ok):
    assert refs.valid_name(name) is ok


@pytest.mark.parametrize("url", [
    "https://github.com/Me/Blog.git", "git@github.com:me/blog.git", "ssh://git@github.com/me/blog",
    "git://github.com/me/blog.git", "https://github.com/me/blog", "me/blog", "https://api.github.com/repos/me/blog",
])
def test_repository_forms_agree(url):
    assert refs.repo_key(url) == "github.com/me/blog"


def test_local_repositories_keep_their_path():
    assert refs.repo_key("file:///srv/git/blog.git") == "/srv/git/blog"
    assert refs.repo_key("/srv/git/blog.git/") == "/srv/git/blog"


def test_the_ended_states_are_those_the_table_ends_in():
    # contract's ENDED names the states a user reads as "ended"; the table must agree
    assert {s for s, nxt in TRANSITIONS.items() if not nxt} == ENDED == {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED, JobState.SUPERSEDED,
                        JobState.SKIPPED}


S = JobState
# The whole table, written out: a change to TRANSITIONS must change this test too.
EXPECTED = {
    S.AWAITING_APPROVAL: {S.QUEUED, S.FROZEN, S.CANCELED, S.SUPERSEDED},  # approved (in a freeze: frozen);
    S.FROZEN: {S.QUEUED, S.CANCELED, S.SUPERSEDED},              # rejected or timed out; a newer job
    S.QUEUED: {S.RUNNING, S.FAILED, S.CANCELED, S.SUPERSEDED},
    S.RUNNING: {S.RUNNING, S.QUEUED, S.SUCCEEDED, S.FAILED, S.CANCELED, S.SUPERSEDED, S.SKIPPED},
}


@pytest.mark.parametrize("src", list(JobState))
@pytest.mark.parametrize("dst", list(JobState))
def test_every_move_is_allowed_exactly_as_written(src, dst):
    assert allowed(src, dst) is (dst in EXPECTED.get(src, set()))


def test_no_move_skips_running_to_an_outcome():
    assert not allowed(S.QUEUED, S.SUCCEEDED)  # only an agent that ran it can say it succeeded
    assert allowed(S.QUEUED, S.FAILED)  # gave up before it ever ran (attempts, dead-lettered, app deleted)
