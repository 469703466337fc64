"""Test tiers share one embedded AWS: a moto server on a free loopback port,
started once per session and stopped by its pid. The environment is set here,
before any `functions` module reads it."""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from local import procs

ROOT = Path(__file__).resolve().parent.parent
_PORT = procs.free_port()
os.environ.update({
    "TAHOBUDDY_AWS_ENDPOINT": f"http://127.0.0.1:{_PORT}",
    "TAHOBUDDY_PREFIX": "tbtest",
    "TAHOBUDDY_WEBHOOK_SECRET": "test-webhook-secret",
    "TAHOBUDDY_SESSION_KEY": "test-session-key-of-the-dashboard-0123456789abcdef",
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    "TAHOBUDDY_LEASE_SECONDS": "10",
    # pools the tests use; each agent test may take one of its own, so no test sees another's queue
    "TAHOBUDDY_POOLS": "default,home,remote,gpu,lonely,spare,gated,watched",
    "TAHOBUDDY_AGENT_HEARTBEAT": "1",
    "TAHOBUDDY_RESEND_AFTER": "3",
    "MOTO_ECS_SERVICE_RUNNING": "1",  # moto's ECS reports one running task per service (no real scheduler)
    # the forges' example hosts of tests/fixtures/providers: an app there is that forge's
    "TAHOBUDDY_GITLAB_HOSTS": "gitlab.example.com", "TAHOBUDDY_GITEA_HOSTS": "gitea.example.com",
    "TAHOBUDDY_FORGEJO_HOSTS": "code.example.org",
})
os.environ.pop("AWS_PROFILE", None)

# Started as a background job of a shell without job control (`make test &`, `nohup`, some CI runners),
# this process has SIGINT and SIGQUIT ignored, and every child it starts inherits that: a command's
# `trap ... INT` then never runs, and the cancel tests would see the kill, never the interrupt. Python's
# own handler instead: children start with the default, as they do under the agent (agent/main.py
# installs handlers, which an exec resets).
for _sig, _handler in ((signal.SIGINT, signal.default_int_handler), (signal.SIGQUIT, signal.SIG_DFL)):
    if signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, _handler)


