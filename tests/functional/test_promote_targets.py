"""Promotion to the other deploying targets (issue 25): the digest a docker rule serves goes, unbuilt, to a
`heroku` container release and to an `aws-ecs` service, copied registry to registry with skopeo.

What runs for real: the API (`chalice local`), the agent as users run it, skopeo, three docker-registry
processes on loopback (the staging agent's, behind htpasswd; one standing in for registry.heroku.com, behind
htpasswd for `_` and the API key; one standing in for ECR's endpoint), the Heroku Platform API stand-in that
enforces Heroku's published schema (tests/heroku_standin.py), and ECS/ECR in moto server. The staging side is
the agent API driven by hand: its release records a digest really pushed to the staging registry, as a docker
agent's would (tests/functional/test_registry_images.py promotes between two real docker agents)."""
import boto3
import docker
import pytest
import requests

from functions.config import boto_kwargs
from runners import heroku_convert as hc
from tests.functional.test_api import agent_call
from tests.functional.test_heroku_container import KeyedRegistry
from tests.helpers import push_job, put_app, unique
from tests.heroku_standin import HerokuStandIn
from tests.realparts import BASE_IMAGE, Registry, job_log, wait_job

pytestmark = pytest.mark.functional
PASSWORD = "staging-registry-pass-31c4"     # the staging agent's registry
KEY = "hk-promote-key-0123456789"           # Heroku's API key, also the password of its registry's `_`


@pytest.fixture(scope="module")
def staging_registry(workdir):
    reg = KeyedRegistry(workdir / unique("staging-registry"), PASSWORD)
    yield reg
    reg.stop()


def registry_env(tmp_path) -> dict:
    """The promoting agent reads the staging registry with the installation's registry credentials."""
    return {"TAHOBUDDY_REGISTRY_USERNAME": "_", "TAHOBUDDY_REGISTRY_PASSWORD": "secret:REGISTRY_KEY",
            "REGISTRY_KEY": PASSWORD, "HOME": str(tmp_path / "agent-home")}


def serving_on_staging(api, agent_token, registry, tmp_path, target: dict) -> dict:
    """An app whose `staging` docker rule serves an image pushed to `registry` by digest, and whose `prod`
    rule is `target`; what the promotion must deploy."""
    name = unique("promo")
    context = tmp_path / name
    context.mkdir()
    (context / "Dockerfile").write_text(f'FROM {BASE_IMAGE}\nRUN echo "{name}" > /www\n'
                                        'CMD ["httpd", "-f", "-p", "8080"]\n')
    client = docker.from_env()
    repo = f"{registry.host}/{name}"
    image, _ = client.images.build(path=str(context), tag=f"{repo}:staging", rm=True)
    digest = ""
    for chunk in client.images.push(repo, "staging", auth_config={"username": "_", "password": PASSWORD},
                                    stream=True, decode=True):
        assert "error" not in chunk, chunk
        digest = (chunk.get("aux") or {}).get("Digest", digest)
    client.images.remove(image.id, force=True)  # the promoting agent's engine never has it
    put_app(api, {"name": name, "repository": f"https://github.com/tests/{name}.git", "rules": [
        {"name": "staging", "match": {"tag": "staging-*"}, "target": {"type": "docker"}},
        {"name": "prod", "match": {"tag": "release-*"}, "target": target}]})
    sha = "b" * 40
    job = push_job(api, f"https://github.com/tests/{name}.git", "refs/tags/staging-1", sha, created=True)
    assert agent_call(api, agent_token, "staging-hand", f"/agent/jobs/{job}/claim").json()["run"] is True
    r = agent_call(api, agent_token, "staging-hand", f"/agent/jobs/{job}/finish", {
        "state": "succeeded", "release": {"image": image.id, "digest": f"{repo}@{digest}", "ref": "refs/tags/staging-1",
                                          "sha": sha}})
    assert r.ok, r.text
    config = registry.get(f"{name}/manifests/{digest}", Accept=hc.MANIFEST_V2).json()["config"]["digest"]
    return {"name": name, "job": job, "digest": digest, "image_id": config,
            "origin": f"promoted from staging (job {job}, {digest})"}


def promote(api, name: str) -> dict:
    r = requests.post(f"{api.url}/api/v1/apps/{name}/promote", json={"from": "staging", "to": "prod"},
                      headers=api.headers(), timeout=30)
    assert r.status_code == 201, r.text
    return r.json()["jobs"][0]


