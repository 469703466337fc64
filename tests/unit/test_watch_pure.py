"""The health watch after a swap, pure parts: its defaults (the path every deploy takes unless it opts
out), the run of failed checks that decides, and what an exited or restarted container says."""
import pytest

from contract.states import Reason
from functions.domain import targets
from functions.errors import InvalidInput
from runners import docker_watch as watch

pytestmark = pytest.mark.unit


def test_a_docker_target_is_watched_for_120_s_and_3_failures_unless_it_says_otherwise():
    stored = targets.validate("target", {"type": "docker"})
    assert (stored["watch_seconds"], stored["watch_failures"]) == (120, 3)
    assert watch.settings({}) == (120, 3)  # a target stored before the fields existed
    assert watch.settings({"watch_seconds": 0, "watch_failures": 5}) == (0, 5)
    with pytest.raises(InvalidInput):
        targets.validate("target", {"type": "docker", "watch_seconds": -1})
    with pytest.raises(InvalidInput):
        targets.validate("target", {"type": "docker", "watch_failures": 0})
    with pytest.raises(InvalidInput, match="within the job's timeout"):  # the job stays running through it
        targets.validate("target", {"type": "docker", "timeout": 180})
    assert targets.validate("target", {"type": "docker", "timeout": 180, "watch_seconds": 60})["timeout"] == 180


def test_only_failures_in_a_row_roll_back_and_the_first_of_the_run_is_kept():
    streak = watch.Streak(3)
    assert not streak.add("ConnectionError", 1.0) and not streak.add("/ answered 500", 2.0)
    assert not streak.add("", 3.0)  # one pass resets the run
    assert not streak.add("/ answered 502", 4.0) and not streak.add("/ answered 502", 5.0)
    assert streak.add("/ answered 503", 6.0)
    assert (streak.first_at, streak.last) == (4.0, "/ answered 503")


def test_a_watch_passed_only_when_nothing_failed_and_nothing_cut_it_short():
    assert watch.Verdict(after=120, checks=120).passed
    assert not watch.Verdict("the container exited (exit code 1)", 10.0, 9.0, 10).passed
    assert not watch.Verdict(after=30, cut_short="agent stopping").passed
    assert Reason.parse("rolled_back_after_watch") is Reason.ROLLED_BACK_AFTER_WATCH
    assert not Reason.ROLLED_BACK_AFTER_WATCH.never_ran  # a forge reports it as a failure, not an error


class Container:
    """What docker-py's Container shows the watch: status and attrs, refreshed by reload()."""

    def __init__(self, status: str, restarts: int, exit_code: int = 0):
        self.status = status
        self.attrs = {"RestartCount": restarts, "State": {"ExitCode": exit_code}}

    def reload(self):
        pass


def test_an_exit_or_a_restart_since_the_swap_is_trouble_at_once():
    assert watch.container_trouble(Container("running", 0), 0) == ""
    assert watch.container_trouble(Container("running", 1, 137), 0) == \
        "the container restarted (1 time(s); last exit code 137)"
    assert watch.container_trouble(Container("restarting", 0, 1), 0) == "the container restarting (exit code 1)"
    assert watch.container_trouble(Container("exited", 2, 1), 2) == "the container exited (exit code 1)"
