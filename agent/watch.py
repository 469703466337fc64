"""A rule's `paths` / `ignore_paths`: does this job's commit change a path the rule watches?

Decided here, in the agent's mirror, with `git diff --name-only` between the commit the target serves
now and the job's commit (a pull request's preview: where it forks from its base branch). A webhook's
file lists are truncated and differ per forge, so they are never read. When the base is unknown (a
first deploy, a force push, a base the mirror cannot get) the job deploys: a filter never keeps a
target from its first release."""
from __future__ import annotations

from contract import paths
from runners.base import JobSpec, Log

from . import path_filter
from .source import FetchError, Source

FILTERED_TRIGGERS = ("webhook", "preview")   # a manual deploy, a replay or a rollback is a person's choice


def rule_of(spec: JobSpec) -> dict:
    return next((r for r in (spec.app_spec or {}).get("rules", []) if r.get("name") == spec.rule), {})


def skip_reason(spec: JobSpec, source: Source, log: Log) -> str:
    """The reason to skip the job (no watched path changed), or "" to deploy it."""
    rule = rule_of(spec)
    if spec.trigger not in FILTERED_TRIGGERS or not paths.filtered(rule):
        return ""
    base_branch = str((spec.target.get("preview") or {}).get("base") or "") if spec.preview else ""
    if spec.preview and not base_branch:
        log("tahobuddy: paths: the pull request's base branch is unknown; deploying")
        return ""
    try:
        base, changed = source.changed_since(spec.repository, spec.sha, log, serving=spec.serving,
                                             base_ref=f"refs/heads/{base_branch}" if base_branch else "")
    except FetchError as exc:
        base, changed = f"cannot compare ({exc})", None
    if changed is None:
        log(f"tahobuddy: paths: {base}; deploying")
        return ""
    counted = path_filter.any_watched(changed, rule.get("paths") or (), rule.get("ignore_paths") or ())
    what = f"the {'base ' + base_branch + ' at' if base_branch else 'served commit'} {base} and {spec.sha}"
    if counted:
        shown = ", ".join(counted[:5]) + (f" and {len(counted) - 5} more" if len(counted) > 5 else "")
        log(f"tahobuddy: paths: {len(counted)} watched path(s) changed between {what}: {shown}")
        return ""
    return f"skipped: no watched path changed between {what} ({len(changed)} path(s) changed, none watched)"
