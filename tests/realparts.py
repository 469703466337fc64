"""Real parts for the agent tests: images built here from busybox-static (no registry can be
reached; the database images: local/db_images.py), a Caddy with its admin API on loopback, git
repositories, and agents as processes. Everything started here is stopped by its pid."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import requests

from contract.states import ENDED_VALUES
from local import procs

BASE_IMAGE = "tahobuddy-test/busybox:1"


def build_base_images(tmp: Path) -> None:
    client = docker.from_env()
    busybox = shutil.which("busybox")
    assert busybox, "busybox-static is missing (local/install-system.sh installs it)"
    ctx = tmp / "base"
    ctx.mkdir(exist_ok=True)
    shutil.copy(busybox, ctx / "busybox")
    (ctx / "Dockerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\n'
                                    'RUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["sh"]\n')
    client.images.build(path=str(ctx), tag=BASE_IMAGE, rm=True)


def db_env(images: dict) -> dict:
    """The agent's setting for the database images the `db_images` fixture made sure of."""
    return {"TAHOBUDDY_DB_IMAGES": ",".join(f"{kind}={image}" for kind, image in sorted(images.items()))}


class Caddy:
    def __init__(self, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        self.admin_port, self.port = procs.free_port(), procs.free_port()
        self.admin = f"http://127.0.0.1:{self.admin_port}"
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir, self.config = workdir, workdir / "caddy.json"
        self.config.write_text(json.dumps({"admin": {"listen": f"127.0.0.1:{self.admin_port}"}}))
        self.start()

    def start(self) -> None:
        """Run Caddy from its base config (admin API only): a restart forgets every route, as a real one does."""
        env = {**os.environ, "HOME": str(self.workdir), "XDG_DATA_HOME": str(self.workdir / "data"),
               "XDG_CONFIG_HOME": str(self.workdir / "config")}
        self.proc = procs.start(["caddy", "run", "--config", str(self.config)], str(self.workdir / "caddy.log"),
                                env=env)
        procs.wait_http(self.admin + "/config/", proc=self.proc)

    def get(self, host: str, path: str = "/", timeout: float = 5) -> requests.Response:
        return requests.get(self.url + path, headers={"Host": host}, timeout=timeout)

    def stop(self):
        procs.stop(self.proc)


class AgentProcess:
    """`tahobuddy agent` as a user runs it, stopped by its pid (tests/conftest.py stops any a test left)."""

    started: list["AgentProcess"] = []
    POLL_WAIT = 1          # seconds of each SQS long poll (TAHOBUDDY_POLL_WAIT)
    last_stopped = 0.0     # time.monotonic() when stop() last saw an agent of this process gone (conftest.queue_alone)

    def __init__(self, api, token: str, workdir: Path, caddy: Caddy | None = None, targets: str = "docker,shell",
                 name: str = "agent", extra: dict | None = None):
        self.workdir = workdir / name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = self.workdir / "agent.log"
        self.offset = self.log.stat().st_size if self.log.is_file() else 0  # a restart appends to the same log
        env = {**os.environ, "TAHOBUDDY_API_URL": api.url, "TAHOBUDDY_AGENT_TOKEN": token,
               "TAHOBUDDY_WORKDIR": str(self.workdir), "TAHOBUDDY_POLL_WAIT": str(self.POLL_WAIT), "TAHOBUDDY_TARGETS": targets,
               "TAHOBUDDY_AGENT_ID": f"{name}-{os.getpid()}", "PYTHONUNBUFFERED": "1", **(extra or {})}
        if caddy:
            env.update({"TAHOBUDDY_PROXY_ADMIN": caddy.admin, "TAHOBUDDY_PROXY_LISTEN": f"127.0.0.1:{caddy.port}",
                        "TAHOBUDDY_PROXY_HTTPS": "false"})
        self.proc = subprocess.Popen([str(Path(sys.executable).parent / "tahobuddy"), "agent"], env=env,
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, cwd=self.workdir)
        AgentProcess.started.append(self)
        wait_for(lambda: "polling" in self.output() or self.proc.poll() is not None, f"agent {name} to poll",
                 30, seen=lambda: self.output()[-2000:])
        assert self.proc.poll() is None, f"agent {name} exited {self.proc.returncode}: {self.output()[-2000:]}"

    def output(self) -> str:
        return self.log.read_text()[self.offset:] if self.log.is_file() else ""

    def signal(self, sig) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        AgentProcess.last_stopped = time.monotonic()
        return self.proc.returncode


class GitRepo:
    """An 'origin' bare repository and a working clone that commits and pushes tags to it."""

    def __init__(self, root: Path):
        self.origin, self.work = root / "origin.git", root / "work"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.origin)], check=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(self.work)], check=True)
        self.git("remote", "add", "origin", str(self.origin))

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.work), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              capture_output=True, text=True, check=True).stdout.strip()

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            (self.work / name).parent.mkdir(parents=True, exist_ok=True)
            (self.work / name).write_text(text)

    def commit_and_tag(self, message: str, tag: str | None = None, branch: str = "main") -> str:
        self.git("add", "-A")
        self.git("commit", "-qm", message, "--allow-empty")
        self.git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        if tag:
            self.git("tag", "--", tag)
            self.git("push", "-q", "origin", f"refs/tags/{tag}")
        return self.git("rev-parse", "HEAD")


