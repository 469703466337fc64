"""Which image a docker deploy serves: a build (pushed to the agent's registry when one is configured), a
prebuilt `image:` pulled, a promoted digest (copied to the agent's registry first when it is another one),
or for a rollback the recorded image, pulled back by its digest when this engine lacks it."""
from __future__ import annotations

from docker.errors import ImageNotFound

from . import image as image_build
from . import image_registry as images
from .base import JobResult, JobSpec, Log, Reason, RunContext


def to_deploy(client, spec: JobSpec, ctx: RunContext, log: Log) -> str | JobResult:
    """The image to deploy: the prebuilt `image:` pulled (waited for up to image_wait seconds), or a build,
    pushed to the agent's registry when one is configured."""
    if spec.target.get("image"):
        reference = images.expand(spec.target["image"], spec)
        if spec.target.get("promoted_from"):
            log(f"{spec.target['promoted_from']}: no build")
            reference = _promoted(spec, ctx, log, reference)
            if isinstance(reference, JobResult):
                return reference
        log(f"deploying the prebuilt image {reference}")
        try:
            image = images.pull_waiting(client, reference, images.auth(ctx.settings, ctx.secrets),
                                        float(spec.target.get("image_wait", 0)), log, ctx.cancel)
        except images.RegistryError as exc:
            if ctx.cancel.requested:
                return JobResult.canceled(str(exc))
            return JobResult.failed(str(exc), 1)
        ctx.scratch["digest"] = images.pinned(client, reference)
        log(f"pulled {ctx.scratch['digest'] or reference} as {image[:19]}")
        return image
    built = image_build.build(client, spec, ctx, log)
    if not isinstance(built, JobResult):
        ctx.scratch["digest"] = images.publish(client, built, spec, ctx, log)
    return built

def _promoted(spec: JobSpec, ctx: RunContext, log: Log, reference: str) -> str | JobResult:
    """The promoted digest in this agent's registry: copied there with skopeo when it is another one."""
    registry = ctx.settings.registry
    if not registry or images.split(reference)[0].startswith(registry.rstrip("/") + "/"):
        return reference
    try:
        return images.copy(reference, registry, spec.app, images.auth(ctx.settings, ctx.secrets), log,
                           ctx.timeout)
    except images.RegistryError as exc:
        return JobResult.failed(str(exc), 1)

def for_rollback(client, entry: dict, ctx: RunContext, log: Log) -> str | JobResult:
    """The rollback's image on this engine: there already, or pulled by its recorded digest."""
    image = entry["image"]
    try:
        return client.images.get(image).id
    except ImageNotFound:
        pass
    if not entry.get("digest"):
        holder = entry.get("agent_id") or "the agent that built it"
        return JobResult.never_ran(Reason.REFUSED, f"image {image[:19]} of {entry['ref']} is not on this "
                                   f"agent's Docker Engine, and no registry holds it (none was configured with "
                                   f"TAHOBUDDY_REGISTRY, or the push failed, when it was built); {holder} holds "
                                   f"it: roll back there, or deploy {entry['ref']} again")
    log(f"image {image[:19]} is not on this agent's Docker Engine: pulling {entry['digest']}")
    try:
        return images.pull(client, entry["digest"], images.auth(ctx.settings, ctx.secrets))
    except images.RegistryError as exc:
        return JobResult.failed(f"{exc}; the previous version keeps serving", 1)
