"""The production defaults the README promises, checked as values: the functional tests shorten some of
them (tests/conftest.py: lease 10 s, resend 3 s, heartbeat 1 s; a 40 s quiet period), so the values a
real installation runs with are held here."""
import pytest

from agent import holder
from functions import config
from functions.domain import targets
from runners import proxy


@pytest.fixture
def production_env(monkeypatch):
    for name in ("TAHOBUDDY_LEASE_SECONDS", "TAHOBUDDY_AGENT_HEARTBEAT", "TAHOBUDDY_RESEND_AFTER"):
        monkeypatch.delenv(name, raising=False)
    config.settings.cache_clear()
    yield config.settings()
    config.settings.cache_clear()  # the next test reads the session's environment again


def test_lease_heartbeat_and_resend_defaults_are_the_readmes(production_env):
    assert (production_env.lease_seconds, production_env.agent_heartbeat, production_env.resend_after) == \
        (120, 10, 300)


def test_a_target_has_no_quiet_period_unless_it_asks_and_at_most_a_day():
    assert targets.validate("target", {"type": "shell", "commands": [["true"]]})["quiet_period"] == 0
    assert targets.validate("target", {"type": "shell", "commands": [["true"]], "quiet_period": 86400}
                            )["quiet_period"] == 86400
    with pytest.raises(targets.InvalidInput, match="at most 86400 seconds"):
        targets.validate("target", {"type": "shell", "commands": [["true"]], "quiet_period": 86401})


def test_a_held_message_is_extended_every_10_s_and_a_missed_tick_or_two_never_lets_it_go():
    assert holder.EXTEND_EVERY == 10                               # the README's "extended every 10 s"
    assert holder.EXTEND_TO >= 2 * holder.EXTEND_EVERY + 2 * holder.TICK


# ---- net.ipv4.tcp_migrate_req: Caddy's reload resets no queued connection --------------------------
def test_the_agent_sets_tcp_migrate_req_and_says_so(tmp_path):
    setting, said = tmp_path / "tcp_migrate_req", []
    setting.write_text("0\n")
    proxy.keep_queued_connections(said.append, setting)
    assert setting.read_text() == "1\n" and said == [
        "proxy: net.ipv4.tcp_migrate_req was 0; set to 1, so a route switch resets no queued connection"]
    said.clear()
    proxy.keep_queued_connections(said.append, setting)            # already set: nothing to say
    assert said == []


def test_a_kernel_without_it_or_an_agent_that_cannot_set_it_says_what_to_do(tmp_path):
    said = []
    proxy.keep_queued_connections(said.append, tmp_path / "absent")
    assert "Linux < 5.14" in said[0]
    assert "could not be set (Permission denied)" in proxy.migrate_verdict("0\n", False, "Permission denied")
    assert proxy.MIGRATE_FIX in proxy.migrate_verdict("0\n", False, "Permission denied")


@pytest.mark.parametrize("url, here", [("http://127.0.0.1:2019", True), ("http://localhost:2019", True),
                                       ("http://[::1]:2019", True), ("http://10.0.0.5:2019", False),
                                       ("https://caddy.example:2019", False)])
def test_only_a_caddy_on_loopback_shares_the_agents_network_settings(url, here):
    assert proxy.on_this_host(url) is here