@pytest.fixture(scope="session")
def workdir():
    with tempfile.TemporaryDirectory(prefix="tahobuddy-test-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def moto(workdir):
    """A moto server over real HTTP, with Tahobuddy's resources created in it."""
    # empty_queue purges between tests: the tests' emulator drops AWS's once-a-minute PurgeQueue limit
    env = {**os.environ, "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false"}
    proc = procs.start([sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(_PORT)],
                       str(workdir / "moto.log"), env=env)
    try:
        procs.wait_http(os.environ["TAHOBUDDY_AWS_ENDPOINT"] + "/moto-api/", proc=proc)
        from local import provision
        provision.all_resources()
        yield os.environ["TAHOBUDDY_AWS_ENDPOINT"]
    finally:
        procs.stop(proc)


@pytest.fixture(scope="session")
def admin_token(moto):
    from functions.store import tokens
    return tokens.issue("admin", "tests")


@pytest.fixture(scope="session")
def agent_tokens(moto):
    """`agent_tokens(pool)`: an agent token for that pool (a token registers agents in its own pool only)."""
    from functions.store import tokens
    made: dict[str, str] = {}

    def token(pool: str = "default") -> str:
        if pool not in made:
            made[pool] = tokens.issue("agent", "tests" if pool == "default" else f"tests-{pool}", pool=pool)
        return made[pool]
    return token


@pytest.fixture(scope="session")
def agent_token(agent_tokens):
    """The default pool's agent token."""
    return agent_tokens("default")


class Api:
    """A running `chalice local` and what a client needs to talk to it."""

    def __init__(self, url: str, token: str, secret: str):
        self.url, self.token, self.secret = url, token, secret

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


@contextmanager
def reporting_api(workdir: Path, log_name: str, token: str, env: dict):
    """A `chalice local` on a free port with `env` over the test environment (TAHOBUDDY_PUBLIC_URL set to
    it), and make run's outbox tick, faster: what sends commit statuses, deployments and notifications."""
    from local import stack
    port = procs.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TAHOBUDDY_PUBLIC_URL": url, "TAHOBUDDY_NOTIFY_BACKOFF": "0.2", **env}
    proc = procs.start([sys.executable, "-m", "local.api", "--host", "127.0.0.1", "--port", str(port),
                        "--stage", "dev", "--no-autoreload"], str(workdir / log_name), env=env, cwd=str(ROOT))
    stop = threading.Event()

    def tick():
        while not stop.wait(0.25):
            stack._deliver(url, token)

    ticker = threading.Thread(target=tick, daemon=True)
    try:
        procs.wait_http(url + "/api/v1/health", proc=proc)
        ticker.start()
        yield Api(url, token, os.environ["TAHOBUDDY_WEBHOOK_SECRET"])
    finally:
        stop.set()
        if ticker.is_alive():
            ticker.join(timeout=65)
        procs.stop(proc)


@pytest.fixture(scope="session")
def api(moto, admin_token, workdir):
    port = procs.free_port()
    proc = procs.start([sys.executable, "-m", "local.api", "--host", "127.0.0.1",
                        "--port", str(port), "--stage", "dev", "--no-autoreload"],
                       str(workdir / "chalice.log"), env=dict(os.environ), cwd=str(ROOT))
    url = f"http://127.0.0.1:{port}"
    try:
        procs.wait_http(url + "/api/v1/health", proc=proc)
        yield Api(url, admin_token, os.environ["TAHOBUDDY_WEBHOOK_SECRET"])
    finally:
        procs.stop(proc)


@pytest.fixture(scope="session")
def docker_images(workdir):
    """The base images the agent tests build from (no registry can be reached here)."""
    import docker
    try:
        docker.from_env().ping()
    except Exception as exc:  # a clear message instead of a wall of errors
        pytest.fail(f"no Docker Engine answers ({exc}); `make test` starts one (local/docker-up.sh)")
    from tests.realparts import build_base_images
    build_base_images(workdir)


@pytest.fixture(scope="session")
def db_images(docker_images) -> dict:
    """Real database servers for the agent tests: the configured images (TAHOBUDDY_DB_IMAGES, else the
    official ones) where this engine has them or can pull them, else the ones local/db-images.sh makes
    here from Debian (once per engine). Pass `{"TAHOBUDDY_DB_IMAGES": ...}` to the agent."""
    from local import db_images as images
    return images.ensure(log=lambda line: None)


@pytest.fixture(scope="session")
def caddy(workdir):
    from tests.realparts import Caddy
    proxy = Caddy(workdir / "caddy")
    yield proxy
    proxy.stop()


def _purge_pools() -> None:
    import boto3
    from functions.dispatch import queue
    from functions.config import boto_kwargs, settings
    sqs = boto3.client("sqs", **boto_kwargs())
    for pool in settings().pools:
        sqs.purge_queue(QueueUrl=queue.url(pool))


@pytest.fixture
def empty_queue(moto):
    """Drop every message other tests left in every pool's queue, visible or in flight (a stopped agent's
    held message comes back when its visibility ends), so an agent sees only ours. The emulator's
    PurgeQueue clears both (the `moto` fixture lifts AWS's once-a-minute limit for it)."""
    _purge_pools()


@pytest.fixture
def queue_alone(moto):
    """For a test that reads a pool's queue itself, right after a push: the queues emptied once no stopped
    agent's long poll is open any more. An agent stops at once when idle, mid-poll; the emulator still
    answers that poll until its wait ends (TAHOBUDDY_POLL_WAIT 1 s in the tests, and up to 1 s more for its
    wake-up), and a message it takes is in flight for the agent's 10 s hold, gone from a receive here
    (the sweeper test's receive got nothing so once). The wait is that bound, from the last stop."""
    from tests.realparts import AgentProcess
    open_until = AgentProcess.last_stopped + AgentProcess.POLL_WAIT + 1.0
    while time.monotonic() < open_until:  # bounded: at most 2 s
        time.sleep(open_until - time.monotonic())
    _purge_pools()


@pytest.fixture
def start_agent(api, agent_tokens, tmp_path, empty_queue):
    """Start `tahobuddy agent` as a user runs it, against the session's API (or `against=` another), with
    the pools' queues emptied first: `start_agent("docker", extra={...})` takes AgentProcess's keywords.
    `pool=` starts it in that pool, with the pool's own token and an agent id of its own (an id another
    token's live session holds is refused, 409). Each stops when the test ends."""
    from tests.realparts import AgentProcess
    started = []

    def start(targets: str = "shell", *, against=None, pool: str = "default", **kw) -> AgentProcess:
        if pool != "default":
            kw.setdefault("name", pool)
            kw["extra"] = {**(kw.get("extra") or {}), "TAHOBUDDY_POOL": pool}
        started.append(AgentProcess(against or api, agent_tokens(pool), tmp_path, targets=targets, **kw))
        return started[-1]
    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(autouse=True)
def _stop_leftover_agents():
    """Whatever a test does, every agent it started is stopped by its pid before the next test."""
    from tests.realparts import AgentProcess
    yield
    while AgentProcess.started:
        AgentProcess.started.pop().stop(timeout=30)


TIERS = ("unit", "functional", "e2e")


def pytest_collection_modifyitems(config, items):
    """Every test belongs to exactly one tier, so `pytest -m unit|functional|e2e` runs it somewhere.
    A test of each API operation that schemathesis makes (test_openapi.py) is named after its operation
    (`...[GET /api/v1/jobs]`), but its node id is the bare function's, one id for all of them: pytest-xdist
    sends tests to its workers by node id, and so ran one of them instead of each. Each gets its name's id."""
    for item in items:
        if item.name.endswith("]") and "[" not in item.nodeid:
            named = f"{item.nodeid}[{item.name.split('[', 1)[1]}"
            if hasattr(item, "_id"):  # pytest 9.2 keeps a structured id
                item._id = type(item._id).parse(named)
            else:
                item._nodeid = named
    ids = [i.nodeid for i in items]
    if len(set(ids)) != len(ids):
        raise pytest.UsageError(f"tests share a node id (pytest-xdist would run one of them): "
                                f"{sorted({i for i in ids if ids.count(i) > 1})[:5]}")
    untiered = [i.nodeid for i in items if sum(1 for t in TIERS if i.get_closest_marker(t)) != 1]
    if untiered:
        raise pytest.UsageError(f"each test needs exactly one of the markers {', '.join(TIERS)}: {untiered[:5]}")
