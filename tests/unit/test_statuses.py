"""The one state table (functions/domain/statuses.py): every job state has a status on every forge,
a failed job that never ran is told apart where the forge can say so, and the providers and
GitHub's builders read their words from it (no forge keeps a table of its own)."""
import ast
from pathlib import Path

import pytest

from contract.states import JobState
from functions.domain import statuses
from functions.notify import github

pytestmark = pytest.mark.unit
FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea", "forgejo"])
def test_every_job_state_has_a_status_on_every_forge(forge):
    words = {s.value: statuses.word(forge, s.value) for s in JobState}
    assert words["queued"] == "pending" and words["succeeded"] == "success"
    assert statuses.word(forge, "failed", "setup_error") != "success"


def test_never_ran_is_error_where_the_forge_has_the_word():
    assert [statuses.word(f, "failed", "refused") for f in ("github", "gitlab", "gitea")] == ["error", "failed", "error"]
    assert [statuses.word(f, "failed", "") for f in ("github", "gitlab", "gitea")] == ["failure", "failed", "failure"]
    assert statuses.word("gitlab", "running") == "running" and statuses.word("gitea", "canceled") == "warning"
    assert statuses.description("failed", "clone failed", "setup_error") == "never ran: clone failed"


def test_githubs_builder_reads_the_same_table():
    change = {"state": "superseded", "reason": "superseded by newer job J2", "reason_code": "superseded"}
    assert github.outcome(change) == ("error", "superseded by newer job J2")


def test_no_other_module_keeps_a_state_table():
    """The old ones: STATES dicts in each provider and an if-chain in notify/github.py."""
    found = []
    for path in FUNCTIONS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "STATES" for t in node.targets) \
                    and isinstance(node.value, ast.Dict):
                found.append(str(path.relative_to(FUNCTIONS)))
    assert found == [], f"{found}: a job state's commit status comes from functions/domain/statuses.py"
