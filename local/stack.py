"""`make run`: the whole system on one machine, on the embedded default.

  AWS emulator (moto server, 127.0.0.1:4566)  <- unless TAHOBUDDY_AWS_ENDPOINT names another
  API (chalice local, 127.0.0.1:8000)
  Docker Engine (started only when none answers)
  database images (the official ones, or where none can be pulled made here: local/db_images.py)
  proxy (Caddy, 127.0.0.1:8080, admin 127.0.0.1:2019)
  registry (Debian's docker-registry, 127.0.0.1:5000, data in .tahobuddy/registry; TAHOBUDDY_REGISTRY
            names another one, `off` runs without: images then stay on the agent's engine; its
            garbage-collect runs at each start, before it serves)
  agent (tahobuddy agent; TAHOBUDDY_AGENT=off leaves it and the proxy out)

Secrets are made once and kept in .tahobuddy/; the emulator's state is
snapshotted there every 30 s and on exit; the sweeper runs as often. Ctrl-C stops every process it
started, by pid.

Supervision: every port is checked before anything starts (a taken one is
named with its owner and the variable that moves it); children die with the
supervisor, and .tahobuddy/stack.pids.json lets the next start stop whatever
a killed supervisor left; a child that dies is reported with its log's tail.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import db_images, pidfile, ports, procs

HOME = Path(os.environ.get("TAHOBUDDY_HOME", ".tahobuddy")).resolve()
ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT_EVERY = 30.0
DELIVER_EVERY = 2.0   # seconds between sends of the outbox (on AWS its stream does it at once)
TAIL_LINES = 20


def _secrets() -> dict:
    """The stack's secrets, made once and kept in .tahobuddy/secrets.json (readable by its owner only); a
    secret a newer version needs is added to a file an older one wrote, the others stay as they were."""
    path = HOME / "secrets.json"
    kept = json.loads(path.read_text()) if path.is_file() else {}
    made = {"webhook_secret": lambda: secrets.token_hex(24),
            "admin_token": lambda: f"tb_admin_{secrets.token_urlsafe(32)}",
            "agent_token": lambda: f"tb_agent_{secrets.token_urlsafe(32)}",
            "session_key": lambda: secrets.token_hex(32)}   # signs dashboard sessions: a key of its own
    if set(made) <= set(kept):
        return kept
    keys = {**{name: make() for name, make in made.items() if name not in kept}, **kept}
    path.write_text(json.dumps(keys, indent=2))
    path.chmod(0o600)
    return keys


def _aws_mode() -> str:
    """'embedded' (moto on 4566), 'endpoint' (TAHOBUDDY_AWS_ENDPOINT), or 'aws' (real credentials)."""
    if os.environ.get("TAHOBUDDY_AWS_ENDPOINT"):
        return "endpoint"
    if os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"):
        return "aws"
    return "embedded"


class Stack:
    def __init__(self):
        self.children: list = []
        self.adopted: list[tuple[str, int]] = []
        self.recording = False     # set once the ports are checked: the pid file is ours from then on

    def spawn(self, name: str, argv: list[str], env: dict | None = None):
        proc = procs.start(argv, str(HOME / f"{name}.log"), env=env, cwd=str(ROOT))
        self.children.append((name, proc))
        self.record()
        return proc

    def adopt(self, name: str, pid: int) -> None:
        """A daemon a helper script started for us (dockerd): stopped by its pid at the end."""
        self.adopted.append((name, pid))
        self.record()

    def record(self) -> None:
        self.recording = True
        pidfile.write(HOME, [(n, p.pid, True) for n, p in self.children] + [(n, pid, False) for n, pid in self.adopted])

    def deaths(self) -> str:
        """Each child that exited, with the last lines of its log ("" when all run)."""
        out = []
        for name, proc in self.children:
            if proc.poll() is not None:
                log = HOME / f"{name}.log"
                lines = procs.tail(str(log), TAIL_LINES).replace("\n", "\n    ")
                out.append(f"{name} (pid {proc.pid}) exited with {proc.returncode}; "
                           f"last lines of {log}:\n    {lines}")
        return "\n".join(out)

    def stop(self) -> None:
        for name, proc in reversed(self.children):
            procs.stop(proc)
            print(f"stopped {name} (pid {proc.pid})")
        for name, pid in self.adopted:
            procs.stop_pid(pid)
            print(f"stopped {name} (pid {pid})")
        if self.recording:
            pidfile.remove(HOME)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    HOME.mkdir(parents=True, exist_ok=True)
    keys, mode, stack, keep_state = _secrets(), _aws_mode(), Stack(), False
    api_port = int(os.environ.get("TAHOBUDDY_API_PORT", 8000))
    aws_port = int(os.environ.get("TAHOBUDDY_EMULATOR_PORT", 4566))
    env = os.environ
    env.setdefault("TAHOBUDDY_PREFIX", "tahobuddy-dev")
    env["TAHOBUDDY_WEBHOOK_SECRET"] = keys["webhook_secret"]
    env["TAHOBUDDY_SESSION_KEY"] = keys["session_key"]
    if mode == "embedded":
        env.update({"TAHOBUDDY_AWS_ENDPOINT": f"http://127.0.0.1:{aws_port}", "AWS_ACCESS_KEY_ID": "local",
                    "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", "us-east-1")})
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # even when started with SIGINT ignored (a background job)
    from functions.store import tokens
    from . import provision, snapshot
    try:
        for done in pidfile.reap_stale(HOME):
            print(done)
        ports.check(_needs(mode, env, api_port, aws_port))
        stack.record()
        if mode == "embedded":
            proc = stack.spawn("moto", [sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(aws_port)])
            procs.wait_http(f"http://127.0.0.1:{aws_port}/moto-api/", proc=proc)
        if mode != "aws" or env.get("TAHOBUDDY_PROVISION") == "1":
            provision.all_resources()
        restored = snapshot.load(HOME / "state.json.gz") if mode == "embedded" else {}
        keep_state = mode == "embedded"  # only now: never overwrite a snapshot that was not loaded
        tokens.issue("admin", "make-run", keys["admin_token"])
        tokens.issue("agent", "make-run", keys["agent_token"], pool=env.get("TAHOBUDDY_POOL") or None)
        requeued = snapshot.requeue() if restored else 0
        env.setdefault("TAHOBUDDY_PUBLIC_URL", f"http://127.0.0.1:{api_port}")  # commit statuses link jobs here
        api = stack.spawn("api", [sys.executable, "-m", "local.api", "--host", "127.0.0.1",
                                  "--port", str(api_port), "--stage", "dev", "--no-autoreload"], env=dict(env))
        api_url = f"http://127.0.0.1:{api_port}"
        procs.wait_http(api_url + "/api/v1/health", proc=api)
        extra = _start_agent_side(stack, env, api_url, keys)
        lines = {"TAHOBUDDY_API_URL": api_url, "TAHOBUDDY_TOKEN": keys["admin_token"],
                 "TAHOBUDDY_WEBHOOK_SECRET": keys["webhook_secret"], **extra}
        (HOME / "dev.env").write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        print(f"Tahobuddy is running ({mode} AWS; restored {sum(restored.values())} items, requeued {requeued} jobs)")
        print(f"  dashboard:       {api_url}/   (sign in with the admin token)")
        print(f"  webhook URL:     {api_url}/api/v1/hooks/github")
        print(f"  webhook secret:  {keys['webhook_secret']}")
        print(f"  admin token:     {keys['admin_token']}")
        for k, v in extra.items():
            print(f"  {k}={v}")
        print(f"  settings for scripts: {HOME / 'dev.env'}   logs: {HOME}/*.log   Ctrl-C stops everything")
        for forge, where in reporting_forges(env).items():
            print(f"  {forge} commit statuses: {where} (the outbox is sent every {DELIVER_EVERY:g} s)")
        last = last_delivery = time.monotonic()
        while True:
            time.sleep(1.0)
            if stack.deaths():
                raise ChildDied(stack.deaths())
            if time.monotonic() - last_delivery >= DELIVER_EVERY:  # statuses and the apps' notifications
                _deliver(api_url, keys["admin_token"])
                last_delivery = time.monotonic()
            if time.monotonic() - last > SNAPSHOT_EVERY:
                _sweep(api_url, keys["admin_token"])
                if keep_state:
                    snapshot.save(HOME / "state.json.gz")
                last = time.monotonic()
    except KeyboardInterrupt:
        print("\nstopping ...")
        return_code = 0
    except Exception as exc:  # report any failure of the stack plainly, then stop what started
        print(f"tahobuddy stack: {exc}", file=sys.stderr)
        if not isinstance(exc, ChildDied) and stack.deaths():  # e.g. died before it answered
            print(stack.deaths(), file=sys.stderr)
        return_code = 1
    finally:
        if keep_state and stack.children and stack.children[0][1].poll() is None:
            try:
                counts = snapshot.save(HOME / "state.json.gz")
                print(f"saved state: {sum(counts.values())} items in {HOME / 'state.json.gz'}")
            except Exception as exc:  # a snapshot failure must not keep daemons running
                print(f"could not save state: {exc}", file=sys.stderr)
        stack.stop()
    return return_code


class ChildDied(RuntimeError):
    pass


def _sweep(api_url: str, token: str) -> None:
    """What the scheduled function does on AWS: dead letters end their jobs, lost messages are re-sent."""
    import requests
    try:
        r = requests.post(f"{api_url}/api/v1/sweep", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        done = {k: v for k, v in r.json().items() if v} if r.ok else {}
        if done:
            print(f"sweeper: {done}", flush=True)
    except (requests.RequestException, ValueError) as exc:  # the API child's death is reported by the loop
        print(f"sweeper: {exc.__class__.__name__}", flush=True)


def reporting_forges(env) -> dict[str, str]:
    """Forge -> where its commit statuses go, for the forges whose credentials this environment passes
    to the API (TAHOBUDDY_<FORGE>_TOKEN and _API_URL; GitHub's App settings; the shared secret)."""
    out = {}
    if any(env.get(k) for k in ("TAHOBUDDY_GITHUB_TOKEN", "TAHOBUDDY_GITHUB_APP_ID", "TAHOBUDDY_GITHUB_SECRET")):
        out["GitHub"] = env.get("TAHOBUDDY_GITHUB_API_URL") or "https://api.github.com"
    for forge, path in (("GitLab", "/api/v4"), ("Gitea", "/api/v1"), ("Forgejo", "/api/v1")):
        if env.get(f"TAHOBUDDY_{forge.upper()}_TOKEN"):
            out[forge] = env.get(f"TAHOBUDDY_{forge.upper()}_API_URL") or f"https://<repository host>{path}"
    return out


def _deliver(api_url: str, token: str) -> None:
    """What the outbox table's stream does on AWS: job state changes go to the forges and the apps'
    notify entries (functions/notify)."""
    import requests
    try:
        r = requests.post(f"{api_url}/api/v1/outbox/deliver", headers={"Authorization": f"Bearer {token}"},
                          timeout=60)
        done = {k: v for k, v in r.json().items() if v} if r.ok else {}
        if done:
            print(f"reports: {done}", flush=True)
    except (requests.RequestException, ValueError) as exc:
        print(f"reports: {exc.__class__.__name__}", flush=True)


def _needs(mode: str, env, api_port: int, aws_port: int) -> list[ports.Need]:
    """Every port this run will listen on, with the variable that moves each."""
    needs = [ports.Need(api_port, "API", "TAHOBUDDY_API_PORT")]
    if mode == "embedded":
        needs.insert(0, ports.Need(aws_port, "AWS emulator", "TAHOBUDDY_EMULATOR_PORT"))
    if env.get("TAHOBUDDY_AGENT", "on") != "off":
        needs += [ports.Need(int(env.get("TAHOBUDDY_PROXY_PORT", 8080)), "proxy", "TAHOBUDDY_PROXY_PORT"),
                  ports.Need(int(env.get("TAHOBUDDY_PROXY_ADMIN_PORT", 2019)), "proxy admin",
                             "TAHOBUDDY_PROXY_ADMIN_PORT")]
        if not env.get("TAHOBUDDY_REGISTRY"):
            needs.append(ports.Need(int(env.get("TAHOBUDDY_REGISTRY_PORT", 5000)), "registry",
                                    "TAHOBUDDY_REGISTRY_PORT"))
    return needs


def registry_config(data: Path, port: int) -> str:
    """distribution 2.8's settings: loopback only, no auth (the packaged config turns on htpasswd), deletes
    allowed so retention can remove tags; its storage under .tahobuddy/registry."""
    return (f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {data}\n"
            f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n")


def collect_garbage(home: Path) -> str:
    """distribution's `garbage-collect` over the registry's data, run before it serves (so no push is under way):
    it frees the layers of the manifests the agents' keep_images deleted. Without --delete-untagged: a commit
    built twice moves its tag to the new build, and the older build's digest, untagged, may still be a release.
    Its output goes to gc.log beside the config; "" when it ran (or nothing was ever pushed), else a warning."""
    if not (home / "data" / "docker" / "registry" / "v2" / "repositories").is_dir():
        return ""  # a registry nothing was pushed to yet: garbage-collect would fail on the missing folder
    try:
        done = subprocess.run(["docker-registry", "garbage-collect", str(home / "config.yml")], capture_output=True,
                              text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"registry garbage-collect did not run ({exc.__class__.__name__}); deleted images keep their disk"
    (home / "gc.log").write_text(done.stdout + done.stderr)
    return "" if done.returncode == 0 else f"registry garbage-collect exited {done.returncode}; see {home / 'gc.log'}"


def _start_registry(stack: Stack, env) -> str:
    """The installation's registry (host:port for TAHOBUDDY_REGISTRY), or the one the user named, or ""."""
    named = env.get("TAHOBUDDY_REGISTRY", "")
    if named:
        return "" if named == "off" else named
    port = int(env.get("TAHOBUDDY_REGISTRY_PORT", 5000))
    home = HOME / "registry"
    (home / "data").mkdir(parents=True, exist_ok=True)
    (home / "config.yml").write_text(registry_config(home / "data", port))
    warning = collect_garbage(home)
    if warning:
        print(f"warning: {warning}")
    proc = stack.spawn("registry", ["docker-registry", "serve", str(home / "config.yml")])
    procs.wait_http(f"http://127.0.0.1:{port}/v2/", proc=proc)
    return f"127.0.0.1:{port}"


def _start_agent_side(stack: Stack, env, api_url: str, keys: dict) -> dict:
    """Docker Engine (when none answers), Caddy, and the agent; returns extra dev.env lines."""
    if env.get("TAHOBUDDY_AGENT", "on") == "off":
        return {}
    docker_pid = subprocess.run([str(ROOT / "local" / "docker-up.sh")], capture_output=True, text=True,
                                env={**env, "TAHOBUDDY_HOME": str(HOME)})
    if docker_pid.returncode != 0:
        print(f"warning: no Docker Engine ({docker_pid.stderr.strip()}); docker targets will be refused")
    elif docker_pid.stdout.strip():
        stack.adopt("dockerd", int(docker_pid.stdout.strip()))
    admin_port = int(env.get("TAHOBUDDY_PROXY_ADMIN_PORT", 2019))
    proxy_port = int(env.get("TAHOBUDDY_PROXY_PORT", 8080))
    try:
        env["TAHOBUDDY_DB_IMAGES"] = db_images.as_setting(db_images.ensure(env))
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        print(f"warning: database images: {exc}; apps with a database will be refused")
    caddy_home = HOME / "caddy"
    caddy_home.mkdir(exist_ok=True)
    (caddy_home / "caddy.json").write_text(json.dumps({"admin": {"listen": f"127.0.0.1:{admin_port}"}}))
    caddy = stack.spawn("caddy", ["caddy", "run", "--config", str(caddy_home / "caddy.json")],
                        env={**env, "XDG_DATA_HOME": str(caddy_home / "data"),
                             "XDG_CONFIG_HOME": str(caddy_home / "config")})
    procs.wait_http(f"http://127.0.0.1:{admin_port}/config/", proc=caddy)
    registry = _start_registry(stack, env)
    stack.spawn("agent", [str(Path(sys.executable).parent / "tahobuddy"), "agent"], env={
        **env, "TAHOBUDDY_REGISTRY": registry, "TAHOBUDDY_API_URL": api_url, "TAHOBUDDY_AGENT_TOKEN": keys["agent_token"],
        "TAHOBUDDY_WORKDIR": str(HOME / "agent"), "TAHOBUDDY_PROXY_ADMIN": f"http://127.0.0.1:{admin_port}",
        "TAHOBUDDY_PROXY_LISTEN": f"127.0.0.1:{proxy_port}", "TAHOBUDDY_PROXY_HTTPS": "false",
        "PYTHONUNBUFFERED": "1"})
    return {"TAHOBUDDY_PROXY_URL": f"http://127.0.0.1:{proxy_port}", "TAHOBUDDY_AGENT_TOKEN": keys["agent_token"],
            **({"TAHOBUDDY_REGISTRY": registry} if registry else {})}


if __name__ == "__main__":
    sys.exit(main())
