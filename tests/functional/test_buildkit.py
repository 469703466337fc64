"""BuildKit builds against the real dockerd, through runners.image as the docker and aws-ecs
runners call it: parallel stages, build secrets that never stay, cancel, and the legacy fallback."""
import subprocess
import threading
import time
import uuid

import docker
import pytest

from agent.config import AgentConfig
from agent.secrets import Secrets
from runners import image
from runners.base import Cancel, JobResult, JobSpec, Reason, RunContext, Status
from tests.realparts import BASE_IMAGE

pytestmark = pytest.mark.functional


class Built:
    """One build of a Dockerfile in its own worktree, its masked log kept as the agent would send it."""

    def __init__(self, tmp_path, dockerfile: str, target: dict | None = None, env: dict | None = None):
        self.app = f"bk-{uuid.uuid4().hex[:8]}"
        worktree = tmp_path / self.app
        worktree.mkdir()
        (worktree / "Dockerfile").write_text(dockerfile)
        self.secrets = Secrets(env=env or {})
        self.lines: list[str] = []
        self.spec = JobSpec(job_id=uuid.uuid4().hex[:12], app=self.app, rule="main",
                            target={"type": "docker", **(target or {})}, repository="local", ref="refs/heads/main",
                            sha="0123456789abcdef0123456789abcdef01234567")
        self.ctx = RunContext(workdir=tmp_path, worktree=worktree, cancel=Cancel(), settings=AgentConfig(),
                              secrets=self.secrets, timeout=120)

    def log(self, line: str) -> None:
        self.lines.append(self.secrets.mask(line))

    def __call__(self) -> str | JobResult:
        return image.build(docker.from_env(), self.spec, self.ctx, self.log)

    def remove(self) -> None:
        client = docker.from_env()
        for img in client.images.list(filters={"label": f"tahobuddy.app={self.app}"}):
            client.images.remove(img.id, force=True)


@pytest.fixture
def build(tmp_path, docker_images):
    made = []

    def make(dockerfile: str, **kw) -> Built:
        made.append(Built(tmp_path, dockerfile, **kw))
        return made[-1]
    yield make
    for b in made:
        b.remove()


def test_independent_stages_run_at_the_same_time_and_labels_add_no_steps(build):
    # each stage waits (at most 20 s) for the other's mark in a shared cache mount: both can only
    # succeed when BuildKit runs them concurrently
    mount = f"--mount=type=cache,id={uuid.uuid4().hex},target=/meet"
    wait_for = "for i in $(seq 200); do [ -e /meet/{0} ] && exit 0; sleep 0.1; done; exit 1"
    b = build(f"""FROM {BASE_IMAGE} AS left
RUN {mount} sh -c 'touch /meet/left; {wait_for.format("right")}' && echo left > /left
FROM {BASE_IMAGE} AS right
RUN {mount} sh -c 'touch /meet/right; {wait_for.format("left")}' && echo right > /right
FROM {BASE_IMAGE}
COPY --from=left /left /both/left
COPY --from=right /right /both/right
CMD ["cat", "/both/left", "/both/right"]
""")
    image_id = b()
    assert isinstance(image_id, str) and image_id.startswith("sha256:"), (image_id, b.lines)
    client = docker.from_env()
    assert client.containers.run(image_id, remove=True).decode().split() == ["left", "right"]
    built = client.images.get(image_id)
    assert built.labels["tahobuddy.app"] == b.app and built.labels["tahobuddy.job"] == b.spec.job_id
    assert f"tahobuddy/{b.app}:job-{b.spec.job_id}" in built.tags and f"tahobuddy/{b.app}:0123456789ab" in built.tags
    assert not any("LABEL" in (h.get("CreatedBy") or "") for h in built.history())  # no label steps
    assert any("[internal] load build definition" in line for line in b.lines)  # plain progress lines
    assert "with BuildKit" in b.lines[0]


