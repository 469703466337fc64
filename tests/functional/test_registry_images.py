"""Images that travel (issue 25) against a real docker-registry on loopback behind htpasswd, the shared
dockerd and Caddy: every build is pushed by digest and the release records it; a rollback on an engine that
lost the image pulls it back by digest and serves it; a registry that is down leaves the deploy going from the
local image; a prebuilt `image:` tagged with the commit is pulled and served, and a missing one fails after
image_wait naming the reference. No credential reaches the agent's ~/.docker."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest
import requests

from local import procs
from tests.e2e.test_tag_to_serving import DOCKERFILE, deploy
from tests.functional.test_heroku_container import KeyedRegistry
from tests.helpers import unique
from tests.realparts import BASE_IMAGE, AgentProcess, GitRepo, job_log, remove_app_resources, wait_job

pytestmark = pytest.mark.functional
PASSWORD = "registry-pass-7a1c9e"


@pytest.fixture(scope="module")
def registry(workdir):
    reg = KeyedRegistry(workdir / unique("registry"), PASSWORD)
    yield reg
    reg.stop()


def make_app(api, repo: GitRepo, **target) -> tuple[str, str]:
    name = unique("img")
    host = f"{name}.localhost"
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "hostname": host, "port": 8080,
        "rules": [{"name": "release", "match": {"tag": "release-*"},
                   "target": {"type": "docker", "health_path": "/", "health_timeout": 30, "drain_seconds": 0,
                              "watch_seconds": 0, **target}}]})
    assert r.status_code == 201, r.text
    return name, host


def start_agent(api, agent_token, tmp_path, caddy, registry_host: str) -> AgentProcess:
    return AgentProcess(api, agent_token, tmp_path, caddy, extra={
        "TAHOBUDDY_REGISTRY": registry_host, "TAHOBUDDY_REGISTRY_USERNAME": "_",
        "TAHOBUDDY_REGISTRY_PASSWORD": "secret:REGISTRY_KEY", "REGISTRY_KEY": PASSWORD,
        "HOME": str(tmp_path / "agent-home")})


def no_credential_stored(home) -> bool:
    """The agent's ~/.docker has no config.json (the CLI's build keeps only a .buildNodeID there), and no file
    under its home holds the password."""
    files = [p for p in home.rglob("*") if p.is_file()] if home.exists() else []
    return not (home / ".docker" / "config.json").exists() and not any(PASSWORD in p.read_text(errors="replace")
                                                                         for p in files)


def test_a_rollback_on_an_engine_without_the_image_pulls_the_recorded_digest_and_serves_it(
        api, agent_token, caddy, registry, tmp_path, docker_images, empty_queue):
    from functions.store import releases
    repo = GitRepo(tmp_path / "site")
    name, host = make_app(api, repo)
    agent = start_agent(api, agent_token, tmp_path, caddy, registry.host)
    try:
        repo.write({"Dockerfile": DOCKERFILE, "www/index.html": "v1\n"})
        sha1 = repo.commit_and_tag("v1", "release-1")
        one = deploy(api, repo, "release-1", sha1)
        assert one["state"] == "succeeded", job_log(api, one["id"])
        repo.write({"www/index.html": "v2\n"})
        two = deploy(api, repo, "release-2", repo.commit_and_tag("v2", "release-2"))
        assert two["state"] == "succeeded", job_log(api, two["id"])
        assert caddy.get(host).text.strip() == "v2"

        first = next(e for e in releases.history(name) if e["ref"] == "refs/tags/release-1")
        assert first["digest"].startswith(f"{registry.host}/{name}@sha256:"), first
        # the second build reads BuildKit's inline cache from the first one's pushed image, with the registry's
        # credentials from a temporary DOCKER_CONFIG
        second_log = job_log(api, two["id"])
        assert f"reusing the layers of {first['digest']}" in second_log, second_log
        assert f"importing cache manifest from {first['digest']}" in second_log, second_log
        assert f"pushed {first['digest']}" in job_log(api, one["id"])
        manifest = registry.get(f"{name}/manifests/{first['digest'].split('@')[1]}",
                                Accept="application/vnd.docker.distribution.manifest.v2+json")
        assert manifest.status_code == 200 and sha1[:12] in registry.tags(name)

        client = docker.from_env()
        client.images.remove(first["image"], force=True)  # this engine never had it, as on a fresh agent
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(first["image"])
        r = requests.post(f"{api.url}/api/v1/apps/{name}/rollback", json={"to": "release-1"}, headers=api.headers())
        job = wait_job(api, r.json()["jobs"][0]["id"])
        log = job_log(api, job["id"])
        assert job["state"] == "succeeded", log
        assert f"pulling {first['digest']}" in log and "building" not in log
        assert caddy.get(host).text.strip() == "v1"
        assert client.images.get(first["digest"]).id == first["image"]  # the same image, by content
        assert PASSWORD not in log and no_credential_stored(tmp_path / "agent-home")
    finally:
        assert agent.stop() == 0, agent.output()
        remove_app_resources(name)


def test_a_registry_that_is_down_fails_the_push_and_the_deploy_goes_ahead_from_the_local_image(
        api, agent_token, caddy, tmp_path, docker_images, empty_queue):
    from functions.store import releases
    down = f"127.0.0.1:{procs.free_port()}"  # nothing listens there
    repo = GitRepo(tmp_path / "site")
    name, host = make_app(api, repo)
    agent = start_agent(api, agent_token, tmp_path, caddy, down)
    try:
        repo.write({"Dockerfile": DOCKERFILE, "www/index.html": "v1\n"})
        job = deploy(api, repo, "release-1", repo.commit_and_tag("v1", "release-1"))
        log = job_log(api, job["id"])
        assert job["state"] == "succeeded", log
        assert f"push to {down} failed" in log and "deploying from the local image" in log, log
        assert f"registry: pruning {down}/{name} stopped: registry {down} did not answer" in log, log  # keep_images
        assert caddy.get(host).text.strip() == "v1"
        assert "digest" not in releases.history(name)[-1]
        repo.write({"www/index.html": "v2\n"})
        assert deploy(api, repo, "release-2", repo.commit_and_tag("v2", "release-2"))["state"] == "succeeded"
        first = releases.history(name)[0]
        docker.from_env().images.remove(first["image"], force=True)
        r = requests.post(f"{api.url}/api/v1/apps/{name}/rollback", json={"to": "release-1"}, headers=api.headers())
        job = wait_job(api, r.json()["jobs"][0]["id"])
        assert (job["state"], job["reason_code"]) == ("failed", "refused"), job
        assert "no registry holds it" in job["reason"] and "TAHOBUDDY_REGISTRY" in job["reason"], job["reason"]
        assert caddy.get(host).text.strip() == "v2"
    finally:
        assert agent.stop() == 0, agent.output()
        remove_app_resources(name)


def test_a_prebuilt_image_tagged_with_the_commit_is_pulled_and_served_and_a_missing_one_fails_after_image_wait(
        api, agent_token, caddy, registry, tmp_path, docker_images, empty_queue):
    repo = GitRepo(tmp_path / "site")
    repo.write({"README": "built by CI\n"})
    sha = repo.commit_and_tag("ci", "release-1")
    name, host = make_app(api, repo, image=f"{registry.host}/ci-{{ref_name}}:{{sha}}", image_wait=4)
    ci_repo = f"{registry.host}/ci-release-1"
    context = tmp_path / "ci"
    (context / "www").mkdir(parents=True)
    (context / "www" / "index.html").write_text("prebuilt\n")
    (context / "Dockerfile").write_text(DOCKERFILE)
    client = docker.from_env()
    image, _ = client.images.build(path=str(context), tag=f"{ci_repo}:{sha}", rm=True)
    for chunk in client.images.push(ci_repo, sha, auth_config={"username": "_", "password": PASSWORD},
                                    stream=True, decode=True):
        assert "error" not in chunk, chunk
    client.images.remove(image.id, force=True)  # CI's machine had it; the agent's engine does not
    agent = start_agent(api, agent_token, tmp_path, caddy, registry.host)
    try:
        job = deploy(api, repo, "release-1", sha)
        log = job_log(api, job["id"])
        assert job["state"] == "succeeded", log
        assert f"deploying the prebuilt image {ci_repo}:{sha}" in log and "building" not in log, log
        assert caddy.get(host).text.strip() == "prebuilt"

        missing = repo.commit_and_tag("not pushed by CI", "release-2")
        started = time.monotonic()
        job = deploy(api, repo, "release-2", missing)
        took = time.monotonic() - started
        reference = f"{registry.host}/ci-release-2:{missing}"
        assert job["state"] == "failed" and f"image {reference} did not appear within 4s" in job["reason"], job
        assert took >= 4, took
        assert caddy.get(host).text.strip() == "prebuilt"  # the old version keeps serving
        assert PASSWORD not in job_log(api, job["id"]) and no_credential_stored(tmp_path / "agent-home")
    finally:
        assert agent.stop() == 0, agent.output()
        remove_app_resources(name)
        for leftover in client.images.list(name=ci_repo):
            client.images.remove(leftover.id, force=True)


def test_promote_deploys_the_digest_staging_serves_to_another_pools_target_copied_to_its_registry(
        api, agent_token, agent_tokens, caddy, registry, tmp_path, docker_images, empty_queue):
    from functions.store import releases
    from tests.realparts import Caddy, Registry
    other = Registry(tmp_path / "other-registry")  # the production agent's registry: open, on loopback
    repo = GitRepo(tmp_path / "site")
    name, host = unique("promo"), f"{unique('promo')}.localhost"
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "hostname": host, "port": 8080, "rules": [
            {"name": "staging", "match": {"tag": "staging-*"},
             "target": {"type": "docker", "health_path": "/", "watch_seconds": 0}},
            {"name": "prod", "match": {"tag": "release-*"},
             "target": {"type": "docker", "health_path": "/", "pool": "spare", "drain_seconds": 0, "watch_seconds": 0}}]})
    assert r.status_code == 201, r.text
    staging = start_agent(api, agent_token, tmp_path, caddy, registry.host)
    prod_proxy = Caddy(tmp_path / "prod-caddy")  # production is another host: its own proxy
    prod = AgentProcess(api, agent_tokens("spare"), tmp_path, prod_proxy, name="prod", extra={
        "TAHOBUDDY_POOL": "spare", "TAHOBUDDY_REGISTRY": other.host, "TAHOBUDDY_REGISTRY_USERNAME": "_",
        "TAHOBUDDY_REGISTRY_PASSWORD": "secret:REGISTRY_KEY", "REGISTRY_KEY": PASSWORD,
        "HOME": str(tmp_path / "prod-home")})
    try:
        repo.write({"Dockerfile": DOCKERFILE, "www/index.html": "tested on staging\n"})
        one = deploy(api, repo, "staging-1", repo.commit_and_tag("v1", "staging-1"))
        assert one["state"] == "succeeded", job_log(api, one["id"])
        assert caddy.get(host).text.strip() == "tested on staging"
        digest = releases.history(name)[-1]["digest"]
        assert digest.startswith(f"{registry.host}/{name}@sha256:")

        refused = requests.post(f"{api.url}/api/v1/apps/{name}/promote", json={"from": "prod", "to": "staging"},
                                headers=api.headers(), timeout=30)
        assert refused.status_code == 400 and "serves nothing yet" in refused.text, refused.text
        token = api.headers()["Authorization"].split(" ", 1)[1]
        cli = subprocess.run([str(Path(sys.executable).parent / "tahobuddy"), "promote", name, "--from", "staging",
                              "--to", "prod", "--json"], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "TAHOBUDDY_API_URL": api.url, "TAHOBUDDY_TOKEN": token})
        assert cli.returncode == 0, cli.stderr
        job = wait_job(api, json.loads(cli.stdout)["jobs"][0]["id"])
        log = job_log(api, job["id"])
        origin = f"promoted from staging (job {one['id']}, {digest.split('@')[1]})"
        assert job["state"] == "succeeded" and job["agent_id"].startswith("prod"), log
        assert origin in log and origin in job["reason"] and "building" not in log, (job, log)
        content = digest.split("@")[1]
        assert f"copying {digest}" in log
        assert requests.head(f"http://{other.host}/v2/{name}/manifests/{content}", timeout=10, headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json"}).status_code == 200
        newest = releases.history(name)[-1]
        assert (newest["rule"], newest["digest"], newest["sha"]) == ("prod", f"{other.host}/{name}@{content}",
                                                                     one["sha"])
        assert prod_proxy.get(host).text.strip() == "tested on staging"
        assert no_credential_stored(tmp_path / "prod-home")
    finally:
        assert staging.stop() == 0, staging.output()
        assert prod.stop() == 0, prod.output()
        prod_proxy.stop()
        other.stop()
        remove_app_resources(name)
