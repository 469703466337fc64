"""The unit tier's guard (tests/unit/conftest.py) really refuses processes, network and stray writes."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.functional
UNIT = Path(__file__).resolve().parents[1] / "unit"

PROBE = '''
import socket, subprocess
def test_spawn():
    subprocess.run(["true"])
def test_connect():
    socket.create_connection(("127.0.0.1", 9))
def test_write_outside(tmp_path):
    open(str(tmp_path.parent.parent / "stray"), "w").write("x")
def test_write_inside(tmp_path):
    (tmp_path / "ok").write_text("x")
'''


def test_the_unit_guard_refuses_io_outside_tmp_path(tmp_path):
    probe = tmp_path / "tests" / "unit"
    probe.mkdir(parents=True)
    shutil.copy(UNIT / "conftest.py", probe / "conftest.py")
    (probe / "test_probe.py").write_text(PROBE)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                        "--rootdir", str(tmp_path), str(probe)], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    out = r.stdout
    assert "3 failed, 1 passed" in out, out
    assert "run no process" in out and "use no network" in out and "write only under tmp_path" in out
