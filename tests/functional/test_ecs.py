"""The aws-ecs target through the real agent: ECR and ECS calls go to moto server over HTTP, the
image push goes to a real local registry standing in for ECR's endpoint."""
import boto3
import pytest
import requests

from functions.config import boto_kwargs
from tests.helpers import push_job, unique
from tests.realparts import BASE_IMAGE, GitRepo, Registry, job_log, wait_job

pytestmark = pytest.mark.functional


@pytest.fixture(scope="module")
def registry(workdir):
    reg = Registry(workdir / "registry")
    yield reg
    reg.stop()


@pytest.fixture
def agent(start_agent, registry, docker_images):
    return start_agent("aws-ecs", extra={"TAHOBUDDY_ECR_REGISTRY": registry.host})


def ecs_service(desired: int) -> dict:
    ecs, ecr, name = boto3.client("ecs", **boto_kwargs()), boto3.client("ecr", **boto_kwargs()), unique("web")
    ecr.create_repository(repositoryName=name)
    ecs.create_cluster(clusterName=name)
    td = ecs.register_task_definition(family=name, containerDefinitions=[
        {"name": "sidecar", "image": "busybox:old", "memory": 64},
        {"name": "web", "image": "web:old", "memory": 128, "portMappings": [{"containerPort": 8080}]}])
    ecs.create_service(cluster=name, serviceName=name, desiredCount=desired,
                       taskDefinition=td["taskDefinition"]["taskDefinitionArn"])
    return {"name": name, "ecs": ecs, "first": td["taskDefinition"]["taskDefinitionArn"]}


def ecs_job(api, tmp_path, svc, stable_timeout=30) -> dict:
    repo = GitRepo(tmp_path / unique("src"))
    repo.write({"Dockerfile": f'FROM {BASE_IMAGE}\nCMD ["httpd", "-f", "-p", "8080"]\n'})
    name = unique("ecsapp")
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "rules": [{"name": "prod", "match": {"tag": "v*"}, "target": {
            "type": "aws-ecs", "cluster": svc["name"], "service": svc["name"], "repository": svc["name"],
            "container": "web", "stable_timeout": stable_timeout}}]})
    assert r.status_code == 201, r.text
    sha = repo.commit_and_tag("ecs", "v1")
    return wait_job(api, push_job(api, repo, "refs/tags/v1", sha, created=True), timeout=120), sha


def test_new_revision_with_the_pushed_image_and_a_stable_service(api, agent, registry, tmp_path):
    svc = ecs_service(desired=1)
    job, sha = ecs_job(api, tmp_path, svc)
    assert job["state"] == "succeeded", job_log(api, job["id"])
    assert registry.tags(svc["name"]) == [sha[:12]]  # the image really is in the registry
    service = svc["ecs"].describe_services(cluster=svc["name"], services=[svc["name"]])["services"][0]
    assert service["taskDefinition"].endswith(f"{svc['name']}:2")
    defs = svc["ecs"].describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    images = {d["name"]: d["image"] for d in defs["containerDefinitions"]}
    assert images == {"sidecar": "busybox:old", "web": f"{registry.host}/{svc['name']}:{sha[:12]}"}


def test_a_service_that_never_stabilises_is_rolled_back(api, agent, registry, tmp_path):
    svc = ecs_service(desired=2)  # moto runs one task: never stable
    job, _ = ecs_job(api, tmp_path, svc, stable_timeout=4)
    assert job["state"] == "failed" and "rolled back to" in job["reason"], job
    service = svc["ecs"].describe_services(cluster=svc["name"], services=[svc["name"]])["services"][0]
    assert service["taskDefinition"] == svc["first"]
