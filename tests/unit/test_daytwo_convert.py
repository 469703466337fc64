"""Day two on a docker target, pure parts: limits, named volumes and log rotation as docker-py arguments,
and the fields that declare them."""
import pytest

from functions.domain import targets
from functions.errors import InvalidInput
from runners import docker_convert as convert
from runners.base import JobSpec

pytestmark = pytest.mark.unit
SHA = "0123456789abcdef0123456789abcdef01234567"


def spec(preview: int = 0, **target) -> JobSpec:
    t = {"type": "docker", "name": "docker", **target}
    if preview:
        t["preview"] = {"number": preview, "hostname": f"pr-{preview}.blog.example.com"}
    return JobSpec(job_id="1795560000000abcdef", app="blog", rule="release", target=t,
                   repository="https://github.com/me/blog.git", ref="refs/tags/v1", sha=SHA,
                   app_spec={"name": "blog", "port": 3000})


def test_limits_become_nano_cpus_mem_limit_and_pids_limit():
    kw = convert.run_kwargs(spec(cpus="1.5", memory="256m", pids=64), "img", {})
    assert kw["nano_cpus"] == 1_500_000_000 and kw["mem_limit"] == "256m" and kw["pids_limit"] == 64
    assert not {"nano_cpus", "mem_limit", "pids_limit"} & set(convert.run_kwargs(spec(), "img", {}))


def test_logs_rotate_by_default_and_log_options_change_it():
    assert convert.run_kwargs(spec(), "img", {})["log_config"] == {
        "type": "json-file", "config": {"max-size": "10m", "max-file": "3"}}
    changed = convert.log_config({"log_driver": "local", "log_options": {"max-size": "50m", "compress": True}})
    assert changed == {"type": "local", "config": {"max-size": "50m", "max-file": "3", "compress": "True"}}


def test_named_volumes_are_the_apps_own_and_a_previews_are_apart():
    app = convert.run_kwargs(spec(volumes={"uploads": "/app/uploads"}), "img", {})["volumes"]
    assert app == {"tahobuddy-blog-vol-uploads": {"bind": "/app/uploads", "mode": "rw"}}
    pr = convert.run_kwargs(convert.preview_spec(spec(7, volumes={"uploads": "/app/uploads"})), "img", {})
    assert pr["volumes"] == {"tahobuddy-blog.pr-7-vol-uploads": {"bind": "/app/uploads", "mode": "rw"}}


def test_the_docker_target_takes_the_fields_and_refuses_what_docker_would():
    clean = targets.validate("t", {"type": "docker", "cpus": 0.5, "memory": "512M", "pids": 100,
                                   "volumes": {"data": "/var/data"}, "log_options": {"max-file": 5}})
    assert clean["cpus"] == "0.5" and clean["memory"] == "512m" and clean["log_driver"] == "json-file"
    assert clean["volumes"] == {"data": "/var/data"} and clean["log_options"] == {"max-file": "5"}
    for bad, field in (({"volumes": {"../x": "/x"}}, "t.volumes.../x"), ({"volumes": {"x": "rel"}}, "t.volumes.x"),
                       ({"volumes": {"x": "/a:/b"}}, "t.volumes.x"), ({"pids": 2}, "t.pids"),
                       ({"memory": "1k"}, "t.memory"), ({"log_driver": "syslog"}, "t.log_driver")):
        with pytest.raises(InvalidInput) as info:
            targets.validate("t", {"type": "docker", **bad})
        assert info.value.field == field, (bad, info.value)


def test_the_procfile_release_line_runs_under_sh_and_other_lines_are_not_it():
    text = "web: gunicorn app:app\nrelease:  ./manage.py migrate --noinput \n# release: no\nworker: celery\n"
    assert convert.procfile_release(text) == ["sh", "-c", "./manage.py migrate --noinput"]
    assert convert.procfile_release("web: x\nreleases: y\nrelease:\n") == []


def test_a_oneoff_container_has_the_apps_env_network_and_volumes_but_no_port_or_restart():
    kw = convert.oneoff_kwargs(spec(volumes={"data": "/data"}, memory="64m", env={"A": "1"}), "img",
                               {"DATABASE_URL": "postgres://db"}, ["./migrate"], "release")
    assert kw["command"] == ["./migrate"] and kw["network"] == "tahobuddy-blog" and kw["mem_limit"] == "64m"
    assert kw["environment"]["A"] == "1" and kw["environment"]["DATABASE_URL"] == "postgres://db"
    assert kw["volumes"] == {"tahobuddy-blog-vol-data": {"bind": "/data", "mode": "rw"}}
    assert kw["labels"]["tahobuddy.role"] == "release" and kw["name"].endswith("-release")
    assert "ports" not in kw and "restart_policy" not in kw
