"""A warm first build on a fresh agent for a multi-stage Dockerfile (issue 25, item 5), against a real
docker-registry on loopback behind htpasswd, the shared dockerd and Caddy, and two agent processes.

One agent deploys; a second agent, with its own workdir (a new clone) on an engine that holds none of the app (its
images removed and the BuildKit cache records made since the test began pruned by id, as bench/images.py does),
deploys a one-line change. The dependency stage's RUN step must show CACHED in the second build's BuildKit
output: its layers come from the stage's cache image the first agent pushed, not from running it again. The
registry's retention keeps the cache images the tags point at and deletes the ones they moved away from."""
import re

import docker
import pytest

from tests.e2e.test_tag_to_serving import deploy
from tests.functional.test_registry_images import PASSWORD, make_app, start_agent
from tests.helpers import unique
from tests.realparts import BASE_IMAGE, GitRepo, Registry, build_cache_ids, forget_app, job_log, remove_app_resources

pytestmark = pytest.mark.functional

# The final stage copies from deps after the layer a code change touches: the final image's own inline cache
# cannot give that step, only the deps stage's layers can.
DOCKERFILE = f"""FROM {BASE_IMAGE} AS deps
WORKDIR /deps
COPY requirements.txt ./
RUN echo "installing $(cat requirements.txt)" && mkdir -p site && cp requirements.txt site/installed.txt

FROM {BASE_IMAGE} AS tests
RUN echo "a stage nothing needs: never built as a cache image"

FROM {BASE_IMAGE}
COPY www /www
COPY --from=deps /deps/site/installed.txt /www/deps.txt
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


@pytest.fixture(scope="module")
def registry(workdir):
    reg = Registry(workdir / unique("cache-registry"), PASSWORD, delete=True)
    yield reg
    reg.stop()


def deps_step(log: str) -> str:
    """How the deps stage's RUN step ended in BuildKit's plain progress: CACHED, or the lines it printed."""
    step = re.search(r"^#(\d+) \[deps \d+/\d+\] RUN ", log, re.MULTILINE)
    assert step, log
    if re.search(rf"^#{step.group(1)} CACHED$", log, re.MULTILINE):
        return "CACHED"
    return "\n".join(re.findall(rf"^#{step.group(1)} (.*)$", log, re.MULTILINE))


def tag_digest(registry, repo: str, tag: str) -> str:
    accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
    r = registry.get(f"{repo}/manifests/{tag}", Accept=accept)
    return r.headers["Docker-Content-Digest"] if r.status_code == 200 else ""


def test_a_fresh_engine_reuses_the_deps_stage_another_agent_pushed_as_a_cache_image(
        api, agent_token, caddy, registry, tmp_path, docker_images, empty_queue):
    since = build_cache_ids()
    repo = GitRepo(tmp_path / "site")
    name, host = make_app(api, repo, keep_images=1)
    marker = unique("pkg")  # this test's own dependency line: no other build on the engine has its step
    agents = [start_agent(api, agent_token, tmp_path / "first", caddy, registry.host)]
    try:
        repo.write({"Dockerfile": DOCKERFILE, "requirements.txt": f"{marker}==1.0\n", "www/index.html": "v1\n"})
        one = deploy(api, repo, "release-1", repo.commit_and_tag("v1", "release-1"))
        log = job_log(api, one["id"])
        assert one["state"] == "succeeded", log
        assert f"installing {marker}==1.0" in deps_step(log), log  # the first build ran the install
        assert f"build cache: {registry.host}/{name}:cache-deps pushed as sha256:" in log, log
        assert "cache-tests" not in log and "cache-tests" not in registry.tags(name)  # nothing needs that stage
        first_cache = tag_digest(registry, name, "cache-deps")
        assert first_cache, registry.tags(name)
        assert agents[0].stop() == 0, agents[0].output()

        pruned = forget_app(name, since)  # the engine as a fresh agent's
        assert pruned > 0 and not docker.from_env().images.list(filters={"label": f"tahobuddy.app={name}"})
        agents.append(start_agent(api, agent_token, tmp_path / "fresh", caddy, registry.host))
        repo.write({"www/index.html": "v2\n"})
        two = deploy(api, repo, "release-2", repo.commit_and_tag("v2", "release-2"))
        log = job_log(api, two["id"])
        assert two["state"] == "succeeded", log
        assert f"importing cache manifest from {registry.host}/{name}:cache-deps" in log, log
        assert deps_step(log) == "CACHED", log  # the property: no install on the fresh engine
        assert caddy.get(host).text.strip() == "v2"
        assert caddy.get(host, "/deps.txt").text.strip() == f"{marker}==1.0"

        # retention (keep_images 1): the cache tag is no release and stays; the image it moved away from goes
        second_cache = tag_digest(registry, name, "cache-deps")
        assert second_cache and second_cache != first_cache  # a new build of the stage (its job's labels)
        assert not registry.has(name, first_cache), registry.tags(name)
        assert f"registry: removed old cache image {registry.host}/{name}@{first_cache}" in log, log
        assert "build cache: cache-deps kept, 1 older removed" in log, log
    finally:
        for agent in agents:
            agent.stop()
        remove_app_resources(name)


def test_a_registry_that_is_down_costs_one_line_and_the_build_goes_on_without_its_cache(
        api, agent_token, caddy, tmp_path, docker_images, empty_queue):
    from local import procs
    down = f"127.0.0.1:{procs.free_port()}"  # nothing listens there
    repo = GitRepo(tmp_path / "site")
    name, host = make_app(api, repo)
    agent = start_agent(api, agent_token, tmp_path, caddy, down)
    try:
        repo.write({"Dockerfile": DOCKERFILE, "requirements.txt": "a==1\n", "www/index.html": "v1\n"})
        job = deploy(api, repo, "release-1", repo.commit_and_tag("v1", "release-1"))
        log = job_log(api, job["id"])
        assert job["state"] == "succeeded", log
        said = [ln for ln in log.splitlines() if ln.startswith("build cache:")]
        assert said == [f"build cache: registry {down} did not answer (ConnectionError); building without the "
                        "registry's cache"], log
        assert "importing cache manifest" not in log and "cache-deps" not in log, log
        assert caddy.get(host).text.strip() == "v1"
    finally:
        assert agent.stop() == 0, agent.output()
        remove_app_resources(name)
