"""The runners' pure parts: translation to docker-py, Caddy routes, masking, settings, rollback choice."""
import pytest

from agent.config import AgentConfig
from agent.secrets import Secrets
from runners import docker_convert as convert
from contract.wire import ClaimAnswer
from runners import registry
from runners.base import Cancel, JobResult, JobSpec, Reason, Runner, RunnerError, Status
from runners.docker import History
from runners.proxy import order, route, server

SHA = "0123456789abcdef0123456789abcdef01234567"


def spec(**kw) -> JobSpec:
    base = dict(job_id="1795560000000abcdef", app="blog", rule="release", target={"type": "docker", "name": "docker"},
                repository="https://github.com/me/blog.git", ref="refs/tags/release-$(touch${IFS}x)", sha=SHA,
                app_spec={"name": "blog", "port": 3000, "env": {"MODE": "prod"}})
    base.update(kw)
    return JobSpec(**base)


def test_tags_and_labels_are_safe_and_exact():
    s = spec()
    assert convert.tags(s) == ["0123456789ab", "release-__touch__IFS_x_", "job-1795560000000abcdef"]
    assert convert.labels(s)["tahobuddy.ref"] == "refs/tags/release-$(touch${IFS}x)"  # exact, as a label
    assert convert.safe_tag("-.x/y") == "x_y" and convert.safe_tag("") == "untagged"


def test_run_kwargs_publish_on_loopback_with_env_and_restart_policy():
    kw = convert.run_kwargs(spec(), "sha256:abc", {"DATABASE_URL": "postgres://x"})
    assert kw["ports"] == {"3000/tcp": ("127.0.0.1", None)} and kw["network"] == "tahobuddy-blog"
    assert kw["restart_policy"] == {"Name": "unless-stopped"} and kw["init"] is True
    env = kw["environment"]
    assert env["MODE"] == "prod" and env["DATABASE_URL"] == "postgres://x" and env["PORT"] == "3000"
    assert env["TAHOBUDDY_TAG"] == "release-$(touch${IFS}x)" and env["TAHOBUDDY_SHA"] == SHA


def test_build_kwargs_use_the_cache_and_never_pull():
    kw = convert.build_kwargs(spec(target={"type": "docker", "build_args": {"A": "1"}}), "/src")
    assert kw["pull"] is False and "nocache" not in kw and kw["buildargs"] == {"A": "1"}
    assert kw["tag"] == "tahobuddy/blog:0123456789ab"


def test_buildkit_argv_tags_labels_and_secrets_without_build_steps_or_values():
    target = {"type": "docker", "dockerfile": "docker/web.Dockerfile", "build_args": {"B": "2", "A": "1"},
              "build_secrets": {"token": "secret:NPM_TOKEN", "aws.cfg": "secret:AWS_CFG"}}
    argv = convert.buildkit_argv(spec(target=target), "/src", "/tmp/iid")
    assert argv[:5] == ["/usr/bin/docker", "build", "--progress=plain", "--iidfile", "/tmp/iid"]
    assert argv[argv.index("--file") + 1] == "/src/docker/web.Dockerfile" and argv[-2:] == ["--", "/src"]
    pairs = list(zip(argv, argv[1:]))
    assert [v for k, v in pairs if k == "--tag"] == [
        "tahobuddy/blog:0123456789ab", "tahobuddy/blog:release-__touch__IFS_x_", "tahobuddy/blog:job-1795560000000abcdef"]
    assert ("--label", "tahobuddy.ref=refs/tags/release-$(touch${IFS}x)") in pairs  # one argv element: no shell
    assert [v for k, v in pairs if k == "--build-arg"] == ["A=1", "B=2"]
    # secrets by id and environment variable only: neither the reference nor a value is on the command line
    assert [v for k, v in pairs if k == "--secret"] == ["id=aws.cfg,env=TAHOBUDDY_BUILD_SECRET_0",
                                                        "id=token,env=TAHOBUDDY_BUILD_SECRET_1"]
    assert not any("NPM_TOKEN" in a or "secret:" in a for a in argv)
    assert "--no-cache" not in argv and "--pull" not in argv
    assert convert.build_secret_env(target["build_secrets"]) == {"aws.cfg": "TAHOBUDDY_BUILD_SECRET_0",
                                                                 "token": "TAHOBUDDY_BUILD_SECRET_1"}