def test_a_promotion_to_heroku_copies_the_serving_digest_to_herokus_registry_and_releases_that_image(
        api, agent_token, start_agent, staging_registry, workdir, tmp_path, docker_images):
    heroku_registry = KeyedRegistry(workdir / unique("heroku-registry"), KEY)   # registry.heroku.com's stand-in
    heroku = HerokuStandIn({"tb-promoted": "succeed"}, {KEY})
    try:
        target = {"type": "heroku", "method": "container", "app": "tb-promoted", "api_key": "secret:HEROKU_API_KEY",
                  "api_url": heroku.url, "registry": heroku_registry.host, "timeout": 120}
        app = serving_on_staging(api, agent_token, staging_registry, tmp_path, target)
        built = {**target, "method": "build"}
        put_app(api, {"name": app["name"], "repository": f"https://github.com/tests/{app['name']}.git", "rules": [
            {"name": "staging", "match": {"tag": "staging-*"}, "target": {"type": "docker"}},
            {"name": "prod", "match": {"tag": "release-*"}, "target": built}]})
        refused = requests.post(f"{api.url}/api/v1/apps/{app['name']}/promote", json={"from": "staging", "to": "prod"},
                                headers=api.headers(), timeout=30)
        assert refused.status_code == 400 and "needs method: container" in refused.text, refused.text
        put_app(api, {"name": app["name"], "repository": f"https://github.com/tests/{app['name']}.git", "rules": [
            {"name": "staging", "match": {"tag": "staging-*"}, "target": {"type": "docker"}},
            {"name": "prod", "match": {"tag": "release-*"}, "target": target}]})

        start_agent("heroku", extra={"HEROKU_API_KEY": KEY, **registry_env(tmp_path)})
        queued = promote(api, app["name"])
        job = wait_job(api, queued["id"], timeout=180)
        log = job_log(api, job["id"])
        assert job["state"] == "succeeded", log
        assert app["origin"] in job["reason"] and f"{app['origin']}: no build" in log, (job, log)
        assert "building" not in log and f"copying {staging_registry.host}/{app['name']}@{app['digest']}" in log
        # Heroku's registry holds exactly the staging manifest (same digest), and the release names its image id
        there = heroku_registry.get("tb-promoted/web/manifests/latest", Accept=hc.MANIFEST_V2)
        assert there.status_code == 200 and there.headers["Docker-Content-Digest"] == app["digest"]
        assert heroku.docker_releases == [{"app": "tb-promoted", "type": "web", "docker_image": app["image_id"]}]
        assert heroku.violations == []
        assert KEY not in log and PASSWORD not in log
        assert not (tmp_path / "agent-home" / ".docker" / "config.json").exists()
    finally:
        heroku.stop()
        heroku_registry.stop()


def test_a_promotion_to_aws_ecs_registers_a_task_definition_naming_the_serving_digest(
        api, agent_token, start_agent, staging_registry, workdir, tmp_path, docker_images):
    ecr_endpoint = Registry(workdir / unique("ecr"))   # ECR's endpoint; ECR's and ECS's API are moto's
    try:
        ecs, ecr, svc = boto3.client("ecs", **boto_kwargs()), boto3.client("ecr", **boto_kwargs()), unique("web")
        ecr.create_repository(repositoryName=svc)
        ecs.create_cluster(clusterName=svc)
        first = ecs.register_task_definition(family=svc, containerDefinitions=[
            {"name": "web", "image": "web:old", "memory": 128, "portMappings": [{"containerPort": 8080}]}])
        ecs.create_service(cluster=svc, serviceName=svc, desiredCount=1,
                           taskDefinition=first["taskDefinition"]["taskDefinitionArn"])
        app = serving_on_staging(api, agent_token, staging_registry, tmp_path, {
            "type": "aws-ecs", "cluster": svc, "service": svc, "repository": svc, "container": "web",
            "stable_timeout": 30})

        start_agent("aws-ecs", extra={"TAHOBUDDY_ECR_REGISTRY": ecr_endpoint.host, **registry_env(tmp_path)})
        job = wait_job(api, promote(api, app["name"])["id"], timeout=180)
        log = job_log(api, job["id"])
        assert job["state"] == "succeeded", log
        assert app["origin"] in job["reason"] and "building" not in log, (job, log)
        service = ecs.describe_services(cluster=svc, services=[svc])["services"][0]
        assert service["taskDefinition"].endswith(f"{svc}:2")
        revision = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        pinned = f"{ecr_endpoint.host}/{svc}@{app['digest']}"
        assert [d["image"] for d in revision["containerDefinitions"]] == [pinned]
        # the ECR stand-in really holds that manifest, by that digest
        held = requests.get(f"http://{ecr_endpoint.host}/v2/{svc}/manifests/{app['digest']}", timeout=10,
                            headers={"Accept": hc.MANIFEST_V2})
        assert held.status_code == 200 and held.headers["Docker-Content-Digest"] == app["digest"]
        assert PASSWORD not in log
    finally:
        ecr_endpoint.stop()
