"""The sharded time indexes: writes spread over every shard, listings stay newest first and
complete across shards (moto server over HTTP)."""
import pytest

from functions.domain import apps
from functions.dispatch import gate
from functions.store import events, jobs, shards
from functions.store.models import JobModel
from tests.helpers import docker_app, unique

pytestmark = pytest.mark.functional


def test_jobs_spread_over_the_shards_and_list_newest_first_across_them(moto):
    app = apps.validate(docker_app(unique("shard")))
    rule = app["rules"][0]
    made = [gate.by_hand(app, rule, "refs/heads/development", "", now=True) for _ in range(40)]
    used = {JobModel.get(j.id).shard for j in made}
    assert len(used) >= 8 and all(k.startswith("job#") for k in used)  # 40 jobs over 16 shards
    newest = jobs.listing(limit=500)
    ids = [j["id"] for j in newest]
    assert ids == sorted(ids, reverse=True)  # one order across every shard
    mine = [i for i in ids if i in {j.id for j in made}]
    assert mine == sorted((j.id for j in made), reverse=True)  # none missing
    assert [j["id"] for j in jobs.listing(limit=5)] == ids[:5]
    assert all(j["state"] == "queued" for j in jobs.listing(state="queued", limit=10))


def test_the_shard_of_an_item_is_stable_and_older_unsharded_items_still_list(moto):
    assert shards.key("job", "1795560000000abcdef") == shards.key("job", "1795560000000abcdef")
    legacy = JobModel("0000000000001legacy", shard="job", app=unique("old"), rule="r", group="g", target={},
                      repository="r", ref="refs/heads/main", created_at="2020-01-01T00:00:00Z",
                      updated_at="2020-01-01T00:00:00Z")
    legacy.save()
    try:
        assert [j["id"] for j in jobs.listing(limit=100000)][-1] == "0000000000001legacy"  # the oldest, last
    finally:
        legacy.delete()
    assert events.listing(limit=3) == events.listing(limit=3)


def test_the_sweeper_reads_queued_jobs_from_a_sparse_index_that_drops_them_when_they_move_on(moto):
    app = apps.validate(docker_app(unique("queued")))
    first, second = (gate.by_hand(app, app["rules"][0], "refs/heads/development", "", now=True) for _ in range(2))
    listed = [j.id for j in jobs.queued(["default"], limit=100000)]
    assert first.id in listed and second.id in listed and listed == sorted(listed)  # oldest first
    jobs.cancel(first.id, "not needed")
    assert JobModel.get(first.id).queued_in is None and JobModel.get(second.id).queued_in == "default"
    listed = [j.id for j in jobs.queued(["default"], limit=100000)]
    assert first.id not in listed and second.id in listed
    assert second.id not in [j.id for j in jobs.queued(["spare"], limit=100000)]  # per pool
