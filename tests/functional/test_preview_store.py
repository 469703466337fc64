"""The preview store and its jobs never disagree to a reader (issue 29): the teardown job's end and the
preview's `closed` are one DynamoDB transaction, so a reader that sees the teardown `succeeded` then
reads the preview finds it `closed`, never still `closing`. The same for a deploy: `succeeded` is read
with the preview `live`.

A reader thread reads the job, then the preview, as fast as it can, while the agent API ends the jobs
(real HTTP to `chalice local`, on the moto server)."""
import threading
import time

import pytest

from tests.functional.test_api import agent_call
from tests.functional.test_gate import OWN_SHA, Blog
from tests.functional.test_github_previews import pr_example  # noqa: F401 - the fixture

pytestmark = pytest.mark.functional
PULL_REQUESTS = 6


class Reader(threading.Thread):
    """Reads (job state, preview state) in that order until stopped; keeps every pair it saw."""

    def __init__(self, job_id: str, app: str, number: int):
        super().__init__(daemon=True)
        self.job_id, self.app, self.number, self.seen, self.done = job_id, app, number, [], threading.Event()

    def run(self):
        from functions.store import jobs, previews
        while not self.done.is_set():
            job = jobs.get(self.job_id).state
            self.seen.append((job, previews.find(self.app, self.number).state))

    def stop(self) -> list[tuple[str, str]]:
        self.done.set()
        self.join(30)
        return self.seen


def end_while_read(api, agent_token, agent: str, app: str, number: int, job_id: str, **finish) -> list:
    assert agent_call(api, agent_token, agent, f"/agent/jobs/{job_id}/claim").json()["run"] is True
    reader = Reader(job_id, app, number)
    reader.start()
    reads(reader, 3)   # it reads before the end, too
    assert agent_call(api, agent_token, agent, f"/agent/jobs/{job_id}/finish", finish).ok
    reads(reader, len(reader.seen) + 3)
    return reader.stop()


def reads(reader: Reader, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(reader.seen) < count:
        assert reader.is_alive() and time.monotonic() < deadline, f"the reader stopped; it saw {reader.seen[-5:]}"
        time.sleep(0.001)


def test_a_reader_never_sees_a_teardown_succeeded_while_its_preview_is_closing(api, agent_token,
                                                                                pr_example, empty_queue):  # noqa: F811
    blog = Blog(api, pr_example)
    disagreements, pairs = [], set()
    for number in range(1, PULL_REQUESTS + 1):
        [deploy] = blog.pull_request("opened", number, OWN_SHA)["jobs"]
        seen = end_while_read(api, agent_token, "store-reader", blog.name, number, deploy, state="succeeded",
                              release={"image": "img", "container": "c", "upstream": "127.0.0.1:1"})
        disagreements += [p for p in seen if p[0] == "succeeded" and p[1] != "live"]
        pairs.update(seen)
        [teardown] = blog.pull_request("closed", number, OWN_SHA)["jobs"]
        seen = end_while_read(api, agent_token, "store-reader", blog.name, number, teardown, state="succeeded")
        disagreements += [p for p in seen if p[0] == "succeeded" and p[1] != "closed"]
        pairs.update(seen)
        assert seen[-1] == ("succeeded", "closed"), seen[-5:]
    assert disagreements == [], f"{len(disagreements)} reads saw the job ended and its preview not: " \
                                f"{sorted(set(disagreements))}"
    assert {("running", "closing"), ("succeeded", "closed"), ("running", "queued"), ("succeeded", "live")} <= pairs
