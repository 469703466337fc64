"""`keep_images` in the registry: after a deploy succeeded, the agent deletes the app's oldest images from its
registry (the OCI distribution API's DELETE /v2/<app>/manifests/<digest>), as it removes old local images.

Kept: the `keep_images` newest images of the app's repository (by when each was made, read from the registry),
and, whatever their age, every digest the app's rollback history (the releases handed with the claim) or one
of its open previews serves. A rollback to any release the history lists can therefore always pull its image.
A registry that is down, or refuses deletes (distribution answers 405 unless storage.delete.enabled), ends the
pruning with a line in the job log; the deploy stays green. Deleting frees no disk by itself: distribution's
`garbage-collect` does that (docs/guides/images.md).
"""
from __future__ import annotations

import math

from .base import JobSpec, Log
from .distribution import Distribution, DistributionError
from .image_registry import DIGEST, auth


def content(reference: str) -> str:
    """The sha256:... of `repo@sha256:...` (or of a bare digest); "" for anything else."""
    digest = str(reference or "").rsplit("@", 1)[-1]
    return digest if DIGEST.match(digest) else ""


def protected(releases, preview_digests) -> set[str]:
    """Digests no pruning may delete: every release's and every open preview's, by content, whichever
    registry recorded them (a promotion copies one digest between registries)."""
    found = {content(e.get("digest", "")) for e in releases} | {content(d) for d in preview_digests}
    return found - {""}


def choose(dated: dict[str, float | None], keep: set[str], newest: int) -> list[str]:
    """The digests to delete, oldest first: all but the `newest` most recently made, except those in `keep`.
    An image whose age the registry did not tell counts as new (it is never deleted for being old)."""
    order = sorted(dated, key=lambda d: (math.inf if dated[d] is None else dated[d], d), reverse=True)
    return [d for d in reversed(order[max(1, newest):]) if d not in keep]


def prune(spec: JobSpec, releases, newest: int, ctx, log: Log) -> list[str]:
    """Delete what `choose` picks from the app's repository in the agent's registry; the digests deleted.
    Never raises for the registry: what went wrong goes in the job log."""
    registry = ctx.settings.registry
    if not registry or spec.preview:  # a preview is never pushed: it has nothing of its own there
        return []
    api = Distribution(registry, auth(ctx.settings, ctx.secrets))
    repo, removed = api.name(spec.app), []
    keep = protected(releases, spec.preview_digests)
    try:
        dated: dict[str, float | None] = {}
        for tag in api.tags(repo):
            digest, manifest = api.manifest(repo, tag)
            if digest and digest not in dated:
                dated[digest] = api.created(repo, manifest)
        doomed = choose(dated, keep, newest)
        for digest in doomed:
            if api.delete(repo, digest):
                removed.append(digest)
                log(f"registry: removed {registry}/{spec.app}@{digest}")
    except DistributionError as exc:
        log(f"registry: pruning {registry}/{spec.app} stopped: {exc}; the deploy is not affected, "
            f"{len(removed)} old image(s) removed")
        return removed
    held = [d for d in choose(dated, set(), newest) if d in keep]
    log(f"registry: {registry}/{spec.app} keeps {len(dated) - len(doomed)} image(s): the "
        f"{min(max(1, newest), len(dated))} newest (keep_images) and {len(held)} older one(s) a release or open "
        f"preview uses; {len(removed)} removed")
    return removed
