"""Builder containers: a shell or ansible target's commands in fresh containers of its `image:`.

One container per command, each removed as soon as its command ends. Why not one long-lived
container with `docker exec` per command: Docker cannot signal an exec'd process, only the
container's main process, so canceling an exec could not give the command its grace period; an
OOM kill inside an exec is not recorded on the container until the container ends; and a sleeping
main process needs a `sleep` in every image. Here the command is the main process (behind
docker-init), so `stop` is SIGTERM, the grace period, then SIGKILL, exactly as `runners/process.py`
does for a command on the host, and an OOM kill belongs to that command alone. Commands share
what they write in the worktree (/workspace); anything they leave elsewhere goes with its container.

The containers carry the labels `tahobuddy.job=<id>` and `tahobuddy.role=builder`; `cleanup` removes
every container with them, so it is safe after a failed `prepare`, twice, and after an agent crash
left one behind for a retried job.
"""
from __future__ import annotations

import os
import secrets
import threading
import time
from typing import Callable

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from . import builder_convert as convert
from . import docker_convert
from .base import JobResult, JobSpec, Log, Reason, RunContext, RunnerError, Status
from .process import GRACE_SECONDS

KILLED = 137  # 128 + SIGKILL: what an OOM kill, and any other SIGKILL, leaves as the exit code
OOM_EVENT_WAIT = 5.0  # how long a SIGKILLed command's exit waits for the engine's late "oom" event


def _client(timeout: int = 120) -> docker.DockerClient:
    return docker.from_env(timeout=timeout)


def agent_user() -> str:
    """The agent's uid:gid, so what the commands leave in the worktree is the agent's to remove."""
    return f"{os.getuid()}:{os.getgid()}"


