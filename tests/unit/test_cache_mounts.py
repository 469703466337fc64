"""Cache mounts namespaced by trust level, and a preview's container limits (pure translation)."""
import pytest

from runners import cache_mounts, docker_convert
from runners.base import JobSpec

pytestmark = pytest.mark.unit

DOCKERFILE = r"""FROM base AS deps
RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=tok \
    --mount=type=cache,id=npm,target=/npm,sharing=locked \
    sh -c 'echo --mount=type=cache,id=left-alone'
# RUN --mount=type=cache,target=/in-a-comment \
RUN --mount=type=bind,target=/b echo bind mounts are not caches
RUN \
  --mount=type=cache,dst=/d ["sh", "-c", "exec form"]
"""


def test_every_cache_mount_of_a_preview_build_is_under_the_preview_namespace():
    out = cache_mounts.namespaced(DOCKERFILE, "preview").split("\n")
    assert out[1] == r"RUN --mount=type=cache,target=/root/.cache,id=preview:/root/.cache --mount=type=secret,id=tok \\"[:-1]
    assert out[2] == r"    --mount=type=cache,target=/npm,sharing=locked,id=preview:npm \\"[:-1]
    assert out[3] == "    sh -c 'echo --mount=type=cache,id=left-alone'"  # the command is not touched
    assert out[4:6] == DOCKERFILE.split("\n")[4:6]  # a comment, and a bind mount, stay as written
    assert out[7] == '  --mount=type=cache,dst=/d,id=preview:/d ["sh", "-c", "exec form"]'


def test_a_preview_cannot_name_a_production_cache_and_the_escape_directive_is_followed():
    hostile = "FROM base\nRUN --mount=type=cache,id=production:npm,target=/npm cat /npm/x\n"
    assert "id=preview:production:npm" in cache_mounts.namespaced(hostile, "preview")
    backtick = "# escape=`\nFROM base\nRUN --mount=type=cache,target=/a `\n  --mount=type=cache,target=/b echo\n"
    out = cache_mounts.namespaced(backtick, "production")
    assert "target=/a,id=production:/a `" in out and "target=/b,id=production:/b echo" in out


def test_a_dockerfile_without_cache_mounts_is_left_exactly_as_it_is():
    plain = "FROM base\nRUN echo hi \\\n  && echo there\nCOPY . /app\n"
    assert cache_mounts.namespaced(plain, "preview") == plain


def spec(preview: dict | None) -> JobSpec:
    target = {"type": "docker", **({"preview": preview} if preview else {})}
    return JobSpec(job_id="j1", app="blog", rule="r", target=target, repository="local", ref="refs/pull/7/head",
                   sha="0" * 40)


def test_a_preview_container_gets_default_limits_and_the_rules_own_when_set():
    assert cache_mounts.namespace(spec({"number": 7})) == "preview" and cache_mounts.namespace(spec(None)) == "production"
    kwargs = docker_convert.run_kwargs(spec({"number": 7}), "img", {})
    assert (kwargs["nano_cpus"], kwargs["mem_limit"], kwargs["memswap_limit"], kwargs["pids_limit"]) == \
        (1_000_000_000, "512m", "512m", 256)
    own = docker_convert.run_kwargs(spec({"number": 7, "cpus": "0.5", "memory": "1g", "pids": 64}), "img", {})
    assert (own["nano_cpus"], own["mem_limit"], own["pids_limit"]) == (500_000_000, "1g", 64)
    production = docker_convert.run_kwargs(spec(None), "img", {})
    assert not {"nano_cpus", "mem_limit", "pids_limit"} & set(production)


def test_a_preview_built_by_the_legacy_builder_gets_its_memory_limit_per_step():
    assert docker_convert.build_kwargs(spec({"number": 7}), "/ctx")["container_limits"] == \
        {"memory": 512 * 1024 ** 2, "memswap": 512 * 1024 ** 2}
    assert docker_convert.build_kwargs(spec({"number": 7, "memory": "1g"}), "/ctx")["container_limits"]["memory"] == \
        1024 ** 3
    assert "container_limits" not in docker_convert.build_kwargs(spec(None), "/ctx")
