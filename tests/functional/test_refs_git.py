"""Tahobuddy's ref-name check against git's own (`git check-ref-format`, argv only)."""
import subprocess

import pytest

from functions.domain import refs
from tests.unit.test_refs_and_states import NAMES

pytestmark = pytest.mark.functional

# Stricter than check-ref-format on purpose: a leading '-' (refused by `git tag` too, and an
# option in argv) and a bare '@'.
STRICTER = {"-rf", "@"}


@pytest.mark.parametrize("name", [n for n, _ in NAMES if n not in STRICTER])
def test_ref_names_agree_with_git_itself(name):
    git = subprocess.run(["git", "check-ref-format", f"refs/tags/{name}"], capture_output=True).returncode == 0
    assert refs.valid_name(name) is git


@pytest.mark.parametrize("name", sorted(STRICTER))
def test_the_stricter_names_are_ones_git_would_take(name):
    git = subprocess.run(["git", "check-ref-format", f"refs/tags/{name}"], capture_output=True).returncode == 0
    assert git and not refs.valid_name(name)
