"""The boxes stay apart: the agent, the runners and the CLI never load the server's frameworks,
and the contract both sides share needs nothing beyond the standard library."""
import json
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