@pytest.mark.parametrize("dockerfile", ["../Dockerfile", "/etc/passwd", "a/../../x"])
def test_buildkit_refuses_a_dockerfile_outside_the_worktree(dockerfile):
    with pytest.raises(convert.BuildInputError, match="inside the repository"):
        convert.buildkit_argv(spec(target={"type": "docker", "dockerfile": dockerfile}), "/src", "/tmp/iid")
    assert convert.dockerfile_in_context("./a/../Dockerfile") == "Dockerfile"


def test_build_secret_ids_are_checked():
    with pytest.raises(convert.BuildInputError, match="build secret id"):
        convert.build_secret_env({"a,src=/etc/shadow": "secret:X"})


def test_health_checks_poll_fast_first_then_back_off():
    from itertools import islice
    from runners.docker import health_pauses
    pauses = list(islice(health_pauses(), 12))
    assert pauses[0] == 0.02 and pauses == sorted(pauses) and pauses[-1] == 0.5
    assert sum(pauses[:4]) < 0.2  # four checks within the first fifth of a second


def test_phase_marks_turn_into_step_durations():
    from cli.phases import durations
    from runners.base import Phases
    marks = Phases()
    marks.mark("fetch_started")
    assert set(marks.marks) == {"fetch_started"} and isinstance(marks.marks["fetch_started"], float)
    job = {"created_at": "2026-11-25T10:00:00.000Z", "started_at": "2026-11-25T10:00:00.040Z",
           "phases": {"fetch_started": 1795600800.05, "fetched": 1795600800.10, "build_started": 1795600800.10,
                      "built": 1795600800.50, "container_started": 1795600800.60, "healthy": 1795600800.65,
                      "route_switched": 1795600800.70, "old_retired": 1795600801.75}}
    got = durations(job, {"received_at": "2026-11-25T09:59:59.980Z"})
    assert got == {"webhook->queued": 0.02, "queued->claimed": 0.04, "fetch": 0.05, "build": 0.4,
                   "container start": 0.1, "healthy": 0.05, "route switched": 0.05, "old retired": 1.05}
    assert durations({"phases": {"build_started": 5, "built": 7}}) == {"build": 2.0}  # a rollback: no fetch


@pytest.mark.parametrize("kind, url", [
    ("postgres", "postgres://tahobuddy:pw@tahobuddy-blog-db:5432/blog"),
    ("mysql", "mysql://tahobuddy:pw@tahobuddy-blog-db:3306/blog"), ("redis", "redis://tahobuddy-blog-db:6379/0")])
def test_database_translation(kind, url):
    assert convert.database_url("blog", kind, "pw") == url
    kw = convert.database_kwargs("blog", kind, "img", "pw")
    assert kw["volumes"] == {"tahobuddy-blog-db-data": {"bind": convert.DB_DATA[kind], "mode": "rw"}}


def test_routes_match_host_and_prefix_and_order_most_specific_first():
    a = route({"name": "a", "hostname": "a.example.com", "path_prefix": "/"}, "127.0.0.1:1")
    b = route({"name": "b", "hostname": "a.example.com", "path_prefix": "/api"}, "127.0.0.1:2")
    c = route({"name": "c", "path_prefix": "/"}, "127.0.0.1:3")
    assert a["match"] == [{"host": ["a.example.com"]}] and c["match"] == []
    assert b["match"] == [{"host": ["a.example.com"], "path": ["/api", "/api/*"]}]
    assert [r["@id"] for r in order([c, a, b])] == ["tahobuddy-b", "tahobuddy-a", "tahobuddy-c"]
    assert b["handle"][0]["upstreams"] == [{"dial": "127.0.0.1:2"}]
    assert server([":80", ":443"], True) == {"listen": [":80", ":443"], "routes": []}
    assert server(["127.0.0.1:8080"], False)["automatic_https"] == {"disable": True}


