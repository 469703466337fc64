"""`make run`'s stack: it comes up on its own, writes dev.env, and keeps apps, events and
jobs across a restart (moto keeps nothing; the stack snapshots into its home)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from local import procs
from tests.helpers import deliver, docker_app, push, unique
from tests.realparts import job_state, wait_for, wait_job

pytestmark = pytest.mark.functional
ROOT = Path(__file__).resolve().parents[2]


def start_stack(home: Path, ports: dict) -> tuple[subprocess.Popen, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAHOBUDDY_", "AWS_"))}
    env.update({"TAHOBUDDY_HOME": str(home), **{k: str(v) for k, v in ports.items()}})
    home.mkdir(parents=True, exist_ok=True)
    (home / "dev.env").unlink(missing_ok=True)
    proc = procs.start([sys.executable, "-m", "local.stack"], str(home / "stack.out"), env=env, cwd=str(ROOT))
    wait_for(lambda: (home / "dev.env").is_file() or proc.poll() is not None, "the stack to come up (dev.env)", 90,
             every=0.2, seen=lambda: procs.tail(str(home / "stack.out")))
    assert proc.poll() is None, (home / "stack.out").read_text()
    pairs = dict(line.split("=", 1) for line in (home / "dev.env").read_text().splitlines())
    return proc, pairs


def stop_stack(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends; the stack stops its children by pid
    proc.wait(timeout=60)


class Endpoint:
    def __init__(self, env):
        self.url, self.token, self.secret = env["TAHOBUDDY_API_URL"], env["TAHOBUDDY_TOKEN"], \
            env["TAHOBUDDY_WEBHOOK_SECRET"]

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}


def sign_in(api) -> str:
    """The dashboard's session cookie for the admin token (signed with the stack's own session key)."""
    r = requests.post(f"{api.url}/login", data={"token": api.token, "next": "/apps"}, allow_redirects=False,
                      timeout=30)
    assert r.status_code == 303, r.text
    return r.cookies["tahobuddy_session"]


def test_state_survives_a_restart(tmp_path):
    ports = {"TAHOBUDDY_EMULATOR_PORT": procs.free_port(), "TAHOBUDDY_API_PORT": procs.free_port(),
             "TAHOBUDDY_PROXY_PORT": procs.free_port(), "TAHOBUDDY_PROXY_ADMIN_PORT": procs.free_port(),
             "TAHOBUDDY_AGENT": "off"}
    tmp_path.mkdir(parents=True, exist_ok=True)  # secrets an older version wrote: no session key yet
    (tmp_path / "secrets.json").write_text(json.dumps({"webhook_secret": "w" * 48, "admin_token": "tb_admin_kept",
                                                       "agent_token": "tb_agent_kept"}))
    proc, env = start_stack(tmp_path, ports)
    try:
        api, name = Endpoint(env), unique("kept")
        kept = json.loads((tmp_path / "secrets.json").read_text())
        assert (kept["admin_token"], env["TAHOBUDDY_WEBHOOK_SECRET"]) == ("tb_admin_kept", "w" * 48)
        assert len(kept["session_key"]) == 64 and kept["session_key"] != kept["webhook_secret"]
        assert oct((tmp_path / "secrets.json").stat().st_mode & 0o777) == "0o600"
        cookie = sign_in(api)
        assert requests.put(f"{api.url}/api/v1/apps/{name}", json=docker_app(name), headers=api.headers(),
                            timeout=30).status_code == 201
        hook = deliver(api, "push", push(name, "refs/heads/development")).json()
    finally:
        stop_stack(proc)
    assert proc.returncode == 0 and (tmp_path / "state.json.gz").is_file()
    proc, env2 = start_stack(tmp_path, ports)
    try:
        assert env2 == env  # same secrets and tokens
        app = requests.get(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30)
        assert app.status_code == 200 and app.json()["name"] == name
        event = requests.get(f"{api.url}/api/v1/events/{hook['event']}", headers=api.headers(), timeout=30).json()
        assert event["status"] == "processed" and event["decision"][0]["job_id"] == hook["jobs"][0]
        job = requests.get(f"{api.url}/api/v1/jobs/{hook['jobs'][0]}", headers=api.headers(), timeout=30).json()
        assert job["app"] == name
        assert "requeued 1 jobs" in (tmp_path / "stack.out").read_text()
        page = requests.get(f"{api.url}/apps", cookies={"tahobuddy_session": cookie}, allow_redirects=False,
                            timeout=30)
        assert page.status_code == 200  # the same session key: a sign-in outlives the restart
    finally:
        stop_stack(proc)
    assert proc.returncode == 0
    with pytest.raises(requests.ConnectionError):  # every child it started is gone
        requests.get(f"{api.url}/api/v1/health", timeout=5)


def test_make_run_serves_a_tagged_app_through_its_own_proxy(tmp_path, docker_images):
    from tests.realparts import BASE_IMAGE, GitRepo, remove_app_resources
    ports = {"TAHOBUDDY_EMULATOR_PORT": procs.free_port(), "TAHOBUDDY_API_PORT": procs.free_port(),
             "TAHOBUDDY_PROXY_PORT": procs.free_port(), "TAHOBUDDY_PROXY_ADMIN_PORT": procs.free_port(),
             "TAHOBUDDY_REGISTRY_PORT": procs.free_port()}
    repo, name = GitRepo(tmp_path / "site"), unique("stacked")
    repo.write({"Dockerfile": f'FROM {BASE_IMAGE}\nCOPY www /www\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n',
                "www/index.html": "served by make run\n"})
    repo.commit_and_tag("one", "release-1")
    (tmp_path / "tahobuddy.yaml").write_text(
        f"apps:\n  - name: {name}\n    repository: {repo.origin}\n    hostname: {name}.localhost\n"
        "    database: {kind: redis}\n    rules:\n      - {name: release, match: {tag: 'release-*'}, target: {type: docker, health_path: /}}\n")
    proc, env = start_stack(tmp_path / "home", ports)
    try:
        cli = [str(Path(sys.executable).parent / "tahobuddy")]
        run_env = {**os.environ, **env}
        assert subprocess.run(cli + ["apply", "-f", str(tmp_path / "tahobuddy.yaml")], env=run_env,
                              capture_output=True, timeout=60).returncode == 0
        sent = subprocess.run(cli + ["hook", "send", "--repo", str(repo.origin), "--ref", "release-1"], env=run_env,
                              capture_output=True, text=True, timeout=60)
        job_id = __import__("json").loads(sent.stdout)["jobs"][0]
        stack_api = SimpleNamespace(url=env["TAHOBUDDY_API_URL"],
                                    headers=lambda: {"Authorization": f"Bearer {env['TAHOBUDDY_TOKEN']}"})
        job = wait_job(stack_api, job_id, timeout=120)
        assert job["state"] == "succeeded", job_state(stack_api, job_id)
        r = requests.get(env["TAHOBUDDY_PROXY_URL"], headers={"Host": f"{name}.localhost"}, timeout=10)
        assert r.text.strip() == "served by make run"
        # redis:7 cannot be pulled here: make run used the one local/db-images.sh makes
        import docker
        db = docker.from_env().containers.get(f"tahobuddy-{name}-db")
        assert db.attrs["Config"]["Image"] == "tahobuddy-local/redis:7" and db.status == "running"
        # the installation's registry: on loopback, supervised, its data in the stack's home, the build pushed
        registry = f"127.0.0.1:{ports['TAHOBUDDY_REGISTRY_PORT']}"
        assert env["TAHOBUDDY_REGISTRY"] == registry and "registry" in _children(tmp_path / "home")
        assert requests.get(f"http://{registry}/v2/{name}/tags/list", timeout=10).json()["tags"]
        assert (tmp_path / "home" / "registry" / "data" / "docker" / "registry" / "v2" / "repositories" / name).is_dir()
        registry_pid = _children(tmp_path / "home")["registry"]
    finally:
        stop_stack(proc)
        remove_app_resources(name)
    assert proc.returncode == 0
    _wait_gone([registry_pid])


def _ports(**extra) -> dict:
    return {"TAHOBUDDY_EMULATOR_PORT": procs.free_port(), "TAHOBUDDY_API_PORT": procs.free_port(),
            "TAHOBUDDY_PROXY_PORT": procs.free_port(), "TAHOBUDDY_PROXY_ADMIN_PORT": procs.free_port(),
            "TAHOBUDDY_AGENT": "off", **extra}


def _children(home: Path) -> dict:
    doc = __import__("json").loads((home / "stack.pids.json").read_text())
    return {c["name"]: c["pid"] for c in doc["children"]}


def _wait_gone(pids, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(procs._gone(p) for p in pids):
        assert time.monotonic() < deadline, f"still running: {[p for p in pids if not procs._gone(p)]}"
        time.sleep(0.1)


def test_a_sigkilled_stack_takes_its_children_with_it(tmp_path):
    ports = _ports()
    proc, env = start_stack(tmp_path, ports)
    children = _children(tmp_path)
    assert set(children) == {"moto", "api"}
    proc.send_signal(signal.SIGKILL)  # no handler runs: only the kernel's parent-death signal can help
    proc.wait(timeout=10)
    _wait_gone(children.values())
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{env['TAHOBUDDY_API_URL']}/api/v1/health", timeout=5)
    proc, env = start_stack(tmp_path, ports)  # the same ports are free again, the stale pid file is handled
    try:
        assert requests.get(f"{env['TAHOBUDDY_API_URL']}/api/v1/health", timeout=10).status_code == 200
    finally:
        stop_stack(proc)
    assert proc.returncode == 0 and not (tmp_path / "stack.pids.json").exists()


def test_the_next_start_stops_what_a_dead_stack_left_and_only_that(tmp_path):
    sleeper = [sys.executable, "-c", "import time; time.sleep(300)"]
    stale = subprocess.Popen(sleeper, start_new_session=True)           # outlived its supervisor
    stranger = subprocess.Popen(sleeper + ["x"], start_new_session=True)  # its pid was "reused" by another program
    dead_supervisor = subprocess.Popen(["true"])  # a supervisor pid that no longer runs
    dead_supervisor.wait()
    try:
        tmp_path.mkdir(exist_ok=True)
        (tmp_path / "stack.pids.json").write_text(json.dumps({
            "supervisor": {"pid": dead_supervisor.pid, "cmdline": [sys.executable, "-m", "local.stack"]},
            "children": [{"name": "moto", "pid": stale.pid, "group": True, "cmdline": sleeper},
                         {"name": "api", "pid": stranger.pid, "group": True, "cmdline": sleeper}]}))
        proc, _ = start_stack(tmp_path, _ports())
        try:
            assert stale.wait(timeout=15) is not None
            assert stranger.poll() is None  # its command line differs from the record: left alone
            assert f"stopped stale moto (pid {stale.pid})" in (tmp_path / "stack.out").read_text()
        finally:
            stop_stack(proc)
    finally:
        for p in (stale, stranger):
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)


def test_a_taken_port_is_named_with_its_owner_and_variable_before_anything_starts(tmp_path):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = _ports(TAHOBUDDY_API_PORT=port)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TAHOBUDDY_", "AWS_"))}
        env.update({"TAHOBUDDY_HOME": str(tmp_path), **{k: str(v) for k, v in ports.items()}})
        started = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "local.stack"], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
        took = time.monotonic() - started
    assert run.returncode != 0 and took < 15, (took, run.stderr)
    assert f"port {port} (API) is taken by pid {os.getpid()}" in run.stderr, run.stderr
    assert "set TAHOBUDDY_API_PORT to another port" in run.stderr
    assert not (tmp_path / "moto.log").exists()  # nothing was started


def test_a_child_that_dies_is_reported_with_the_end_of_its_log(tmp_path):
    proc, _ = start_stack(tmp_path, _ports())
    children = _children(tmp_path)
    api_pid = children["api"]
    with open(tmp_path / "api.log", "a") as log:
        log.write("last words of the api before it died\n")
    os.kill(api_pid, signal.SIGKILL)
    proc.wait(timeout=60)
    out = (tmp_path / "stack.out").read_text()
    assert proc.returncode == 1
    assert f"api (pid {api_pid}) exited with -9; last lines of {tmp_path / 'api.log'}:" in out, out
    assert "    last words of the api before it died" in out
    _wait_gone([children["moto"]], timeout=1)  # the supervisor stopped the rest before it exited
