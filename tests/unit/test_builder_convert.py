"""Builder containers, the pure parts: JobSpec -> container kwargs, and the target fields' checks."""
from pathlib import Path

import pytest

from functions.domain import targets
from functions.errors import InvalidInput
from runners import builder_convert as convert
from runners.base import JobSpec, Reason, RunnerError

pytestmark = pytest.mark.unit
SHA = "0123456789abcdef0123456789abcdef01234567"


def spec(**target) -> JobSpec:
    return JobSpec(job_id="1795560000000abcdef", app="blog", rule="build", repository="https://x/blog.git",
                   ref="refs/tags/v1.2", sha=SHA,
                   target={"type": "shell", "name": "shell", "commands": [["make"]], "image": "builder:1", **target})


def lookup(name: str) -> str:
    return {"TOKEN": "tok-123456"}[name]


def test_the_container_sees_only_the_worktree_runs_the_argv_and_is_labelled_for_cleanup():
    s = spec()
    kw = convert.container_kwargs(s, Path("/w/tree"), ["make", "all"], {"A": "1"}, index=2, suffix="ab12",
                                  user="1000:1000")
    assert kw["image"] == "builder:1" and kw["command"] == ["make", "all"] and kw["working_dir"] == "/workspace"
    assert kw["volumes"] == {"/w/tree": {"bind": "/workspace", "mode": "rw"}}  # nothing else of the host
    assert kw["labels"]["tahobuddy.job"] == s.job_id and kw["labels"]["tahobuddy.role"] == "builder"
    assert kw["name"] == f"tahobuddy-build-{s.job_id}-2-ab12" and kw["user"] == "1000:1000"
    assert kw["init"] is True and kw["detach"] is True and kw["environment"] == {"A": "1"}
    assert kw["network_mode"] == "bridge"  # the default
    assert "nano_cpus" not in kw and "mem_limit" not in kw  # no limits unless asked
    assert convert.label_filter(s) == {"label": [f"tahobuddy.job={s.job_id}", "tahobuddy.role=builder"]}


def test_limits_and_networks():
    kw = convert.container_kwargs(spec(cpus="0.5", memory="64m", network="none"), Path("/w"), ["x"], {}, index=1,
                                  suffix="0", user="0:0")
    assert kw["nano_cpus"] == 500_000_000 and kw["mem_limit"] == kw["memswap_limit"] == "64m"
    assert kw["network_mode"] == "none"
    assert convert.network_mode(spec(network="app")) == "tahobuddy-blog"
    assert convert.limits({"cpus": "2"}) == {"nano_cpus": 2_000_000_000}


def test_environment_resolves_secrets_and_keeps_the_job_variables_last():
    env = convert.environment(spec(env={"TOKEN": "secret:TOKEN", "MODE": "ci", "TAHOBUDDY_SHA": "forged"}), lookup)
    assert env["TOKEN"] == "tok-123456" and env["MODE"] == "ci"
    assert env["TAHOBUDDY_SHA"] == SHA and env["TAHOBUDDY_TAG"] == "v1.2" and env["TAHOBUDDY_APP"] == "blog"


def test_oom_reason_names_the_limit():
    assert convert.oom_reason({"memory": "64m"}) == "killed: memory limit 64m exceeded"
    assert convert.oom_reason({}) == "killed: out of memory"


def test_ansible_command_runs_the_playbook_in_the_workspace_with_vars_from_a_mounted_file(tmp_path):
    tree = tmp_path / "tree"
    (tree / "deploy").mkdir(parents=True)
    (tree / "deploy" / "site.yml").write_text("- hosts: all\n")
    (tree / "deploy" / "hosts.ini").write_text("localhost\n")
    s = spec(type="ansible", playbook="deploy/site.yml", inventory="deploy/hosts.ini",
             extra_vars={"token": "secret:TOKEN"})
    argv, extravars = convert.ansible_command(s, tree, tmp_path / "private", lookup)
    assert argv == ["ansible-playbook", "-i", "/workspace/deploy/hosts.ini", "/workspace/deploy/site.yml",
                    "-e", "@/run/tahobuddy/extra-vars.json"]
    assert extravars["token"] == "tok-123456" and extravars["tahobuddy_sha"] == SHA
    assert "tok-123456" not in " ".join(argv)  # never on the command line (docker inspect shows it)
    argv, _ = convert.ansible_command(spec(type="ansible", playbook="deploy/site.yml", inventory="web1,web2,"),
                                      tree, tmp_path / "private", lookup)
    assert argv[2] == "web1,web2,"
    with pytest.raises(RunnerError) as err:
        convert.ansible_command(spec(type="ansible", playbook="../outside.yml"), tree, tmp_path / "p", lookup)
    assert err.value.reason == Reason.REFUSED


def test_builder_fields_are_checked_with_clear_errors():
    ok = targets.validate("t", {"type": "shell", "commands": [["make"]], "image": "b:1", "cpus": 0.5,
                                "memory": "64M", "network": "none"})
    assert (ok["cpus"], ok["memory"], ok["network"]) == ("0.5", "64m", "none")
    assert targets.validate("t", {"type": "ansible", "playbook": "p.yml", "image": "a:1", "cpus": "2",
                                  "memory": "1g"})["cpus"] == "2"
    plain = targets.validate("t", {"type": "shell", "commands": [["make"]]})
    assert not {"image", "cpus", "memory", "network"} & set(plain)  # without image: as before
    cases = [({"cpus": 0}, "t.cpus: must be a number of CPUs >= 0.01"),
             ({"cpus": "half"}, "t.cpus: must be a number"),
             ({"cpus": True}, "t.cpus: must be a number"),
             ({"cpus": "inf"}, "t.cpus: must be a number"),
             ({"memory": "4m"}, "at least 6m (Docker's minimum)"),
             ({"memory": "64 MB"}, 't.memory: must be a size like "256m"'),
             ({"memory": 64}, 't.memory: must be a size'),
             ({"network": "host"}, "t.network: must be one of bridge, none, app"),
             ({"image": ""}, "t.image: must be a non-empty string")]
    for extra, message in cases:
        with pytest.raises(InvalidInput) as err:
            targets.validate("t", {"type": "shell", "commands": [["make"]], "image": "b:1", **extra})
        assert message in str(err.value), (extra, str(err.value))
    with pytest.raises(InvalidInput, match=r"t.memory: applies to a builder container: set image: as well"):
        targets.validate("t", {"type": "shell", "commands": [["make"]], "memory": "64m"})
    with pytest.raises(InvalidInput, match=r"t.image: unknown field"):  # ECS always builds
        targets.validate("t", {"type": "aws-ecs", "cluster": "c", "service": "s", "repository": "r", "image": "b:1"})
