"""The heroku target's `method: container` through the real agent: BuildKit on the real dockerd, a push
to a real docker-registry behind htpasswd Basic auth standing in for registry.heroku.com, and the
release against the stand-in that enforces Heroku's published schema (tests/heroku_standin.py)."""
import json

import bcrypt
import pytest
import requests

from local import procs
from runners import heroku_convert as hc
from tests.helpers import push_job, unique
from tests.heroku_standin import ACCEPT, DOCKER_RELEASES_ACCEPT, HerokuStandIn
from tests.realparts import BASE_IMAGE, GitRepo, job_log, wait_job

pytestmark = pytest.mark.functional
KEY = "hk-container-key-0123456789"
NOT_AT_REGISTRY = "hk-api-only-key-5555"     # the API takes it, the registry's htpasswd does not
# every media type a registry could hold under a tag: asking for all shows what really is there
ANY_MANIFEST = ", ".join(["application/vnd.oci.image.index.v1+json",
                          "application/vnd.docker.distribution.manifest.list.v2+json",
                          "application/vnd.oci.image.manifest.v1+json", hc.MANIFEST_V2])


class KeyedRegistry:
    """docker-registry (distribution 2.8) on loopback behind htpasswd Basic auth for `_` / KEY, as
    Heroku's registry takes `_` and the API key. htpasswd entries must be bcrypt."""

    def __init__(self, workdir, password: str):
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = procs.free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.auth = ("_", password)
        (workdir / "htpasswd").write_text(f"_:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
        config = workdir / "registry.yml"
        config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
                          f"http:\n  addr: {self.host}\n"
                          f"auth:\n  htpasswd:\n    realm: heroku-standin\n    path: {workdir / 'htpasswd'}\n")
        self.proc = procs.start(["docker-registry", "serve", str(config)], str(workdir / "registry.log"))
        procs.wait_http(f"http://{self.host}/v2/", proc=self.proc)

    def get(self, path: str, **headers) -> requests.Response:
        return requests.get(f"http://{self.host}/v2/{path}", auth=self.auth, headers=headers, timeout=10)

    def tags(self, repo: str) -> list[str]:
        r = self.get(f"{repo}/tags/list")
        return r.json().get("tags") or [] if r.status_code == 200 else []

    def stop(self):
        procs.stop(self.proc)


@pytest.fixture(scope="module")
def registry(workdir):
    reg = KeyedRegistry(workdir / unique("heroku-registry"), KEY)
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def heroku():
    stand_in = HerokuStandIn({"tb-ship": "succeed", "tb-crash": "fail", "tb-stack": "not-container",
                              "tb-leaky": "leaky", "tb-refused": "succeed", "tb-nokey": "succeed"},
                             {KEY, NOT_AT_REGISTRY})
    yield stand_in
    stand_in.stop()


@pytest.fixture
def agent(start_agent, tmp_path, docker_images):
    return start_agent("heroku", extra={"HEROKU_API_KEY": KEY, "WRONG_KEY": "hk-revoked-9999",
                                        "REGISTRY_REFUSES": NOT_AT_REGISTRY, "HOME": str(tmp_path / "agent-home")})


def container_job(api, heroku, registry, tmp_path, heroku_app, key="secret:HEROKU_API_KEY") -> tuple[dict, str]:
    repo = GitRepo(tmp_path / unique("src"))
    repo.write({"Dockerfile": f'FROM {BASE_IMAGE}\nRUN echo release > /www\nCMD ["httpd", "-f", "-p", "8080"]\n'})
    name = unique("hkc")
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "rules": [{"name": "prod", "match": {"tag": "release-*"},
            "target": {"type": "heroku", "method": "container", "app": heroku_app, "api_key": key,
                       "api_url": heroku.url, "registry": registry.host, "timeout": 120}}]})
    assert r.status_code == 201, r.text
    sha = repo.commit_and_tag("container", "release-1")
    job = wait_job(api, push_job(api, repo, "refs/tags/release-1", sha, created=True), timeout=180)
    log = job_log(api, job["id"])
    assert KEY not in log and NOT_AT_REGISTRY not in log, "an API key reached the job log"
    return job, log


