"""A rule's `paths` / `ignore_paths` globs: what they match, what the API refuses, and linear time."""
import time

import pytest

from agent import path_filter as paths
from functions.domain import rules
from functions.errors import InvalidInput

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("glob, path, hit", [
    ("api/**", "api/main.py", True),
    ("api/**", "api/v1/deep/x.go", True),
    ("api/**", "apis/x.py", False),
    ("api/**", "docs/api/x.md", False),
    ("api/", "api/a/b", True),
    ("**/*.md", "README.md", True),
    ("**/*.md", "docs/guide/x.md", True),
    ("*.md", "docs/x.md", False),
    ("*.md", "x.md", True),
    ("api/**/test_*.py", "api/test_a.py", True),
    ("api/**/test_*.py", "api/x/y/test_a.py", True),
    ("src/?.c", "src/a.c", True),
    ("src/?.c", "src/ab.c", False),
    ("src/[!x]*.c", "src/a.c", True),
    ("src/[!x]*.c", "src/x.c", False),
    ("a+b(c).txt", "a+b(c).txt", True),
    ("dépôt/**", "dépôt/x", True),
])
def test_globs_match_repository_paths_from_the_root(glob, path, hit):
    assert paths.watched(path, [glob], []) is hit


def test_ignore_paths_win_and_no_paths_watches_everything():
    assert paths.any_watched(["docs/a.md", "api/x.py"], [], ["docs/**"]) == ["api/x.py"]
    assert paths.any_watched(["api/README.md"], ["api/**"], ["**/*.md"]) == []
    assert paths.any_watched(["docs/a.md"], ["api/**"], []) == []


def _rule(**extra):
    return rules.validate("rules[0]", {"match": {"branch": "main"}, "target": {"type": "docker"}, **extra}, 0)


@pytest.mark.parametrize("extra, where", [
    ({"paths": []}, "rules[0].paths"),
    ({"paths": ["/api/**"]}, "rules[0].paths[0]"),
    ({"ignore_paths": ["x" * 1001]}, "rules[0].ignore_paths[0]"),
    ({"paths": "api/**"}, "rules[0].paths"),
    ({"paths": ["a"] * 101}, "rules[0].paths"),
])
def test_a_glob_the_agent_could_not_use_is_refused_when_the_app_is_saved(extra, where):
    with pytest.raises(InvalidInput) as err:
        _rule(**extra)
    assert err.value.field == where


def test_the_rule_keeps_its_filters():
    rule = _rule(paths=["api/**"], ignore_paths=["**/*.md"])
    assert (rule["paths"], rule["ignore_paths"]) == (["api/**"], ["**/*.md"])


def test_a_hostile_path_against_many_stars_is_matched_in_linear_time():
    glob = "**a" * 40 + "**b"
    path = "a/" * 5000 + "c"
    started = time.perf_counter()
    assert not paths.watched(path, [glob], [])
    assert time.perf_counter() - started < 0.5
