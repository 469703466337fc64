"""max_previews under concurrency, against the moto server: pull requests opened at the same moment
(threads released together by a barrier) never get more previews than the rule allows, and a
closed one gives its slot back. The events are GitLab merge requests from the fixture."""
import copy
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import unique

pytestmark = pytest.mark.functional
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "providers" / "gitlab" / "merge_request_open.json"
OPENERS = 8


def merge_request(number: int, action: str = "open"):
    from functions.providers import gitlab
    doc = copy.deepcopy(json.loads(FIXTURE.read_text())["payload"])
    doc["object_attributes"].update(iid=number, action=action)
    return gitlab.normalise("Merge Request Hook", doc)


@pytest.fixture
def app(moto, empty_queue):
    from functions.store import app_store
    name = unique("limit")
    spec, _ = app_store.save({"name": name, "repository": "https://gitlab.example.com/platform/web/blog.git",
                              "hostname": f"{name}.localhost", "port": 8080, "rules": [
                                  {"name": "previews", "match": {"pull_request": {"base": "main"}},
                                   "preview": {"max_previews": 2},
                                   "target": {"type": "docker", "pool": "spare"}}]})
    yield spec
    app_store.delete(name)


def open_together(app: dict, numbers: list[int]) -> dict[int, dict]:
    """Each pull request opened by its own thread, all released at once."""
    from functions.dispatch import previews
    barrier = threading.Barrier(len(numbers))

    def one(number: int) -> dict:
        barrier.wait(timeout=30)
        [outcome] = previews.decide(merge_request(number), f"{app['name']}-open-{number}", [app])
        return outcome
    with ThreadPoolExecutor(len(numbers)) as pool:
        return dict(zip(numbers, pool.map(one, numbers)))


def test_concurrent_openings_never_pass_max_previews_and_a_close_frees_a_slot(app):
    from functions.dispatch import previews
    from functions.domain.previews import ACTIVE
    from functions.store import jobs, previews as store
    outcomes = open_together(app, list(range(1, OPENERS + 1)))
    queued = sorted(n for n, o in outcomes.items() if o["outcome"] == "queued")
    refused = sorted(n for n, o in outcomes.items() if o["outcome"] == "refused")
    assert len(queued) == 2 and len(refused) == OPENERS - 2, outcomes
    assert all("max_previews of 2" in outcomes[n]["reason"] for n in refused)
    assert [p["number"] for p in store.listing(app["name"])] == queued  # the slot row is never listed
    assert {jobs.get(outcomes[n]["job_id"]).reason_code for n in refused} == {"refused"}

    [closed] = previews.decide(merge_request(queued[0], "close"), f"{app['name']}-close", [app])
    assert closed["outcome"].startswith("teardown queued")
    again = open_together(app, refused[:3])  # three race for the one freed slot
    assert sorted(o["outcome"] for o in again.values()) == ["duplicate", "duplicate", "queued"], [(o["outcome"], o.get("reason")) for o in again.values()]
    assert all("max_previews of 2" in o["reason"] for o in again.values() if o["outcome"] == "duplicate")
    live = [p["number"] for p in store.listing(app["name"]) if p["state"] in ACTIVE]
    assert len(live) == 2 and queued[1] in live, live
