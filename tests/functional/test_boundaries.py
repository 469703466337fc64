"""The boxes stay apart: the agent, the runners and the CLI never load the server's frameworks,
and the contract both sides share needs nothing beyond the standard library."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.functional

PROBE = """
import importlib, json, pkgutil, sys
loaded = {}
for package in sys.argv[1].split(","):
    pkg = importlib.import_module(package)
    for m in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{package}.{m.name}")
top = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps(top))
"""


def _loaded(packages: str) -> set[str]:
    r = subprocess.run([sys.executable, "-c", PROBE, packages], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return set(json.loads(r.stdout))


def test_agent_runners_and_cli_never_import_chalice_or_pynamodb():
    loaded = _loaded("agent,runners,cli,contract")
    assert "agent" in loaded and "runners" in loaded  # the probe did import them
    assert not loaded & {"chalice", "pynamodb", "moto"}, loaded & {"chalice", "pynamodb", "moto"}


def test_the_contract_needs_only_the_standard_library():
    loaded = _loaded("contract")
    foreign = {m for m in loaded if m not in sys.stdlib_module_names and not m.startswith("_")} - {"contract"}
    assert not foreign, foreign


AGENT_TESTS = ("test_runners_pure.py", "test_heroku_convert.py", "test_signature.py", "test_production_pure.py")
NEEDS_API = "not test_the_api_keeps_only_well_formed_phase_marks"   # imports functions.dispatch.agent_api (pynamodb)


def test_the_agent_wheel_installs_and_runs_without_the_api_frameworks(tmp_path):
    """`pip install "tahobuddy[agent]"` from the built wheel, in a clean venv: the CLI and the agent
    run, chalice/pynamodb/moto are absent, and the agent's own unit tests pass against the installed
    package (not this checkout: the tests are copied out, so the checkout is not on sys.path)."""
    src, wheels, venv = tmp_path / "src", tmp_path / "wheels", tmp_path / "venv"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:  # build from a copy, so build/ and *.egg-info never land in the checkout
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((ROOT / name).read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                    str(src)], check=True, capture_output=True, timeout=300)
    wheel = next(wheels.glob("tahobuddy-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    r = subprocess.run(pip + [f"{wheel}[agent]", "pytest"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]

    installed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
                               capture_output=True, text=True, check=True).stdout
    names = {p["name"].lower() for p in json.loads(installed)}
    # google-re2 is the agent's too: it matches a rule's `paths` in its mirror, in linear time (agent/path_filter.py)
    assert {"boto3", "requests", "pyyaml", "docker", "google-re2"} <= names
    assert not names & {"chalice", "pynamodb", "moto", "cfn-lint"}, names
    helped = subprocess.run([str(venv / "bin" / "tahobuddy"), "agent", "--help"], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert helped.returncode == 0 and "install-service" in helped.stdout, helped.stderr
    boot = subprocess.run([str(venv / "bin" / "tahobuddy"), "bootstrap-token"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert boot.returncode == 1 and "pip install 'tahobuddy[api]'" in boot.stderr, boot.stderr
    checked = subprocess.run([str(venv / "bin" / "tahobuddy"), "validate", "-f", str(ROOT / "examples" / "blog.yaml")],
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr  # offline validation needs no API framework

    suite = tmp_path / "suite" / "tests" / "unit"
    suite.mkdir(parents=True)
    for name in ("conftest.py", *AGENT_TESTS):
        (suite / name).write_bytes((ROOT / "tests" / "unit" / name).read_bytes())
    (suite.parent / "conftest.py").write_text(
        "def pytest_configure(config):\n    config.addinivalue_line('markers', 'unit: pure')\n")
    tests = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "-k", NEEDS_API, "tests/unit"], cwd=suite.parent.parent, capture_output=True, text=True,
                           timeout=600, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and " failed" not in tests.stdout
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import agent, runners; print(agent.__file__)"],
                           cwd=suite.parent.parent, capture_output=True, text=True, check=True).stdout
    assert str(venv) in where  # the installed package, not this checkout