def wait_for(condition, what: str, timeout: float = 60, every: float = 0.1, seen=None):
    """Poll `condition` until it is true (returning its value), failing after `timeout` seconds with
    what it waited for and the last state it saw: `seen()` when given (a job, a preview, a log tail), or
    else the condition's last value, so a red run explains itself."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            last = seen() if seen is not None else value
            raise AssertionError(f"waited {timeout}s for: {what}; last seen: {last!r}"[:4000])
        time.sleep(every)


def get_job(api, job_id: str) -> dict:
    return requests.get(f"{api.url}/api/v1/jobs/{job_id}", headers=api.headers(), timeout=10).json()


def job_state(api, job_id: str, lines: int = 15) -> str:
    """A job as a failed wait shows it: its state, attempts, agent and reason, and its log's last lines."""
    try:
        job = get_job(api, job_id)
        tail = job_log(api, job_id).splitlines()[-lines:]
    except (requests.RequestException, ValueError, KeyError) as exc:
        return f"job {job_id}: could not be read ({exc.__class__.__name__}: {exc})"
    summary = {k: job.get(k) for k in ("state", "attempts", "agent_id", "reason", "waiting") if job.get(k)}
    return f"job {job_id} {summary}; log tail: " + (" | ".join(tail) or "(empty)")


def wait_job(api, job_id: str, timeout: float = 180, states=ENDED_VALUES) -> dict:
    """The job once it is in one of `states` (by default, ended)."""
    return wait_for(lambda: (lambda job: job if job["state"] in states else None)(get_job(api, job_id)),
                    f"job {job_id} to be {'/'.join(sorted(states))}", timeout, every=0.25,
                    seen=lambda: job_state(api, job_id))


def wait_log(api, job_id: str, text: str, timeout: float = 90) -> None:
    wait_for(lambda: text in job_log(api, job_id), f"{text!r} in the log of job {job_id}", timeout, every=0.2,
             seen=lambda: job_state(api, job_id))


def job_log(api, job_id: str) -> str:
    r = requests.get(f"{api.url}/api/v1/jobs/{job_id}/logs", headers=api.headers(), timeout=10).json()
    return "\n".join(x["line"] for x in r["lines"])


def remove_app_resources(app: str) -> None:
    """Containers, volumes, networks and images a test's app left in dockerd."""
    client = docker.from_env()
    for c in client.containers.list(all=True, filters={"label": f"tahobuddy.app={app}"}):
        c.remove(force=True, v=True)
    for v in client.volumes.list(filters={"name": f"tahobuddy-{app}-"}):
        v.remove(force=True)
    for n in client.networks.list(names=[f"tahobuddy-{app}"]):
        n.remove()
    for image in client.images.list(filters={"label": f"tahobuddy.app={app}"}):
        try:
            client.images.remove(image.id, force=True)
        except docker.errors.APIError:
            pass


def build_cache_ids(client=None) -> set[str]:
    """The ids of the BuildKit cache records dockerd holds."""
    return {r["ID"] for r in (client or docker.from_env()).df().get("BuildCache") or []}


