"""infra/ansible/home-host.yml against this machine (ansible-runner, ansible_connection=local),
with every file under a prefix the test makes and no service started: it writes the agent's
settings, token file and hardened unit, finds Docker and Caddy already installed, and a second
run changes nothing."""
import configparser
import json
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.functional
ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "infra" / "ansible" / "home-host.yml"
CLI = str(Path(sys.executable).parent / "tahobuddy")


def play(tmp_path: Path, **extra):
    import ansible_runner
    prefix = tmp_path / "root"
    (tmp_path / "runner").mkdir(exist_ok=True)
    extravars = {"tahobuddy_prefix": str(prefix), "tahobuddy_manage_services": False,
                 "tahobuddy_install_agent": False, "tahobuddy_executable": CLI,
                 "tahobuddy_api_url": "https://api.example.test/api", "tahobuddy_agent_token": "tb_agent_home_test",
                 "tahobuddy_pool": "home", "tahobuddy_aws_access_key_id": "AKIAHOMETEST",
                 "tahobuddy_aws_secret_access_key": "home-secret-key", **extra}
    runner = ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"), playbook=str(PLAYBOOK), extravars=extravars, quiet=True,
        inventory=f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}",
        envvars={"ANSIBLE_NOCOLOR": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}, timeout=600)
    return runner, prefix


def test_the_home_host_playbook_writes_the_agent_service_and_a_second_run_changes_nothing(tmp_path):
    daemon_json = tmp_path / "root/etc/docker/daemon.json"
    daemon_json.parent.mkdir(parents=True)
    daemon_json.write_text('{"log-driver": "journald"}\n')  # a setting of the host's own, to be kept
    first, prefix = play(tmp_path)
    assert first.status == "successful", first.stdout.read()[-3000:]
    assert first.stats["changed"].get("localhost", 0) >= 5  # folders, settings, token file, unit, daemon.json
    assert not first.stats["failures"]

    settings = yaml.safe_load((prefix / "etc/tahobuddy/agent.yml").read_text())
    assert settings["pool"] == "home" and settings["api_url"] == "https://api.example.test/api"
    assert settings["workdir"] == str(prefix / "var/lib/tahobuddy")
    env = prefix / "etc/tahobuddy/agent.env"
    assert "TAHOBUDDY_AGENT_TOKEN=tb_agent_home_test" in env.read_text()
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(prefix / "etc/systemd/system/tahobuddy-agent.service")
    assert unit["Service"]["EnvironmentFile"] == str(env)
    assert unit["Service"]["ReadWritePaths"] == str(prefix / "var/lib/tahobuddy")
    assert unit["Service"]["SupplementaryGroups"] == "docker" and unit["Service"]["ProtectSystem"] == "strict"
    assert json.loads(daemon_json.read_text()) == {"log-driver": "journald", "live-restore": True}
    # the token never reaches the run's output (no_log)
    assert "tb_agent_home_test" not in "".join(open(p).read() for p in (tmp_path / "runner").rglob("stdout"))

    second, _ = play(tmp_path)
    assert second.status == "successful"
    assert second.stats["changed"].get("localhost", 0) == 0, second.stats
    assert second.stats["ok"]["localhost"] >= 6


def test_the_playbook_refuses_to_run_without_an_api_url_or_token(tmp_path):
    runner, prefix = play(tmp_path, tahobuddy_agent_token="")
    assert runner.status == "failed"
    assert "tahobuddy_agent_token" in runner.stdout.read()
    assert not (prefix / "etc/tahobuddy/agent.env").exists()
