"""The production pieces' pure parts: the systemd unit, doctor's verdicts, the deploy's template
rewrites. These run in the agent-only venv too (tests/functional/test_boundaries.py)."""
import configparser
import email.utils

import pytest

from agent.service import ServiceError, ServiceSpec, install, unit
from cli.doctor import DISK_FAIL, DISK_WARN, FAILED, OK, SKIPPED, WARN, disk_verdict, docker_verdict, skew_verdict
from infra.deploy import summary, with_queue_outputs

SPEC = ServiceSpec(exec_start="/opt/tahobuddy/bin/tahobuddy", workdir="/var/lib/tahobuddy")


def _parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(text)
    return parser


def test_the_unit_is_hardened_yet_reaches_docker_and_stops_in_two_signals():
    service = _parse(unit(SPEC))["Service"]
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "yes" and service["PrivateTmp"] == "yes"
    assert service["ReadWritePaths"] == "/var/lib/tahobuddy"           # the one writable place
    assert service["SupplementaryGroups"] == "docker" and "AF_UNIX" in service["RestrictAddressFamilies"]
    assert service["KillSignal"] == "SIGTERM" and int(service["TimeoutStopSec"]) >= 600
    assert service["KillMode"] == "mixed"    # the first SIGTERM reaches the agent, not its git/docker children
    assert service["ExecStart"] == "/opt/tahobuddy/bin/tahobuddy agent --config /etc/tahobuddy/agent.yml"
    assert "systemctl kill --kill-whom=main -s TERM" in unit(SPEC)


@pytest.mark.parametrize("field,value", [("workdir", "/var/lib/my dir"), ("user", "x\nExecStartPre=/bin/sh"),
                                         ("exec_start", "tahobuddy"), ("env_file", "/etc/%n.env")])
def test_a_value_that_would_change_the_unit_is_refused(field, value):
    with pytest.raises(ServiceError, match=field):
        unit(ServiceSpec(**{**SPEC.__dict__, field: value}))


def test_install_keeps_an_existing_unit_unless_forced(tmp_path):
    path = tmp_path / "tahobuddy-agent.service"
    path.write_text("# my edits\n")
    with pytest.raises(ServiceError, match="--force"):
        install(SPEC, str(path))
    assert path.read_text() == "# my edits\n"
    install(SPEC, str(path), force=True)
    assert "ProtectSystem=strict" in path.read_text()


def test_disk_thresholds():
    assert disk_verdict(DISK_FAIL - 1, "/w").status == FAILED and disk_verdict(DISK_FAIL - 1, "/w").fix
    assert disk_verdict(DISK_WARN - 1, "/w").status == WARN
    assert disk_verdict(DISK_WARN, "/w").status == OK


def test_clock_skew_against_the_api_date_header():
    now = 1_800_000_000
    header = email.utils.formatdate(now, usegmt=True)
    assert skew_verdict(header, now + 59).status == OK
    late = skew_verdict(header, now + 61)
    assert late.status == FAILED and "+61 s" in late.detail and "clock" in late.fix
    assert skew_verdict(header, now - 61).status == FAILED
    assert skew_verdict(None, now).status == SKIPPED and skew_verdict("soon", now).status == SKIPPED


def test_every_pool_queue_becomes_an_output_and_the_summary_names_what_to_do_next():
    template = {"Resources": {"JobQueue": {"Type": "AWS::SQS::Queue"}, "JobQueueHome": {"Type": "AWS::SQS::Queue"},
                              "JobDeadLetterQueue": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"JobQueueUrl": {"Value": {"Ref": "JobQueue"}}}}
    outputs = with_queue_outputs(template)["Outputs"]
    assert sorted(outputs) == ["JobQueueHomeUrl", "JobQueueUrl"]
    stack = {"StackName": "tahobuddy-prod", "StackStatus": "CREATE_COMPLETE", "Outputs": [
        {"OutputKey": "EndpointURL", "OutputValue": "https://abc.execute-api.eu-west-1.amazonaws.com/api/"},
        {"OutputKey": "JobQueueUrl", "OutputValue": "https://sqs/q"},
        {"OutputKey": "JobQueueHomeUrl", "OutputValue": "https://sqs/h"},
        {"OutputKey": "AgentPolicyArn", "OutputValue": "arn:aws:iam::1:policy/p"}]}
    s = summary(stack)
    assert s["webhook_url"] == "https://abc.execute-api.eu-west-1.amazonaws.com/api/api/v1/hooks/github"
    assert s["dashboard_url"] == "https://abc.execute-api.eu-west-1.amazonaws.com/api/"
    assert s["queue_urls"] == {"JobQueue": "https://sqs/q", "JobQueueHome": "https://sqs/h"}
    assert s["agent_policy_arn"] == "arn:aws:iam::1:policy/p"


def test_doctor_warns_of_an_engine_without_live_restore_and_says_how_to_turn_it_on():
    off = docker_verdict("26.1.5", live_restore=False)
    assert off.status == WARN and "live-restore off" in off.detail and '"live-restore": true' in off.fix
    on = docker_verdict("26.1.5", live_restore=True)
    assert (on.status, on.detail, on.fix) == (OK, "Docker Engine 26.1.5, live-restore on", "")
