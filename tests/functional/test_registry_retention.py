"""keep_images in the registry (issue 25, item 6), against a real docker-registry on loopback behind htpasswd,
the shared dockerd and Caddy, and an agent process: after a successful deploy the agent deletes the app's oldest
images from the registry, keeping the keep_images newest and every digest a release or an open preview serves.
What the registry holds is read from its own API, never from Tahobuddy's records."""
import docker
import pytest
import requests

from tests.e2e.test_previews import Site, examples  # noqa: F401 - GitHub's pull_request payloads, a fixture
from tests.e2e.test_tag_to_serving import DOCKERFILE, deploy
from tests.functional.test_registry_images import PASSWORD, make_app, no_credential_stored, start_agent
from tests.helpers import unique
from tests.realparts import GitRepo, Registry, job_log, remove_app_resources, wait_job

pytestmark = pytest.mark.functional
BROKEN = DOCKERFILE.replace('CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]', 'CMD ["sh", "-c", "exit 3"]')


@pytest.fixture(scope="module")
def registry(workdir):
    reg = Registry(workdir / unique("retention-registry"), PASSWORD, delete=True)
    yield reg
    reg.stop()


def pushed(api, job: dict, registry) -> str:
    """The sha256:... the job's log says it pushed."""
    log = job_log(api, job["id"])
    line = next((ln for ln in log.splitlines() if ln.startswith(f"pushed {registry.host}/")), "")
    assert line, log
    return line.rsplit("@", 1)[1]


def test_keep_images_leaves_the_newest_and_every_release_in_the_registry_and_a_rollback_still_pulls(
        api, agent_token, caddy, registry, tmp_path, docker_images, empty_queue):
    """keep_images 1, three versions: v1 serves, v2 is pushed but fails its health check (never a release),
    v3 serves. The registry then holds v3 (the newest) and v1 (a release), not v2; a rollback to v1 on an
    engine that no longer has its image pulls it back."""
    repo = GitRepo(tmp_path / "site")
    name, host = make_app(api, repo, keep_images=1, health_timeout=10)
    agent = start_agent(api, agent_token, tmp_path, caddy, registry.host)
    try:
        repo.write({"Dockerfile": DOCKERFILE, "www/index.html": "v1\n"})
        one = deploy(api, repo, "release-1", repo.commit_and_tag("v1", "release-1"))
        assert one["state"] == "succeeded", job_log(api, one["id"])
        repo.write({"Dockerfile": BROKEN, "www/index.html": "v2\n"})
        two = deploy(api, repo, "release-2", repo.commit_and_tag("v2", "release-2"))
        assert two["state"] == "failed" and "health check failed" in two["reason"], two
        repo.write({"Dockerfile": DOCKERFILE, "www/index.html": "v3\n"})
        three = deploy(api, repo, "release-3", repo.commit_and_tag("v3", "release-3"))
        log = job_log(api, three["id"])
        assert three["state"] == "succeeded", log
        d1, d2, d3 = (pushed(api, job, registry) for job in (one, two, three))

        assert registry.digests(name) == {d1, d3}, (d1, d2, d3)
        assert not registry.has(name, d2) and registry.has(name, d1)
        assert f"registry: removed {registry.host}/{name}@{d2}" in log, log
        assert (f"keeps 2 image(s): the 1 newest (keep_images) and 1 older one(s) a release or open preview uses; "
                "1 removed") in log, log

        client = docker.from_env()
        with pytest.raises(docker.errors.ImageNotFound):  # keep_images 1 pruned it from the engine too
            client.images.get(f"{registry.host}/{name}@{d1}")
        r = requests.post(f"{api.url}/api/v1/apps/{name}/rollback", json={"to": "release-1"}, headers=api.headers())
        back = wait_job(api, r.json()["jobs"][0]["id"])
        back_log = job_log(api, back["id"])
        assert back["state"] == "succeeded", back_log
        assert f"pulling {registry.host}/{name}@{d1}" in back_log, back_log
        assert caddy.get(host).text.strip() == "v1"
        assert registry.digests(name) == {d1, d3}  # v3 is still a release: the rollback's pruning keeps it
        assert PASSWORD not in log + back_log and no_credential_stored(tmp_path / "agent-home")
    finally:
        assert agent.stop() == 0, agent.output()
        remove_app_resources(name)


def test_a_registry_that_refuses_deletes_leaves_the_deploy_green_and_says_so(
        api, agent_token, caddy, tmp_path, docker_images, empty_queue):
    closed = Registry(tmp_path / "no-delete", PASSWORD)  # distribution's default: storage.delete disabled
    repo = GitRepo(tmp_path / "site")
    name, host = make_app(api, repo, keep_images=1, health_timeout=10)
    agent = start_agent(api, agent_token, tmp_path, caddy, closed.host)
    try:
        repo.write({"Dockerfile": BROKEN, "www/index.html": "v1\n"})
        one = deploy(api, repo, "release-1", repo.commit_and_tag("v1", "release-1"))
        assert one["state"] == "failed", one
        repo.write({"Dockerfile": DOCKERFILE, "www/index.html": "v2\n"})
        two = deploy(api, repo, "release-2", repo.commit_and_tag("v2", "release-2"))
        log = job_log(api, two["id"])
        assert two["state"] == "succeeded", log
        assert caddy.get(host).text.strip() == "v2"
        d1 = pushed(api, one, closed)
        assert (f"registry: pruning {closed.host}/{name} stopped: registry {closed.host} refused to delete "
                f"{name}@{d1[:19]}: 405") in log, log
        assert "storage.delete.enabled: true" in log and "the deploy is not affected" in log, log
        assert registry_has_all(closed, name, [d1, pushed(api, two, closed)])
    finally:
        assert agent.stop() == 0, agent.output()
        remove_app_resources(name)
        closed.stop()


