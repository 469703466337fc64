"""Which token the agent sends: only TAHOBUDDY_AGENT_TOKEN (or `token:` in its YAML file), never the
admin token a shell may have loaded from .tahobuddy/dev.env as TAHOBUDDY_TOKEN."""
import pytest

from agent.config import AgentConfig

pytestmark = pytest.mark.unit


def test_the_agent_token_wins_when_the_admin_token_is_loaded_too():
    cfg = AgentConfig.load(env={"TAHOBUDDY_TOKEN": "tb_admin_x", "TAHOBUDDY_AGENT_TOKEN": "tb_agent_y"})
    assert cfg.token == "tb_agent_y"


def test_the_admin_token_alone_is_never_taken_for_the_agent_token():
    cfg = AgentConfig.load(env={"TAHOBUDDY_TOKEN": "tb_admin_x", "TAHOBUDDY_API_URL": "http://api"})
    assert cfg.token == "" and any("TAHOBUDDY_AGENT_TOKEN" in p for p in cfg.check())
