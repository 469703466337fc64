"""A finished job's message kept hidden until its finish is answered (agent.keeper.Keeper)."""
import threading

import pytest

from agent.keeper import Keeper
from tests.realparts import wait_for

pytestmark = pytest.mark.unit


class Queue:
    """Counts the hides; fails the first `failing` of them as SQS would when it is away."""

    def __init__(self, failing: int = 0):
        self.hides, self.failing, self.lock = 0, failing, threading.Lock()

    def hide(self) -> None:
        with self.lock:
            self.hides += 1
            if self.hides <= self.failing:
                raise ConnectionError("sqs away")


def test_the_message_is_hidden_at_once_and_again_each_third_of_the_lease_until_stopped():
    queue, said = Queue(), []
    keeper = Keeper(queue.hide, lease=3, most=60, say=said.append)
    keeper.start()
    assert queue.hides == 1  # at once, before start returns: the work's end and the first hide are one step
    wait_for(lambda: queue.hides >= 3, "two more hides, a second apart", timeout=20, seen=lambda: queue.hides)
    keeper.stop()
    after = queue.hides
    assert not keeper.thread.is_alive()
    assert queue.hides == after and said == []


def test_a_second_start_adds_nothing_and_a_start_after_stop_hides_nothing():
    queue = Queue()
    keeper = Keeper(queue.hide, lease=60, most=600, say=print)  # every 20 s: no round falls inside this test
    keeper.start()
    keeper.start()  # each retry of the finish calls it
    assert queue.hides == 1
    keeper.stop()
    keeper.start()  # a late retry after the finish was answered
    assert queue.hides == 1 and not keeper.thread.is_alive()


def test_sqs_away_is_said_once_and_the_keeper_keeps_trying():
    queue, said = Queue(failing=2), []
    keeper = Keeper(queue.hide, lease=3, most=60, say=said.append)
    keeper.start()
    wait_for(lambda: queue.hides >= 3, "a hide that succeeds after two failed", timeout=20, seen=lambda: queue.hides)
    keeper.stop()
    assert len(said) == 1 and "ConnectionError: sqs away" in said[0], said


def test_the_keeper_gives_up_after_most_seconds_whatever_happens():
    queue = Queue()
    keeper = Keeper(queue.hide, lease=3, most=0.5, say=print)
    keeper.start()
    keeper.thread.join(timeout=10)
    assert not keeper.thread.is_alive() and queue.hides <= 2  # bounded: at most one round after the first
