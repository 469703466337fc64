"""`keep_images` in the registry: after a deploy succeeded, the agent deletes the app's oldest images from its
registry (the OCI distribution API's DELETE /v2/<app>/manifests/<digest>), as it removes old local images.

Kept: the `keep_images` newest images of the app's repository (by when each was made, read from the registry),
and, whatever their age, every digest the app's rollback history (the releases handed with the claim) or one
of its open previews serves. A rollback to any release the history lists can therefore always pull its image.
Build cache images (`cache-<stage>` tags, runners/build_cache.py) are not releases: they are not counted among
the `keep_images`, and the ones their tags point at are kept. The ones this deploy's build moved those tags
away from (handed here as `superseded`) are deleted once no tag points at them.
A registry that is down, or refuses deletes (distribution answers 405 unless storage.delete.enabled), ends the
pruning with a line in the job log; the deploy stays green. Deleting frees no disk by itself: distribution's
`garbage-collect` does that (docs/guides/images.md).
"""
from __future__ import annotations

import math

from .base import JobSpec, Log
from .build_cache import is_cache_tag
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


def classify(tags: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The repository's tags (tag -> digest) as ({image digest: a tag}, {cache image digest: its cache tag}).
    A cache tag is no release: it never counts among the keep_images, and a digest a cache tag holds is a cache
    image, whatever else is tagged on it."""
    cache = {d: t for t, d in sorted(tags.items()) if d and is_cache_tag(t)}
    images = {d: t for t, d in sorted(tags.items()) if d and d not in cache}
    return images, cache


def stale_cache(superseded, tagged: set[str], keep: set[str]) -> list[str]:
    """The cache images to delete: those a cache tag pointed at before this build moved it, which no tag points
    at now and no release or preview uses (a delete by digest removes every tag on it)."""
    out = []
    for digest in superseded:
        if digest and digest not in tagged and digest not in keep and digest not in out:
            out.append(digest)
    return out


def prune(spec: JobSpec, releases, newest: int, ctx, log: Log, superseded=()) -> list[str]:
    """Delete what `choose` picks from the app's repository in the agent's registry, and the `superseded` cache
    images `stale_cache` picks; the digests deleted. Never raises for the registry: what went wrong goes in the
    job log."""
    registry = ctx.settings.registry
    if not registry or spec.preview:  # a preview is never pushed: it has nothing of its own there
        return []
    api = Distribution(registry, auth(ctx.settings, ctx.secrets))
    repo, removed = api.name(spec.app), []
    keep = protected(releases, spec.preview_digests)
    try:
        manifests = {tag: api.manifest(repo, tag) for tag in api.tags(repo)}
        images, cache = classify({tag: digest for tag, (digest, _) in manifests.items()})
        dated = {d: api.created(repo, manifests[tag][1]) for d, tag in images.items()}
        doomed = choose(dated, keep, newest)
        stale = stale_cache(superseded, set(dated) | set(cache), keep)
        for digest in doomed + stale:
            if api.delete(repo, digest):
                removed.append(digest)
                log(f"registry: removed {'old cache image ' if digest in stale else ''}{registry}/{spec.app}@{digest}")
    except DistributionError as exc:
        log(f"registry: pruning {registry}/{spec.app} stopped: {exc}; the deploy is not affected, "
            f"{len(removed)} old image(s) removed")
        return removed
    held = [d for d in choose(dated, set(), newest) if d in keep]
    gone = [d for d in removed if d in stale]
    log(f"registry: {registry}/{spec.app} keeps {len(dated) - len(doomed)} image(s): the "
        f"{min(max(1, newest), len(dated))} newest (keep_images) and {len(held)} older one(s) a release or open "
        f"preview uses; {len(removed) - len(gone)} removed"
        + (f"; build cache: {', '.join(sorted(cache.values()))} kept, {len(gone)} older removed" if cache else ""))
    return removed