class Builder:
    grace = GRACE_SECONDS

    def prepare(self, spec: JobSpec, ctx: RunContext) -> None:
        """Docker answers, the image is here (the agent never pulls), and an `app` network exists."""
        image = spec.target["image"]
        try:
            client = _client()
            client.ping()
        except DockerException as exc:
            raise RunnerError(f"image: {image} needs a Docker Engine on the agent, and none answers ({exc})",
                              exc) from exc
        ctx.scratch["builder_client"] = client
        try:
            client.images.get(image)
        except ImageNotFound as exc:
            raise RunnerError(f"image {image} is not on this agent's Docker Engine; build or pull it there "
                              f"first (the agent never pulls)", exc, Reason.REFUSED) from exc
        if convert.network_mode(spec) == docker_convert.network(spec.app):
            try:
                client.networks.get(docker_convert.network(spec.app))
            except NotFound:
                client.networks.create(docker_convert.network(spec.app), driver="bridge",
                                       labels={"tahobuddy.app": spec.app})

    def run(self, spec: JobSpec, ctx: RunContext, log: Log, commands: list[list[str]], env: dict[str, str],
            extra_volumes: dict | None = None, on_line: Callable[[str], None] | None = None) -> JobResult:
        """Each argv in its own container, in order; the first that fails ends the job."""
        client = ctx.scratch["builder_client"]
        deadline = time.monotonic() + ctx.timeout
        log(f"tahobuddy: running in containers of {spec.target['image']} "
            f"(network {convert.network_mode(spec)}, cpus {spec.target.get('cpus', 'unlimited')}, "
            f"memory {spec.target.get('memory', 'unlimited')})")
        for i, argv in enumerate(commands, 1):
            kwargs = convert.container_kwargs(spec, ctx.worktree, argv, env, index=i, suffix=secrets.token_hex(2),
                                              user=agent_user(), extra_volumes=extra_volumes)
            log(f"$ {' '.join(argv)}")
            code, why, oom = self._one(client, kwargs, ctx, log, deadline, on_line)
            log(f"tahobuddy: command {i} exited with {code}")
            if why == "canceled":
                return JobResult(Status.CANCELED, code, Reason.CANCELED, f"command {i} canceled: {ctx.cancel.reason}")
            if why == "timeout":
                return JobResult.failed(f"command {i} timed out after {ctx.timeout:.0f}s", code, Reason.TIMEOUT)
            if oom:
                return JobResult.failed(f"command {i} ({argv[0]}) {convert.oom_reason(spec.target)}", code)
            if code == 127:
                return JobResult.failed(f"command {i}: {argv[0]!r} not found in {spec.target['image']}", code)
            if code != 0:
                return JobResult.failed(f"command {i} ({argv[0]}) exited with {code}", code)
        return JobResult.ok(f"{len(commands)} command(s) succeeded in {spec.target['image']}")

    def _one(self, client, kwargs: dict, ctx: RunContext, log: Log, deadline: float,
             on_line: Callable[[str], None] | None) -> tuple[int, str | None, bool]:
        """Create, start, stream, wait; on cancel or timeout stop (grace, then kill). Exit code, why, OOM."""
        try:
            container = client.containers.create(**kwargs)
        except APIError as exc:  # a bad limit (more cpus than the host has), a missing network
            raise RunnerError(f"Docker refused the builder container: {exc.explanation or exc}", exc) from exc
        since = int(time.time()) - 1  # the engine's event log, read for an OOM kill (see `_oom_killed`)
        try:
            container.start()
        except APIError as exc:  # an argv[0] missing from the image fails here, before anything runs
            container.remove(force=True)
            text = str(exc.explanation or exc)
            if "executable file not found" in text or "no such file or directory" in text:
                log(f"tahobuddy: {text}")
                return 127, None, False
            raise RunnerError(f"Docker could not start the builder container: {text}", exc) from exc
        reader = threading.Thread(target=_pump, args=(container, log, on_line), daemon=True)
        reader.start()
        why = None
        while reader.is_alive():
            if ctx.cancel.wait(0.1):
                why = "canceled"
            elif time.monotonic() > deadline:
                why = "timeout"
            if why:
                log(f"tahobuddy: {why}: stopping the container (kill after {self.grace:.0f}s)")
                try:
                    container.stop(timeout=int(self.grace))  # dockerd: SIGTERM, the grace, SIGKILL
                except (APIError, NotFound):
                    pass
                break
        reader.join(timeout=30)
        try:
            code = int(container.wait(timeout=60)["StatusCode"])
            container.reload()
            oom = bool(container.attrs["State"].get("OOMKilled"))
            if code == KILLED and not oom and why is None:
                oom = _oom_killed(client, container.id, since)
            container.remove(force=True)
        except NotFound:  # removed under us (cleanup from another thread): it ended
            code, oom = KILLED, False
        return code, why, oom

    def cleanup(self, spec: JobSpec, ctx: RunContext) -> None:
        """Remove every builder container of the job; safe after a failed prepare and twice."""
        client = ctx.scratch.get("builder_client")
        try:
            client = client or _client(timeout=30)
            found = client.containers.list(all=True, filters=convert.label_filter(spec))
        except DockerException:
            return  # no engine answers: there is nothing it could have made
        for container in found:
            try:
                container.remove(force=True)
            except NotFound:
                pass


def _oom_killed(client, container_id: str, since: int) -> bool:
    """Whether the engine logged an "oom" event for the container. containerd sends the cgroup's OOM
    event and the task's exit on separate paths, in no fixed order (fixed upstream only in containerd
    2.2, #12714); when the exit comes first, dockerd never sets `State.OOMKilled`, but it still logs
    the event. So a SIGKILLed command nobody stopped waits up to OOM_EVENT_WAIT for it: an OOM kill
    answers at once, any other SIGKILL costs the wait."""
    try:
        events = client.events(since=since, until=int(time.time() + OOM_EVENT_WAIT), decode=True,
                               filters={"container": container_id, "event": "oom"})
        try:
            return any(e.get("status") == "oom" or e.get("Action") == "oom" for e in events)
        finally:
            events.close()
    except DockerException:
        return False


def _pump(container, log: Log, on_line: Callable[[str], None] | None) -> None:
    """The container's stdout and stderr, line by line, into the job log."""
    pending = b""
    try:
        for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                _emit(raw, log, on_line)
    except Exception:  # noqa: BLE001 - the container or the connection went away; the wait reports why
        pass
    if pending:
        _emit(pending, log, on_line)


def _emit(raw: bytes, log: Log, on_line: Callable[[str], None] | None) -> None:
    line = raw.decode("utf-8", errors="replace").rstrip("\r")
    log(line)
    if on_line:
        on_line(line)