def registry_has_all(registry, repo: str, digests) -> bool:
    return all(registry.has(repo, d) for d in digests)


def ci_push(registry, repo: str, tag: str, text: str, context) -> str:
    """Build and push `repo:tag` as CI would, off the agent's engine afterwards; its sha256:..."""
    (context / "www").mkdir(parents=True, exist_ok=True)
    (context / "www" / "index.html").write_text(text + "\n")
    (context / "Dockerfile").write_text(DOCKERFILE)
    client = docker.from_env()
    image, _ = client.images.build(path=str(context), tag=f"{repo}:{tag}", rm=True)
    digest = ""
    for chunk in client.images.push(repo, tag, auth_config={"username": "_", "password": PASSWORD},
                                    stream=True, decode=True):
        assert "error" not in chunk, chunk
        digest = (chunk.get("aux") or {}).get("Digest", digest)
    client.images.remove(image.id, force=True)
    return digest


def test_a_digest_an_open_preview_serves_is_not_pruned_even_when_it_is_the_oldest(
        api, agent_token, caddy, registry, examples, tmp_path, docker_images, empty_queue):  # noqa: F811
    """Attack: the app's pruning would delete the oldest image of its repository, which a pull request's live
    preview serves (a prebuilt `image:` CI pushed into the app's repository). It must stay."""
    site = Site(api, examples, tmp_path / "s", caddy)
    image = f"{registry.host}/{site.name}:{{sha}}"
    target = {"type": "docker", "health_path": "/", "drain_seconds": 0, "watch_seconds": 0, "keep_images": 1,
              "image": image}
    r = requests.put(f"{api.url}/api/v1/apps/{site.name}", headers=api.headers(), timeout=30, json={
        "name": site.name, "repository": str(site.repo.origin), "hostname": site.host, "port": 8080,
        "rules": [{"name": "release", "match": {"tag": "release-*"}, "target": target},
                  {"name": "previews", "match": {"pull_request": {"base": "mai*"}}, "preview": {}, "target": target}]})
    assert r.status_code in (200, 201), r.text
    repo, agent = f"{registry.host}/{site.name}", start_agent(api, agent_token, tmp_path, caddy, registry.host)
    try:
        pr_sha = site.push(7, "pr-7")
        oldest = ci_push(registry, repo, pr_sha, "pr-7", tmp_path / "ci-pr")
        stray = ci_push(registry, repo, "never-deployed", "stray", tmp_path / "ci-stray")
        release_sha = site.repo.commit_and_tag("release", "release-1", branch="main")
        released = ci_push(registry, repo, release_sha, "release", tmp_path / "ci-release")

        body = site.send("opened", 7, pr_sha)
        preview = wait_job(api, body["jobs"][0])
        assert preview["state"] == "succeeded", job_log(api, preview["id"])
        assert site.served(7) == "pr-7"
        job = deploy(api, site.repo, "release-1", release_sha)
        log = job_log(api, job["id"])
        assert job["state"] == "succeeded", log

        assert f"registry: removed {repo}@{stray}" in log, log  # the pruning ran, and removed what nothing uses
        assert registry.digests(site.name) == {oldest, released}, (oldest, stray, released)
        assert f"registry: removed {repo}@{oldest}" not in log
        assert site.served(7) == "pr-7"
    finally:
        assert agent.stop() == 0, agent.output()
        remove_app_resources(site.name)


def test_make_runs_garbage_collect_frees_the_layers_of_a_deleted_image_and_keeps_the_others(tmp_path, docker_images):
    """A DELETE removes the manifest; the disk comes back only with distribution's garbage-collect, which
    `make run` runs at start, before the registry serves (local/stack.py)."""
    from local import procs, stack
    home, port = tmp_path / "registry", procs.free_port()
    (home / "data").mkdir(parents=True)
    (home / "config.yml").write_text(stack.registry_config(home / "data", port))
    proc = procs.start(["docker-registry", "serve", str(home / "config.yml")], str(tmp_path / "registry.log"))
    client, host = docker.from_env(), f"127.0.0.1:{port}"
    try:
        procs.wait_http(f"http://{host}/v2/", proc=proc)
        digests = {}
        for name in ("old", "new"):
            context = tmp_path / name
            (context / "www").mkdir(parents=True)
            (context / "www" / "index.html").write_text(f"{name} {unique('layer')}\n")  # a layer of its own
            (context / "Dockerfile").write_text(DOCKERFILE)
            image, _ = client.images.build(path=str(context), tag=f"{host}/gc:{name}", rm=True)
            for chunk in client.images.push(f"{host}/gc", name, stream=True, decode=True):
                assert "error" not in chunk, chunk
                digests[name] = (chunk.get("aux") or {}).get("Digest", digests.get(name, ""))
            client.images.remove(image.id, force=True)
        assert requests.delete(f"http://{host}/v2/gc/manifests/{digests['old']}", timeout=10).status_code == 202
    finally:
        procs.stop(proc)
    blobs = home / "data" / "docker" / "registry" / "v2" / "blobs"
    before = {p.parent.name for p in blobs.rglob("data")}
    assert stack.collect_garbage(home) == "", (home / "gc.log").read_text()
    after = {p.parent.name for p in blobs.rglob("data")}
    assert digests["old"].split(":")[1] in before - after  # the deleted manifest and its own layer went
    assert len(before - after) >= 2 and digests["new"].split(":")[1] in after, (before - after, after)
