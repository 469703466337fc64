"""Rule patterns run on RE2: refused when RE2 cannot run them, never raising and linear in time when matched."""
import fnmatch
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from functions.domain import patterns, rules
from functions.errors import InvalidInput
from functions.domain.events import Action, WebhookEvent

pytestmark = pytest.mark.unit

REF_CHARS = "ab-_./c1é"
REGEX_ATOMS = ["a", "b", ".", "*", "+", "?", "(", ")", "|", "[", "]", "^", "$", "\\", "{", "}", "2", ",", "-",
               "\\d", "\\1", "(?=", "(?!", "(?<=", "(?:", "é"]


def tag(name):
    return WebhookEvent("push", Action.TAG_CREATED, ref_type="tag", ref_name=name, sha="a" * 40)


def rule(**match):
    return rules.validate("rules[0]", {"match": match, "target": {"type": "docker"}}, 0)


@pytest.mark.parametrize("key, pattern, why", [
    ("tag_regex", r"(a)\1", "invalid escape sequence"),
    ("tag_regex", r"release-(?=\d)", "invalid perl operator"),
    ("branch_regex", r"(?<!x)main", "invalid perl operator"),
    ("tag_regex", "(", "missing )"),
    ("tag_regex", "x" * 1001, "the limit is 1000"),
    ("tag", "[b-a]", "invalid character class range"),
])
def test_a_pattern_re2_cannot_run_is_refused_naming_the_field_and_why(key, pattern, why):
    with pytest.raises(InvalidInput) as err:
        rule(**{key: pattern})
    assert err.value.field == f"rules[0].match.{key}" and why in str(err.value)
    if "limit" not in why:
        assert "linear time" in str(err.value) and "no backreferences" in str(err.value)


def test_on_branch_glob_is_checked_too():
    with pytest.raises(InvalidInput) as err:
        rule(tag="v*", on_branch="[z-a]")
    assert err.value.field == "rules[0].match.on_branch"


def test_the_pattern_that_wedged_the_api_answers_at_once():
    r = rule(tag_regex="(a+)+b")
    started = time.perf_counter()
    assert rules.evaluate(r, tag("a" * 40 + "c")) is False
    assert rules.evaluate(r, tag("a" * 40 + "b")) is True
    assert time.perf_counter() - started < 0.5  # a backtracking engine needs minutes for the first one


def test_a_stored_pattern_re2_refuses_matches_nothing_instead_of_raising():
    stored = {"name": "old", "match": {"tag_regex": r"(v)\1"}, "target": {"type": "docker"}}
    assert rules.evaluate(stored, tag("vv")) is False


@pytest.mark.parametrize("glob, text, expected", [
    ("release-*", "release-1", True), ("release-*", "Release-1", False), ("v[0-9].*", "v1.2", True),
    ("v[0-9].*", "vx.2", False), ("[!x]y", "ay", True), ("[!x]y", "xy", False), ("a[", "a[", True),
    ("[]a]", "]", True), ("feature/*", "feature/a/b", True), ("v?", "v10", False), ("x\\y", "x\\y", True),
    ("*.lock", "x.lock", True), ("(a+)+b", "(a+)+b", True), ("é*", "éa", True),
])
def test_globs_keep_fnmatch_meaning(glob, text, expected):
    assert patterns.matches(glob, text, is_regex=False) is expected
    assert fnmatch.fnmatchcase(text, glob) is expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(glob=st.text(alphabet="ab*?[]!/.", max_size=12), text=st.text(alphabet="ab[]!/.", max_size=12))
def test_globs_agree_with_fnmatch(glob, text):
    assert patterns.matches(glob, text, is_regex=False) == fnmatch.fnmatchcase(text, glob)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=st.lists(st.sampled_from(REGEX_ATOMS), max_size=12).map("".join),
       ref=st.text(alphabet=REF_CHARS, max_size=300), is_regex=st.booleans())
def test_matching_never_raises(pattern, ref, is_regex):
    try:
        rules.validate("rules[0]", {"match": {"tag_regex" if is_regex else "tag": pattern},
                                    "target": {"type": "docker"}}, 0)
    except InvalidInput as exc:
        assert exc.field == ("rules[0].match.tag_regex" if is_regex else "rules[0].match.tag")
    stored = {"name": "r", "match": {"tag_regex" if is_regex else "tag": pattern}, "target": {"type": "docker"}}
    assert rules.evaluate(stored, tag(ref)) in (True, False)


def _best_of_3(compiled, text: str, rounds: int = 20) -> float:
    """CPU time of this process (not wall time: other processes on a loaded machine do not count),
    the best of five tries, so a ratio of two of these compares the matcher, not the machine."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(rounds):
            compiled.fullmatch(text)
        best = min(best, time.process_time() - started)
    return best


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=st.sampled_from(["(a+)+b", "(a|a)*b", "(a*)*b", "(a|aa)+c?b", "(.*a){8}b", ".*.*.*.*=.*"]),
       unit=st.sampled_from(["a", "ab", "a/"]))
def test_matching_time_grows_linearly_with_the_ref(pattern, unit):
    # 8x the length may cost at most 40x the time (linear is 8x; backtracking is many orders more)
    compiled = patterns.regex(pattern)
    short, long = unit * (8000 // len(unit)) + "c", unit * (64000 // len(unit)) + "c"
    assert _best_of_3(compiled, long) < 40 * max(_best_of_3(compiled, short), 1e-5)


@pytest.mark.parametrize("glob", ["*a*a*a*a*a*a*a*a*a*a*b", "*?*?*?*?*?*?*?*?*b"])
def test_glob_matching_time_grows_linearly_with_the_ref(glob):
    compiled = patterns.glob(glob)
    short, long = "a" * 8000 + "c", "a" * 64000 + "c"
    assert compiled.fullmatch(long) is None
    assert _best_of_3(compiled, long) < 40 * max(_best_of_3(compiled, short), 1e-5)
