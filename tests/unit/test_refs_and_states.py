import subprocess

import pytest

from functions import refs
from functions.jobs import TERMINAL, TRANSITIONS, JobState, allowed


NAMES = [
    ("release-3", True), ("release-$(touch${IFS}x)", True), ("release-$(touch x)", False), ("v1;id", True), ("v1.0;rm -rf ~", False), ("a b", False),
    ("feature/login", True), ("a..b", False), ("-rf", False), ("x.lock", False), ("x/", False),
    ("@", False), ("a@{1}", False), (".hidden", False), ("back`tick`", True), ("a\nb", False), ("a|b", True),
]


@pytest.mark.parametrize("name, ok", NAMES + [("", False)])
def test_ref_names_follow_git(name, ok):
    assert refs.valid_name(name) is ok


# Stricter than check-ref-format on purpose: a leading '-' (refused by `git tag` too, and an
# option in argv) and a bare '@'.
STRICTER = {"-rf", "@"}


@pytest.mark.parametrize("name, _", [(n, ok) for n, ok in NAMES if n not in STRICTER])
def test_ref_names_agree_with_git_itself(name, _):
    # git's own rule for a tag: check-ref-format of refs/tags/NAME, argv only
    git = subprocess.run(["git", "check-ref-format", f"refs/tags/{name}"], capture_output=True).returncode == 0
    assert refs.valid_name(name) is git


@pytest.mark.parametrize("url", [
    "https://github.com/Me/Blog.git", "git@github.com:me/blog.git", "ssh://git@github.com/me/blog",
    "git://github.com/me/blog.git", "https://github.com/me/blog", "me/blog", "https://api.github.com/repos/me/blog",
])
def test_repository_forms_agree(url):
    assert refs.repo_key(url) == "github.com/me/blog"


def test_local_repositories_keep_their_path():
    assert refs.repo_key("file:///srv/git/blog.git") == "/srv/git/blog"
    assert refs.repo_key("/srv/git/blog.git/") == "/srv/git/blog"


def test_terminal_states_have_no_way_out():
    assert TERMINAL == {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED, JobState.SUPERSEDED}
    for s in TERMINAL:
        assert not any(allowed(s, d) for d in JobState)


def test_table_covers_every_state_and_the_key_moves():
    assert set(TRANSITIONS) == set(JobState)
    assert allowed(JobState.QUEUED, JobState.RUNNING) and not allowed(JobState.QUEUED, JobState.SUCCEEDED)
    assert allowed(JobState.QUEUED, JobState.FAILED)  # gave up before it ever ran
    assert allowed(JobState.RUNNING, JobState.QUEUED)  # a stopping agent hands it back