def test_history_picks_a_ref_or_the_version_before_live():
    h = History()
    assert h.pick("") is None
    for n, ref in enumerate(["refs/tags/release-1", "refs/tags/release-2", "refs/tags/release-2"]):
        h.add({"image": f"img{min(n, 1)}", "ref": ref, "sha": f"{n}" * 40})
    assert h.pick("release-1")["image"] == "img0" and h.pick("refs/tags/release-2")["sha"] == "2" * 40
    assert h.pick("")["image"] == "img0"  # the live image is img1, whatever its tags
    assert h.pick("release-9") is None


def test_secrets_resolve_from_file_then_env_and_are_masked(tmp_path):
    f = tmp_path / "secrets.yaml"
    f.write_text("HEROKU_API_KEY: hk-1234567890\n")
    s = Secrets(str(f), env={"DEPLOY_TOKEN": "tok-abcdef"})
    assert s("HEROKU_API_KEY") == "hk-1234567890" and s("DEPLOY_TOKEN") == "tok-abcdef"
    assert s.mask("curl -H 'Authorization: hk-1234567890' tok-abcdef") == "curl -H 'Authorization: ***' ***"
    s.register("dbpass-xyz")
    assert "dbpass" not in s.mask("postgres://u:dbpass-xyz@h")
    with pytest.raises(RunnerError) as err:
        s("MISSING")
    assert err.value.reason == Reason.REFUSED and "MISSING" in str(err.value)


def test_agent_settings_from_file_and_environment(tmp_path):
    f = tmp_path / "agent.yaml"
    f.write_text("api_url: http://file\nconcurrency: 2\ntargets: [docker]\n")
    cfg = AgentConfig.load(str(f), env={"TAHOBUDDY_API_URL": "http://env", "TAHOBUDDY_AGENT_TOKEN": "t",
                                        "TAHOBUDDY_PROXY_HTTPS": "false", "TAHOBUDDY_DB_IMAGES": "postgres=pg:15"})
    assert (cfg.api_url, cfg.token, cfg.concurrency, cfg.targets) == ("http://env", "t", 2, ["docker"])
    assert cfg.proxy_https is False and cfg.db_images["postgres"] == "pg:15" and cfg.db_images["redis"] == "redis:7"
    assert cfg.check() == []
    bad = AgentConfig.load(None, env={"TAHOBUDDY_TARGETS": "docker,ftp"})
    assert any("TAHOBUDDY_API_URL" in p for p in bad.check()) and any("ftp" in p for p in bad.check())


def test_registry_finds_runners_by_name_only():
    runner = registry.find("shell")
    assert isinstance(runner, Runner) and runner.name == "shell"
    with pytest.raises(KeyError, match="known: ansible, aws-ecs, docker, heroku, shell"):
        registry.find("ftp")


def test_job_spec_from_a_claim_and_results_keep_never_ran_apart():
    answer = ClaimAnswer.from_dict({"run": True, "state": "running", "lease_seconds": 30, "app": {"name": "a"},
                                    "job": {"id": "j", "app": "a", "rule": "r", "target": {"type": "shell"},
                                            "repository": "x", "ref": "refs/heads/main", "sha": SHA, "attempts": 2},
                                    "releases": [{"image": "sha256:1", "ref": "refs/tags/v1", "agent_id": "a1"}]})
    s = JobSpec.from_claim(answer)
    assert (s.tag, s.ref_name, s.attempt, s.env()["TAHOBUDDY_TAG"]) == ("", "main", 2, "")
    assert s.releases[0]["agent_id"] == "a1" and s.app_spec == {"name": "a"}
    never = JobResult.never_ran(Reason.SETUP_ERROR, "fetch failed")
    assert never.exit_code == -1 and never.status == Status.FAILED
    assert JobResult.failed("exit 2", 2).reason == Reason.NONE


def test_cancel_is_idempotent_and_keeps_the_first_reason():
    c = Cancel()
    c.request("user")
    c.request("agent stopping")
    assert c.requested and c.reason == "user"


