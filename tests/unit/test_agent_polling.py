"""How the agent's poll loop waits after an empty receive (agent.worker.empty_poll_pause)."""
import pytest

from agent.worker import empty_poll_pause

pytestmark = pytest.mark.unit


def test_a_long_poll_held_its_time_polls_again_at_once():
    assert empty_poll_pause(poll_wait=20, elapsed=20.01) == 0.0
    assert empty_poll_pause(poll_wait=20, elapsed=1.0) == 0.0   # held a while: the queue long-polls
    assert empty_poll_pause(poll_wait=0.5, elapsed=0.5) == 0.0


@pytest.mark.parametrize("poll_wait, elapsed", [(20, 0.002), (20, 0.9), (0, 0.002), (0, 5.0), (0.5, 0.1)])
def test_an_early_empty_answer_or_short_polling_waits_a_jittered_moment(poll_wait, elapsed):
    pauses = {empty_poll_pause(poll_wait, elapsed) for _ in range(50)}
    assert all(0.05 <= p <= 0.5 for p in pauses)
    assert len(pauses) > 1  # jittered, so agents do not poll in step