def test_the_pushed_schema2_image_is_released_by_its_config_digest(api, heroku, registry, agent, tmp_path):
    job, log = container_job(api, heroku, registry, tmp_path, "tb-ship")
    assert job["state"] == "succeeded" and "succeeded with sha256:" in job["reason"], log
    # the registry holds one schema-2 manifest under the tag: no OCI index, no provenance attestation beside it
    manifest = registry.get("tb-ship/web/manifests/latest", Accept=ANY_MANIFEST)
    assert manifest.headers["Content-Type"] == hc.MANIFEST_V2 and manifest.json()["mediaType"] == hc.MANIFEST_V2
    assert registry.tags("tb-ship/web") == ["latest"]
    image_id = manifest.json()["config"]["digest"]
    config = registry.get(f"tb-ship/web/blobs/{image_id}").json()
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert config["config"]["Labels"]["tahobuddy.job"] == job["id"]  # this job's build, not an older push
    # the stand-in saw the release of exactly that image id, under the docker-releases Accept
    assert {"app": "tb-ship", "type": "web", "docker_image": image_id} in heroku.docker_releases
    assert f"releasing {image_id[:19]} as web of tb-ship" in log and "[heroku] release command finished" in log
    assert heroku.violations == []
    # the key went to dockerd with the push only: nothing was written to the agent user's docker config
    docker_dir = tmp_path / "agent-home" / ".docker"
    assert not any(KEY in p.read_text() for p in docker_dir.rglob("*") if p.is_file())


def test_a_key_the_registry_refuses_fails_the_push_with_the_reason(api, heroku, registry, agent, tmp_path):
    job, log = container_job(api, heroku, registry, tmp_path, "tb-refused", "secret:REGISTRY_REFUSES")
    assert job["state"] == "failed", log
    assert f"the registry {registry.host} refused user _ with the API key" in job["reason"]
    assert "check the secret secret:REGISTRY_REFUSES" in job["reason"] and job["reason_code"] == "refused"
    assert ("PATCH", "/apps/tb-refused/formation") not in heroku.requests and registry.tags("tb-refused/web") == []
    assert heroku.violations == []


def test_a_401_from_the_api_ends_the_job_before_any_build(api, heroku, registry, agent, tmp_path):
    job, log = container_job(api, heroku, registry, tmp_path, "tb-nokey", "secret:WRONG_KEY")
    assert job["state"] == "failed" and "Heroku refused the API key (401)" in job["reason"], log
    assert "building" not in log and registry.tags("tb-nokey/web") == []
    assert heroku.violations == []


def test_a_422_from_the_api_says_what_heroku_said(api, heroku, registry, agent, tmp_path):
    job, log = container_job(api, heroku, registry, tmp_path, "tb-stack")
    assert job["state"] == "failed" and job["reason_code"] == "refused", log
    assert "Heroku refused PATCH /apps/tb-stack/formation (422): tb-stack is on the heroku-24 stack" in job["reason"]
    assert registry.tags("tb-stack/web") == ["latest"]  # pushed, then refused at release
    assert heroku.violations == []


def test_a_release_that_fails_fails_the_job_after_streaming_its_output(api, heroku, registry, agent, tmp_path):
    job, log = container_job(api, heroku, registry, tmp_path, "tb-crash")
    assert job["state"] == "failed" and "failed (see the release output above)" in job["reason"], log
    assert "[heroku] Running release command..." in log and "[heroku] release command exited 1" in log
    assert heroku.violations == []


def test_the_api_key_is_masked_in_every_log_line_even_when_the_release_prints_it(api, heroku, registry, agent,
                                                                                   tmp_path):
    job, log = container_job(api, heroku, registry, tmp_path, "tb-leaky")
    assert job["state"] == "succeeded", log
    assert "[heroku] HEROKU_API_KEY=***" in log  # the release command printed it; the log has it masked
    assert all(KEY not in line for line in log.splitlines())
    assert heroku.violations == []


def test_the_standin_takes_docker_image_only_under_the_docker_releases_accept():
    stand_in = HerokuStandIn({"tb-ship": "succeed"}, {KEY})
    try:
        url, image = f"{stand_in.url}/apps/tb-ship/formation", "sha256:" + "c" * 64
        body = {"updates": [{"type": "web", "docker_image": image}]}

        def patch(accept, doc):
            return requests.patch(url, json=doc, timeout=10,
                                  headers={"Authorization": f"Bearer {KEY}", "Accept": accept})

        plain = patch(ACCEPT, body)
        assert plain.status_code == 422 and "'docker_image' was unexpected" in plain.json()["message"]
        not_an_id = patch(DOCKER_RELEASES_ACCEPT, {"updates": [{"type": "web", "docker_image": "latest"}]})
        assert not_an_id.status_code == 422 and "does not match" in not_an_id.json()["message"]
        elsewhere = requests.post(f"{stand_in.url}/apps/tb-ship/builds", timeout=10, json={"source_blob": {}},
                                  headers={"Authorization": f"Bearer {KEY}", "Accept": DOCKER_RELEASES_ACCEPT})
        assert elsewhere.status_code == 400  # the variant Accept means nothing on any other link
        assert len(stand_in.violations) == 3 and stand_in.docker_releases == []
        released = patch(DOCKER_RELEASES_ACCEPT, body)
        assert released.status_code == 200 and released.json()[0]["type"] == "web", released.text
        assert stand_in.docker_releases == [{"app": "tb-ship", "type": "web", "docker_image": image}]
        assert len(stand_in.violations) == 3, json.dumps(stand_in.violations)
    finally:
        stand_in.stop()