def test_ecs_next_revision_replaces_only_the_named_container():
    from runners import ecs_convert
    current = {"family": "web", "taskDefinitionArn": "arn:...:web:3", "revision": 3, "status": "ACTIVE",
               "networkMode": "awsvpc", "cpu": "256", "volumes": [],
               "containerDefinitions": [{"name": "proxy", "image": "p:1"}, {"name": "web", "image": "w:1"}]}
    nxt = ecs_convert.next_revision(current, "reg/web:abc", "web", {"tahobuddy.sha": "abc"})
    assert set(nxt) == {"family", "networkMode", "cpu", "containerDefinitions"}  # nothing read-only carried
    assert [d["image"] for d in nxt["containerDefinitions"]] == ["p:1", "reg/web:abc"]
    assert current["containerDefinitions"][1]["image"] == "w:1"  # the input is not changed
    assert ecs_convert.next_revision(current, "x", None, {})["containerDefinitions"][0]["image"] == "x"
    with pytest.raises(RunnerError, match="'db' is not in task definition web"):
        ecs_convert.next_revision(current, "x", "db", {})


def test_ecr_auth_and_stability():
    import base64
    from runners import ecs_convert
    auth = {"authorizationToken": base64.b64encode(b"AWS:pw").decode(),
            "proxyEndpoint": "https://123.dkr.ecr.eu-west-1.amazonaws.com"}
    assert ecs_convert.registry_auth(auth) == ("123.dkr.ecr.eu-west-1.amazonaws.com",
                                               {"username": "AWS", "password": "pw"})
    assert ecs_convert.registry_auth(auth, "127.0.0.1:5000")[0] == "127.0.0.1:5000"
    ok = {"taskDefinition": "td:2", "runningCount": 2, "desiredCount": 2, "deployments": [{"rolloutState": "COMPLETED"}]}
    assert ecs_convert.stable(ok, "td:2") and not ecs_convert.stable(ok, "td:3")
    assert not ecs_convert.stable({**ok, "runningCount": 1}, "td:2")
    assert not ecs_convert.stable({**ok, "deployments": [{}, {}]}, "td:2")


def test_the_api_keeps_only_well_formed_phase_marks():
    from functions.dispatch.agent_api import checked_phases
    from functions.errors import InvalidInput
    assert checked_phases({"built": 1795600800, "fetched": 1795600799.5}) == {"built": 1795600800.0,
                                                                              "fetched": 1795600799.5}
    assert checked_phases(None) == {}
    for bad in (["built"], {"built": "soon"}, {"built": True}, {"x" * 41: 1.0}, {f"p{i}": 1.0 for i in range(33)}):
        with pytest.raises(InvalidInput, match="phases"):
            checked_phases(bad)


@pytest.mark.parametrize("last_line", [
    "unexpected EOF",  # what Debian's docker CLI 20.10 prints when dockerd stops mid-BuildKit build (seen here)
    "error: failed to receive status: rpc error: code = Unavailable desc = error reading from server: EOF",
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
    "error during connect: Post \"http://%2Fvar%2Frun%2Fdocker.sock/v1.41/build\": EOF",
    "ConnectionError: ('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))",
])
def test_a_build_cut_off_by_dockerd_going_away_is_told_from_a_failed_build(last_line):
    """Lines the clients print when the engine goes away; the agent's case (--iidfile) is tested below."""
    assert convert.engine_lost(last_line + "\n") == last_line
    detail = convert.engine_lost_detail(convert.engine_lost(last_line))
    assert detail.startswith("the Docker Engine went away during the build (dockerd restarted or stopped?): ")
    assert "the running version was not touched" in detail
    assert Reason.ENGINE_LOST.never_ran  # not the commit's fault: a forge shows `error`, not `failure`


@pytest.mark.parametrize("last_line", [
    "executor failed running [/bin/sh -c exit 3]: exit code: 3",
    "ERROR: failed to solve: failed to compute cache key: \"/missing\" not found: not found",
    "#5 0.212 unexpected EOF",  # a RUN step's own output, not the client's last word
    "The command '/bin/sh -c false' returned a non-zero code: 1",
    "",
])
def test_a_build_that_failed_on_its_own_is_not_blamed_on_the_engine(last_line):
    assert convert.engine_lost(last_line) == ""


def test_the_cli_s_word_for_a_build_stream_cut_with_an_iidfile_names_no_agent_path():
    # seen here: Debian's 20.10 CLI with --iidfile, dockerd stopped during a RUN step
    line = "cannot write /srv/agent/build-x1/image-id because server did not provide an image ID"
    assert convert.engine_lost(line) == "cannot write the image id because server did not provide an image ID"
