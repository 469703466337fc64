"""The agent's messages name their free text, and `masked` blanks secrets there and only there."""
import dataclasses
import typing

import pytest

from contract import wire

pytestmark = pytest.mark.unit

SECRET = "hunter2-value"


def mask(text: str) -> str:
    return text.replace(SECRET, "***")


def test_a_finish_is_masked_in_its_reason_detail_and_phase_names_but_not_its_identifiers():
    finish = wire.Finish("failed", reason_code="", reason=f"failed: build failed: #5 ERROR: {SECRET}",
                         detail=f"build failed: {SECRET}", sha="c0ffee" * 6 + "c0ff",
                         release={"image": "sha256:" + "a" * 64}, phases={f"step {SECRET}": 1.0})
    out = finish.masked(mask)
    assert out.reason == "failed: build failed: #5 ERROR: ***" and out.detail == "build failed: ***"
    assert out.phases == {"step ***": 1.0}
    assert (out.sha, out.release) == (finish.sha, finish.release)
    assert SECRET not in str(out.to_dict()["reason"]) and finish.reason.endswith(SECRET)  # the original is unchanged


def test_log_lines_and_a_handback_are_masked():
    assert wire.LogBatch(3, [f"token {SECRET}", "plain"]).masked(mask).lines == ["token ***", "plain"]
    assert wire.Handback(f"stopping: {SECRET}").masked(mask).reason == "stopping: ***"


# fields of the messages the agent sends that are identifiers or fixed words, never free text
NOT_TEXT = {("AgentHello", "agent_id"), ("AgentHello", "pool"), ("AgentHello", "targets"),
            ("AgentHello", "version"), ("AgentHello", "host"), ("AgentBeat", "state"), ("AgentBeat", "jobs"),
            ("Finish", "state"), ("Finish", "reason_code"), ("Finish", "sha"), ("Finish", "release")}
SENT = (wire.AgentHello, wire.AgentBeat, wire.LogBatch, wire.Finish, wire.Handback)


@pytest.mark.parametrize("message", SENT, ids=lambda m: m.__name__)
def test_every_text_field_the_agent_sends_is_masked_or_named_as_an_identifier(message):
    hints = typing.get_type_hints(message)
    for f in dataclasses.fields(message):
        kind = typing.get_origin(hints[f.name]) or hints[f.name]
        if kind in (str, list, dict):
            assert f.name in message.TEXT or (message.__name__, f.name) in NOT_TEXT, \
                f"{message.__name__}.{f.name}: add it to TEXT (masked) or to NOT_TEXT with a reason"
