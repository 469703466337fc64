"""What a docker build reads from and writes to the registry's cache, without a registry: each needed stage's
cache image the registry lists and the app's last image pushed there; never anything for a preview."""
from pathlib import Path
from types import SimpleNamespace

import pytest

from runners import build_cache
from runners.base import Cancel, JobSpec, RunContext

pytestmark = pytest.mark.unit
REG = "127.0.0.1:5000"
LAST = f"{REG}/blog@sha256:" + "b" * 64
TWO_STAGES = "FROM base AS deps\nRUN install\nFROM base\nCOPY --from=deps /site /site\n"


def spec(**kw) -> JobSpec:
    base = dict(job_id="1795560000000abcdef", app="blog", rule="release", target={"type": "docker"},
                repository="https://example.invalid/blog.git", ref="refs/heads/main", sha="0" * 40,
                app_spec={"name": "blog"}, releases=({"image": "sha256:x", "digest": f"other:5000/blog@sha256:{'a' * 64}"},
                                                     {"image": "sha256:y", "digest": LAST}))
    base.update(kw)
    return JobSpec(**base)


def test_the_cache_comes_from_each_stage_cache_image_the_registry_lists_and_the_last_image_pushed_there():
    tags = {"cache-deps", "cache-gone-stage", "0123456789ab"}
    assert build_cache.choose(spec(), REG, ["deps", "build"], tags) == [f"{REG}/blog:cache-deps", LAST]
    assert build_cache.choose(spec(releases=()), REG, ["deps"], set()) == []
    assert build_cache.is_cache_tag(build_cache.cache_tag("deps")) and not build_cache.is_cache_tag("0123456789ab")


def test_a_preview_neither_reads_nor_writes_the_registry_cache_and_asks_the_registry_nothing():
    """A pull request's build gets no --cache-from, no inline cache, no stage to push: the plan is made without a
    call to the registry (this tier's guard fails any I/O)."""
    preview = spec(target={"type": "docker", "preview": {"number": 7}})
    ctx = RunContext(Path("unused"), None, Cancel(), SimpleNamespace(registry=REG, registry_username=""),
                     lambda name: "")
    assert preview.preview == 7 and not build_cache.used(preview, ctx.settings)
    assert build_cache.plan(preview, ctx, Path("unused"), TWO_STAGES) == build_cache.Plan()
    assert build_cache.used(spec(), ctx.settings)
    assert not build_cache.used(spec(), SimpleNamespace(registry=""))
    assert not build_cache.used(spec(target={"type": "aws-ecs"}), ctx.settings)
