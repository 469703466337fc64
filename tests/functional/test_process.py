"""runners.process with real processes: cancel escalates (interrupt, grace, kill), timeouts stop."""
import signal
import time

import pytest

from runners import process
from runners.base import Cancel

pytestmark = pytest.mark.functional


def test_process_cancel_escalates_interrupt_then_kill(tmp_path):
    lines, cancel = [], Cancel()

    def log(line):
        lines.append(line)
        if line == "ready":  # cancel once the trap is set, never before
            cancel.request("stop")

    script = "trap 'echo got-int' INT; echo ready; while true; do sleep 0.1; done"
    t0 = time.monotonic()
    result = process.run(["sh", "-c", script], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, log=log,
                         cancel=cancel, timeout=30, grace=1.0)
    assert result.canceled and not result.timed_out and result.code == -signal.SIGKILL
    assert time.monotonic() - t0 < 20
    assert lines.index("ready") < lines.index("got-int")  # interrupted first, killed after the grace period


def test_process_that_obeys_the_interrupt_is_not_killed(tmp_path):
    cancel = Cancel()

    def log(line):
        if line == "ready":
            cancel.request("stop")

    result = process.run(["sh", "-c", "trap 'exit 3' INT; echo ready; while true; do sleep 0.1; done"],
                         cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, log=log, cancel=cancel, timeout=30, grace=10.0)
    assert result.canceled and result.code == 3


def test_process_timeout(tmp_path):
    t0 = time.monotonic()
    result = process.run(["sleep", "30"], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, log=lambda _: None,
                         cancel=Cancel(), timeout=0.5, grace=1.0)
    assert result.timed_out and not result.canceled and result.code != 0 and time.monotonic() - t0 < 15


def test_a_process_that_closes_its_output_and_keeps_running_still_times_out(tmp_path):
    """The wait wakes when the output closes; a process that closes it early is still watched."""
    result = process.run(["sh", "-c", "echo bye; exec >/dev/null 2>&1; sleep 30"], cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin"}, log=lambda _: None, cancel=Cancel(), timeout=1.0, grace=1.0)
    assert result.timed_out and result.code != 0


def test_the_exit_code_is_kept_when_a_child_holds_the_output_open(tmp_path):
    lines: list[str] = []
    result = process.run(["sh", "-c", "(sleep 1; echo late) & echo early; exit 4"], cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin"}, log=lines.append, cancel=Cancel(), timeout=30)
    assert (result.code, result.timed_out, result.canceled) == (4, False, False)
    assert lines == ["early", "late"]  # the child's output until it closed was still read