def prune_build_cache(ids: set[str]) -> int:
    """Prune these BuildKit cache records, one id per call (the engine takes one value per filter), in passes
    while any went (a parent goes once its children have); those still in use stay. How many went. Never the
    whole cache: dockerd is shared with other work."""
    client, gone = docker.from_env(), 0
    left = ids & build_cache_ids(client)
    for _ in range(4):
        for record in sorted(left):
            done = subprocess.run(["/usr/bin/docker", "builder", "prune", "-f", f"--filter=id={record}"],
                                  capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                raise RuntimeError(f"docker builder prune {record}: {done.stderr.strip()}")
        now = left & build_cache_ids(client)
        gone, went = gone + len(left - now), len(left - now)
        left = now
        if not left or not went:
            break
    return gone


def forget_app(name: str, since: set[str]) -> int:
    """The engine as a fresh agent's: none of the app's containers, images, networks, volumes; the BuildKit cache
    records made since `since` (build_cache_ids) pruned. How many records went."""
    remove_app_resources(name)
    return prune_build_cache(build_cache_ids() - since)


class Registry:
    """docker-registry (distribution 2.8, from apt) on loopback, storage in the test's folder; open, or behind
    htpasswd Basic auth for `_` / `password`; deletes refused (405) unless `delete`."""

    def __init__(self, workdir: Path, password: str = "", delete: bool = False):
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = procs.free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.auth = ("_", password) if password else None
        config = workdir / "registry.yml"
        text = (f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
                f"  delete:\n    enabled: {str(delete).lower()}\nhttp:\n  addr: {self.host}\n")
        if password:
            import bcrypt
            (workdir / "htpasswd").write_text(f"_:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
            text += f"auth:\n  htpasswd:\n    realm: test\n    path: {workdir / 'htpasswd'}\n"
        config.write_text(text)
        self.proc = procs.start(["docker-registry", "serve", str(config)], str(workdir / "registry.log"))
        procs.wait_http(f"http://{self.host}/v2/", proc=self.proc)

    def get(self, path: str, **headers) -> requests.Response:
        return requests.get(f"http://{self.host}/v2/{path}", auth=self.auth, headers=headers, timeout=10)

    def tags(self, repo: str) -> list[str]:
        r = self.get(f"{repo}/tags/list")
        return r.json().get("tags") or [] if r.status_code == 200 else []

    def digests(self, repo: str) -> set[str]:
        """The digests the repository's tags point at, as the registry's API answers."""
        accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
        return {self.get(f"{repo}/manifests/{tag}", Accept=accept).headers["Docker-Content-Digest"]
                for tag in self.tags(repo)}

    def has(self, repo: str, digest: str) -> bool:
        """Whether the registry still serves the manifest `digest` (tagged or not)."""
        accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
        return self.get(f"{repo}/manifests/{digest}", Accept=accept).status_code == 200

    def stop(self):
        procs.stop(self.proc)


class PrivateGitServer:
    """Git over smart HTTP on loopback (`git http-backend` as CGI) that requires a token, as a
    private GitHub repository does: Basic auth with x-access-token:<token>."""

    def __init__(self, root: Path, token: str):
        import base64
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        self.root, self.requests = root, []
        expected = "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _cgi(self):
                auth = self.headers.get("Authorization")
                server.requests.append(auth)
                if auth != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="private"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                env = {"GIT_PROJECT_ROOT": str(root), "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
                       "QUERY_STRING": query, "REQUEST_METHOD": self.command, "REMOTE_USER": "x-access-token",
                       "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
                       "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                       "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""), "PATH": os.environ["PATH"]}
                out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line)
                self.send_response(int(headers.pop("Status", "200").split()[0]))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _cgi

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def queue_counts(pool: str, dead: bool = False) -> tuple[int, int]:
    """(visible, in flight) messages of a pool's queue, or of its dead-letter queue."""
    import boto3
    from functions.dispatch import queue
    from functions.config import boto_kwargs
    sqs = boto3.client("sqs", **boto_kwargs())
    url = queue.dead_letter_url(pool) if dead else queue.url(pool)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])
