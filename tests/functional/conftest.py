"""Fixtures the functional tests share (the session's real parts are in tests/conftest.py)."""
import pytest

from tests.realparts import GitRepo


@pytest.fixture
def repo(tmp_path):
    """A git origin with a working clone holding hello.txt (nothing committed yet); a test module
    may define its own `repo` for other contents."""
    repo = GitRepo(tmp_path / "repo")
    repo.write({"hello.txt": "hello\n"})
    return repo


@pytest.fixture
def agent(start_agent):
    """One agent that runs shell targets; a test module may define its own `agent` for other targets."""
    return start_agent("shell")