def test_a_build_secret_is_read_by_the_build_and_kept_nowhere(build):
    value, step = f"s3cr3t-{uuid.uuid4().hex}", f"read-ok-{uuid.uuid4().hex[:6]}"
    b = build(f"""FROM {BASE_IMAGE}
RUN --mount=type=secret,id=token,required=true sh -c 'test "$(cat /run/secrets/token)" = "{value[:7]}$(echo {value[7:]})" && echo {step}'
RUN --mount=type=secret,id=token cat /run/secrets/token
CMD ["true"]
""", target={"build_secrets": {"token": "secret:BUILD_TOKEN"}}, env={"BUILD_TOKEN": value})
    image_id = b()
    assert isinstance(image_id, str), (image_id, b.lines)
    log = "\n".join(b.lines)
    assert step in log and "***" in log  # the build read it; the step that printed it was masked
    assert value not in log
    history = subprocess.run(["docker", "history", "--no-trunc", image_id], capture_output=True, text=True,
                             check=True).stdout
    inspect = subprocess.run(["docker", "inspect", image_id], capture_output=True, text=True, check=True).stdout
    assert step in history  # the step is there...
    assert value not in history and value not in inspect and value[7:] not in inspect  # ...the value is not
    assert "BUILD_TOKEN" not in inspect


def test_a_missing_build_secret_refuses_the_job(build):
    b = build(f"FROM {BASE_IMAGE}\n", target={"build_secrets": {"token": "secret:NOT_SET_HERE"}})
    with pytest.raises(Exception, match="secret NOT_SET_HERE is not set on this agent"):
        b()


def test_cancel_stops_the_build_in_dockerd(build):
    mark = uuid.uuid4().hex
    b = build(f"FROM {BASE_IMAGE}\nRUN sh -c 'sleep 300; echo {mark}'\n")
    out = {}
    runner = threading.Thread(target=lambda: out.update(result=b()))
    runner.start()
    running = lambda: subprocess.run(["pgrep", "-f", mark], capture_output=True).returncode == 0  # noqa: E731
    deadline = time.monotonic() + 60
    while not running():
        assert time.monotonic() < deadline and runner.is_alive(), b.lines
        time.sleep(0.1)
    b.ctx.cancel.request("canceled by test")
    runner.join(timeout=30)
    assert not runner.is_alive()
    assert out["result"].status == Status.CANCELED and "canceled by test" in out["result"].detail
    deadline = time.monotonic() + 30  # the RUN step's process goes too: the build ended in dockerd
    while running():
        assert time.monotonic() < deadline, "the build step still runs after cancel"
        time.sleep(0.1)


def test_a_failed_step_is_a_failed_build_with_its_error(build):
    b = build(f"FROM {BASE_IMAGE}\nRUN exit 3\n")
    result = b()
    assert result.status == Status.FAILED and result.detail.startswith("build failed:"), result
    assert "exit code: 3" in result.detail or "exit code: 3" in "\n".join(b.lines)


def test_without_buildkit_the_legacy_builder_runs_and_says_so(build, tmp_path, monkeypatch):
    monkeypatch.setattr(image, "DOCKER_CLI", str(tmp_path / "no-such-docker"))
    b = build(f"FROM {BASE_IMAGE}\nRUN echo legacy > /x\n")
    image_id = b()
    assert isinstance(image_id, str), b.lines
    assert any("BuildKit is not available" in line and "legacy builder" in line for line in b.lines)
    s = build(f"FROM {BASE_IMAGE}\n", target={"build_secrets": {"token": "secret:T"}})
    result = s()
    assert result.reason == Reason.REFUSED and "build_secrets need BuildKit" in result.detail


def test_a_preview_build_never_shares_a_cache_mount_with_a_production_build(build):
    """Cache poisoning: a pull request's build writes into a cache mount that the next production build of
    the same Dockerfile would read. Each build lists what its cache mount holds, then adds its own mark."""
    cache = uuid.uuid4().hex
    dockerfile = f"""FROM {BASE_IMAGE}
ARG mark
RUN --mount=type=cache,id={cache},target=/cache sh -c 'ls /cache > /seen; touch /cache/$mark'
CMD ["cat", "/seen"]
"""
    client = docker.from_env()

    def seen(mark: str, preview: int = 0) -> list[str]:
        target = {"build_args": {"mark": mark}, **({"preview": {"number": preview}} if preview else {})}
        b = build(dockerfile, target=target)
        image_id = b()
        assert isinstance(image_id, str), (image_id, b.lines)
        return client.containers.run(image_id, remove=True).decode().split()

    assert seen("from-pr-7", preview=7) == []
    assert seen("from-main") == []                      # the preview's mark is not in production's cache
    assert seen("from-pr-8", preview=8) == ["from-pr-7"]  # previews still share theirs (one trust level)
    assert seen("from-main-again") == ["from-main"]     # and production keeps its own
