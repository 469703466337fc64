"""aws-ecs: build the image, push it to the rule's ECR repository, register a new task definition
revision with it, update the service, and wait until it is stable; if it never is, put the
previous revision back.

A promotion (`tahobuddy promote`, the target carries `image` and `promoted_from`) builds nothing: the
serving digest is copied registry to registry with skopeo into the ECR repository, and the new revision
names it by that digest (`<ecr>/<repository>@sha256:...`), so ECS runs exactly the promoted image."""
from __future__ import annotations

import time

import boto3
import docker
from docker.errors import DockerException

from . import docker_convert as convert
from . import ecs_convert
from . import image as image_build
from . import image_registry as images
from .base import JobResult, JobSpec, Log, Reason, RunContext, RunnerError

POLL_SECONDS = 2.0


class EcsRunner:
    name = "aws-ecs"

    def available(self) -> bool:
        try:
            return bool(docker.from_env(timeout=10).ping())
        except DockerException:
            return False

    def prepare(self, spec: JobSpec, ctx: RunContext) -> None:
        kwargs = {"region_name": spec.target.get("region") or ctx.settings.region}
        if ctx.settings.aws_endpoint:
            kwargs["endpoint_url"] = ctx.settings.aws_endpoint
        ctx.scratch.update(ecr=boto3.client("ecr", **kwargs), ecs=boto3.client("ecs", **kwargs),
                           docker=None if spec.target.get("promoted_from") else docker.from_env(timeout=600))

    def _registry(self, spec: JobSpec, ctx: RunContext) -> tuple[str, dict]:
        """(ECR host, its auth_config), once the rule's repository is known to exist."""
        ecr, target = ctx.scratch["ecr"], spec.target
        try:
            ecr.describe_repositories(repositoryNames=[target["repository"]])
        except ecr.exceptions.RepositoryNotFoundException as exc:
            raise RunnerError(f"ECR repository {target['repository']} does not exist", exc, Reason.REFUSED) from exc
        return ecs_convert.registry_auth(ecr.get_authorization_token()["authorizationData"][0],
                                         ctx.settings.ecr_registry)

    def _copy(self, spec: JobSpec, ctx: RunContext, log: Log) -> str:
        """A promotion: the serving digest copied into the ECR repository; the image by that digest."""
        source, target = spec.target["image"], spec.target
        log(f"{target['promoted_from']}: no build")
        host, auth = self._registry(spec, ctx)
        repo, digest = f"{host}/{target['repository']}", images.split(source)[1]
        auths = {source.split("/", 1)[0]: images.auth(ctx.settings, ctx.secrets), host: auth}
        images.copy_to(source, f"{repo}:{digest.split(':')[1][:12]}", auths, log, ctx.timeout)
        return f"{repo}@{digest}"

    def _push(self, spec: JobSpec, ctx: RunContext, log: Log, image_id: str) -> str:
        client, target = ctx.scratch["docker"], spec.target
        host, auth = self._registry(spec, ctx)
        repo, tag = f"{host}/{target['repository']}", convert.safe_tag(spec.sha[:12])
        client.images.get(image_id).tag(repo, tag)
        log(f"pushing {repo}:{tag}")
        for chunk in client.images.push(repo, tag, auth_config=auth, stream=True, decode=True):
            if "error" in chunk:
                raise RunnerError(f"push to {host} failed: {chunk['error']}")
        return f"{repo}:{tag}"

    def run(self, spec: JobSpec, ctx: RunContext, log: Log) -> JobResult:
        if spec.target.get("promoted_from"):
            try:
                uri = self._copy(spec, ctx, log)
            except images.RegistryError as exc:
                return JobResult.failed(str(exc), 1)
        else:
            built = image_build.build(ctx.scratch["docker"], spec, ctx, log)
            if isinstance(built, JobResult):
                return built
            uri = self._push(spec, ctx, log, built)
        ecs, target = ctx.scratch["ecs"], spec.target
        services = ecs.describe_services(cluster=target["cluster"], services=[target["service"]])["services"]
        if not services:
            return JobResult.never_ran(Reason.REFUSED, f"no service {target['service']} in cluster {target['cluster']}")
        previous = services[0]["taskDefinition"]
        current = ecs.describe_task_definition(taskDefinition=previous)["taskDefinition"]
        new = ecs.register_task_definition(**ecs_convert.next_revision(
            current, uri, target.get("container"), convert.labels(spec)))["taskDefinition"]["taskDefinitionArn"]
        log(f"registered {new.rsplit('/', 1)[-1]} with {uri}; updating service {target['service']}")
        ecs.update_service(cluster=target["cluster"], service=target["service"], taskDefinition=new)
        deadline = time.monotonic() + float(target.get("stable_timeout", 600))
        while time.monotonic() < deadline:
            service = ecs.describe_services(cluster=target["cluster"], services=[target["service"]])["services"][0]
            if ecs_convert.stable(service, new):
                origin = f"; {target['promoted_from']}" if target.get("promoted_from") else ""
                return JobResult.ok(f"service {target['service']} stable on {new.rsplit('/', 1)[-1]}{origin}")
            if ctx.cancel.wait(POLL_SECONDS):
                break
        ecs.update_service(cluster=target["cluster"], service=target["service"], taskDefinition=previous)
        log(f"rolled service {target['service']} back to {previous.rsplit('/', 1)[-1]}")
        if ctx.cancel.requested:
            return JobResult.canceled(f"canceled; rolled back to {previous.rsplit('/', 1)[-1]}")
        return JobResult.failed(f"service not stable within {target.get('stable_timeout', 600)}s; rolled back to "
                                f"{previous.rsplit('/', 1)[-1]}", 1, Reason.TIMEOUT)

    def cleanup(self, spec: JobSpec, ctx: RunContext) -> None:
        client = ctx.scratch.pop("docker", None)
        if client is not None:
            client.close()
