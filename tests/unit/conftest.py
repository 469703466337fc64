"""The unit tier is pure: no subprocess, no network, no file written outside the test's tmp_path.

An audit hook (PEP 578) refuses those operations while a unit test runs on the main thread,
so a test that drifts into I/O fails here instead of being slow or flaky somewhere else.
Reading files (imports, fixtures in the repository) stays allowed.
"""
from __future__ import annotations

import sys
import threading

import pytest

_active: dict = {"on": False, "tmp": None}
_SPAWN = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "pty.spawn"}
_WRITE_FLAGS = ("w", "a", "x", "+")


def _guard(event: str, args: tuple) -> None:
    if not _active["on"] or threading.current_thread() is not threading.main_thread():
        return
    if event in _SPAWN:
        raise RuntimeError(f"unit tests run no process ({event} {args[:1]!r}); move this test to tests/functional")
    if event == "socket.connect":
        raise RuntimeError(f"unit tests use no network (connect to {args[1]!r}); move this test to tests/functional")
    if event == "open":
        path, mode = args[0], args[1]
        writing = isinstance(mode, str) and any(f in mode for f in _WRITE_FLAGS)
        if writing and isinstance(path, (str, bytes)) and _active["tmp"] is not None:
            text = path.decode() if isinstance(path, bytes) else str(path)
            if not text.startswith(str(_active["tmp"])):
                raise RuntimeError(f"unit tests write only under tmp_path (not {text})")


sys.addaudithook(_guard)


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/unit/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(autouse=True)
def _pure(tmp_path):
    _active.update(on=True, tmp=tmp_path)
    try:
        yield
    finally:
        _active.update(on=False, tmp=None)
