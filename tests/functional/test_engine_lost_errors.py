"""dockerd going away after the build: the real errors docker-py and requests raise, got from a unix
socket in tmp_path: none at all (dockerd stopped), one that hangs up without an answer (dockerd
stopping), or one that answers (dockerd there: its errors are not an engine lost). They prove the
shapes tests/unit/test_engine_lost.py builds by hand are the ones that happen."""
import socket
import threading

import docker
import pytest
import requests

from agent.config import AgentConfig
from runners import docker_convert as convert
from runners.base import Cancel, JobSpec, Reason, RunContext
from runners.docker import DockerRunner

pytestmark = pytest.mark.functional
SHA = "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"


class Socket:
    """A unix socket that reads one request per connection, then sends `answer` (raw HTTP) and hangs up."""

    def __init__(self, path, answer: bytes = b""):
        self.path, self.answer = path, answer
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(8)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return  # shut down
            with conn:
                conn.recv(65536)
                if self.answer and not self.stopping.is_set():
                    conn.sendall(self.answer)

    def close(self):
        """Stop the thread before the descriptor goes. close() alone neither wakes a thread blocked in
        accept() nor stops one about to call it: that thread would then accept on whatever socket
        reuses the number next (it once took a Heroku stand-in's connections and answered them 404)."""
        self.stopping.set()
        try:
            self.server.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() (EINVAL on Linux)
        except OSError:
            pass
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the socket's thread did not stop"
        self.server.close()


def api(path, timeout=5):
    return docker.APIClient(base_url=f"unix://{path}", version="1.41", timeout=timeout)


def raised(call) -> BaseException:
    with pytest.raises(Exception) as info:
        call()
    return info.value


def answer(status: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


def test_no_dockerd_on_the_socket_is_an_engine_lost(tmp_path):
    missing = tmp_path / "docker.sock"
    exc = raised(lambda: api(missing).create_container("img"))
    assert isinstance(exc, requests.exceptions.ConnectionError)
    assert convert.engine_lost_error(exc).startswith("ConnectionError: ('Connection aborted.', FileNotFound")
    # docker.from_env() asks the API version first and wraps the same error in a DockerException
    wrapped = raised(lambda: docker.DockerClient(base_url=f"unix://{missing}", version="auto", timeout=5))
    assert type(wrapped) is docker.errors.DockerException
    assert convert.engine_lost_error(wrapped).startswith("DockerException: Error while fetching server API version")


def test_a_dockerd_that_hangs_up_without_an_answer_is_an_engine_lost(tmp_path):
    hangs_up = Socket(tmp_path / "docker.sock")
    try:
        exc = raised(lambda: api(hangs_up.path).start("abc"))
    finally:
        hangs_up.close()
    assert "RemoteDisconnected" in repr(exc) and "Remote end closed connection" in convert.engine_lost_error(exc)


def test_an_answer_of_dockerd_or_a_slow_one_is_not_an_engine_lost(tmp_path):
    not_found = Socket(tmp_path / "404.sock", answer("404 Not Found", b'{"message": "No such container: abc"}'))
    broken = Socket(tmp_path / "500.sock", answer("500 Internal Server Error",
                                                  b'{"message": "connection refused to containerd"}'))
    silent = socket.socket(socket.AF_UNIX)
    silent.bind(str(tmp_path / "silent.sock"))
    silent.listen(1)  # accepts (the kernel does) and never answers
    try:
        errors = [raised(lambda: api(not_found.path).start("abc")), raised(lambda: api(broken.path).start("abc")),
                  raised(lambda: api(tmp_path / "silent.sock", timeout=0.3).start("abc"))]
    finally:
        not_found.close(), broken.close(), silent.close()
    assert [type(e).__name__ for e in errors] == ["NotFound", "APIError", "ReadTimeout"]
    assert [convert.engine_lost_error(e) for e in errors] == ["", "", ""]
    assert convert.engine_lost_error(KeyError("NetworkSettings")) == ""  # a bug of ours stays a crash


def test_a_rollback_whose_engine_went_away_ends_engine_lost_saying_what_still_serves(tmp_path):
    releases = ({"image": "sha256:" + "1" * 64, "ref": "refs/tags/v1", "sha": SHA, "container": "c1"},
                {"image": "sha256:" + "2" * 64, "ref": "refs/tags/v2", "sha": "c" * 40, "container": "c2"})
    spec = JobSpec("j9", "blog", "release", {"type": "docker"}, "repo", "v1", "", trigger="rollback",
                   releases=releases)
    ctx = RunContext(workdir=tmp_path, worktree=None, cancel=Cancel(), settings=AgentConfig(), secrets=lambda n: "")
    ctx.scratch["client"] = docker.DockerClient(base_url=f"unix://{tmp_path / 'gone.sock'}", version="1.41",
                                                timeout=5)
    lines = []
    result = DockerRunner().run(spec, ctx, lines.append)
    assert (result.reason, result.exit_code) == (Reason.ENGINE_LOST, -1)
    assert result.detail.startswith("the Docker Engine went away before the new container was made (dockerd "
                                    "restarted or stopped?): ConnectionError: "), result.detail
    assert f"it still points at refs/tags/v2 ({'c' * 12})" in result.detail
    assert result.detail.endswith("deploy again once `docker info` answers on the agent")
    assert lines == [f"tahobuddy: {result.detail}"]
