"""dockerd going away after the build (while the new container starts or is health-checked): which
errors docker-py raises then, built the way it builds them (tests/functional/test_engine_lost_errors.py
gets the same ones from real sockets), and what the job's reason says."""
import docker
import pytest
import requests
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from runners import docker_convert as convert
from runners.base import Cancel, JobSpec, RunContext
from runners.docker import DockerRunner

pytestmark = pytest.mark.unit
SHA = "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"


def raised_by_requests(cause: BaseException, error=requests.exceptions.ConnectionError) -> BaseException:
    """As requests' adapter raises it: its own error around urllib3's, with urllib3's as the context."""
    try:
        try:
            raise cause
        except BaseException as inner:
            raise error(inner)
    except BaseException as outer:
        return outer


def wrapped_by_docker(exc: BaseException) -> docker.errors.DockerException:
    """As docker.from_env() raises it when asking the API version fails."""
    try:
        try:
            raise exc
        except Exception as e:
            raise docker.errors.DockerException(f"Error while fetching server API version: {e}") from e
    except docker.errors.DockerException as outer:
        return outer


ABORTED_NO_SOCKET = ProtocolError("Connection aborted.", FileNotFoundError(2, "No such file or directory"))
ABORTED_HUNG_UP = ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))


@pytest.mark.parametrize("exc", [
    raised_by_requests(ABORTED_NO_SOCKET),                             # dockerd stopped: no socket
    raised_by_requests(ABORTED_HUNG_UP),                               # dockerd stopping mid-call
    wrapped_by_docker(raised_by_requests(ABORTED_NO_SOCKET)),          # docker.from_env() while it is away
    raised_by_requests(ProtocolError("Response ended prematurely"), requests.exceptions.ChunkedEncodingError),
    docker.errors.DockerException("Error while fetching server API version: ('Connection aborted.', "
                                  "ConnectionRefusedError(111, 'Connection refused'))"),  # the cause not kept
], ids=["no-socket", "hung-up", "from-env", "answer-cut", "words-only"])
def test_errors_of_a_docker_engine_gone_away_are_an_engine_lost(exc):
    said = convert.engine_lost_error(exc)
    assert said.startswith(f"{exc.__class__.__name__}: ") and len(said) <= 300
    assert str(exc)[:40] in said


def api_error(status: int, message: str) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    try:  # docker-py raises its APIError from requests' HTTPError
        try:
            raise requests.exceptions.HTTPError(f"{status} Server Error", response=response)
        except requests.exceptions.HTTPError as e:
            raise docker.errors.APIError(e, response=response, explanation=message) from e
    except docker.errors.APIError as outer:
        return outer


@pytest.mark.parametrize("exc", [
    api_error(500, "failed to create shim task: connection refused"),  # dockerd answered: it is there
    api_error(404, "No such container: abc"),
    raised_by_requests(ReadTimeoutError(None, "/containers/abc/start", "Read timed out."),
                       requests.exceptions.ReadTimeout),              # dockerd there, slow
    KeyError("NetworkSettings"),                                      # a bug of ours stays a crash
    ConnectionRefusedError(111, "Connection refused"),               # not raised by docker-py
], ids=["api-500", "api-404", "read-timeout", "bug", "bare-oserror"])
def test_an_answer_of_dockerd_a_slow_one_or_a_bug_is_not_an_engine_lost(exc):
    assert convert.engine_lost_error(exc) == ""


def ctx_after(*marks: str, name: str = "") -> RunContext:
    ctx = RunContext(workdir=None, worktree=None, cancel=Cancel(), settings=None, secrets=lambda n: "")
    if name:
        ctx.scratch["new_container_name"] = name
    for mark in marks:
        ctx.phases.mark(mark)
    return ctx


def test_the_reason_says_when_it_happened_what_still_serves_and_what_to_do():
    spec = JobSpec("j9", "blog", "release", {"type": "docker"}, "repo", "refs/tags/v3", SHA,
                   releases=({"image": "i", "ref": "refs/tags/v2", "sha": "c" * 40},))
    checking = DockerRunner._engine_lost(spec, ctx_after("container_started", name="tahobuddy-blog-j9-ab12"),
                                         "ConnectionError: gone")
    assert checking.startswith("the Docker Engine went away while the new container was being health-checked "
                               "(dockerd restarted or stopped?): ConnectionError: gone; the route was not changed: "
                               f"it still points at refs/tags/v2 ({'c' * 12})")
    assert checking.endswith("deploy again once `docker info` answers on the agent; remove the new container if "
                             "it is left: `docker rm -f tahobuddy-blog-j9-ab12`")
    starting = DockerRunner._engine_lost(spec, ctx_after(name="tahobuddy-blog-j9-ab12"), "e")
    assert "while the new container was being created and started" in starting
    first = DockerRunner._engine_lost(JobSpec("j1", "blog", "release", {"type": "docker"}, "repo", "v1", SHA),
                                      ctx_after(), "e")
    assert "before the new container was made" in first and "; the route was not changed; deploy again" in first
    teardown = DockerRunner._engine_lost(JobSpec("j2", "blog", "previews", {"type": "docker", "preview": {
        "number": 7}}, "repo", "refs/pull/7/head", SHA, trigger="teardown"), ctx_after(), "e")
    assert "while preview #7 was torn down" in teardown and "reconciler removes what is left" in teardown


def test_a_container_docker_refuses_to_start_is_no_lost_engine_and_its_reason_says_why_and_what_serves():
    """dockerd answered (a 500 at /containers/ID/start): not engine_lost; Docker's words, a hint for a held host
    port, and the route as it stands (the v3 job of a parallel test run that met the shared engine's ports)."""
    response = requests.Response()
    response.status_code = 500
    held = docker.errors.APIError("500 Server Error", response, explanation=(
        "driver failed programming external connectivity on endpoint tahobuddy-site-1-ab12: Error starting userland "
        "proxy: listen tcp4 127.0.0.1:32778: bind: address already in use"))
    assert convert.engine_lost_error(held) == ""
    words = convert.start_refused(held, {"ref": "refs/heads/main", "sha": SHA})
    assert words.startswith("Docker would not start the new container: driver failed programming external "
                            "connectivity on endpoint tahobuddy-site-1-ab12: Error starting userland proxy: listen "
                            "tcp4 127.0.0.1:32778: bind: address already in use (another process holds the host port")
    assert words.endswith(f"; the route still points at refs/heads/main ({SHA[:12]})")
    cpus = docker.errors.APIError("400 Client Error", response, explanation="Range of CPUs is from 0.01 to 2.00")
    assert convert.start_refused(cpus, None) == ("Docker would not start the new container: Range of CPUs is from "
                                                 "0.01 to 2.00; the route was not changed")
