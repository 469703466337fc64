"""Pull-request previews: a rule with `match: {pull_request: {base: GLOB}}` deploys each pull request
into the base branch to its own container, route and database, and tears it down when it closes.

This module holds the rules, and only pure checks: the rule's `preview:` options, which events a
preview rule matches, who may get a preview (forks and outside authors only when the rule allows it:
their code would run on the home server), the preview's hostname, and the rule as a preview's jobs
carry it. The rows live in functions/store/previews.py; the jobs are queued by
functions/dispatch/previews.py.
"""
from __future__ import annotations

import re

from functions.config import settings
from functions.domain import patterns, preview_hosts, targets
from functions.errors import InvalidInput
from functions.domain.fields import Field, check
from functions.domain.events import Action, WebhookEvent

TRUSTED = ("OWNER", "MEMBER", "COLLABORATOR")
DEFAULT_HOSTNAME = preview_hosts.DEFAULT_TEMPLATE
PREVIEW_FIELDS = (
    Field("hostname", "str", default=DEFAULT_HOSTNAME, examples=("pr-{number}.preview.example.com",),
          doc="template of the preview's host: {number} required, {hostname} the app's"),
    Field("allow_forks", "bool", default=False, doc="deploy PRs from forks and from authors who are not "
                                                    "OWNER, MEMBER or COLLABORATOR (their code runs here)"),
    Field("max_previews", "int", default=3, minimum=1,
          doc="previews of the app at once (queued, live or failed); more are refused"),
    Field("expire_after_days", "int", default=7, doc="the sweeper tears down a preview this long after its "
                                                     "last push; 0: never"),
    Field("seed", "list", examples=(["sh", "-c", "./bin/seed-demo-data"],),
          doc="argv run once in the preview's image, with DATABASE_URL, when its new database is made; the "
              "database starts empty without it"),
    *preview_hosts.LIMIT_FIELDS,
)
PR_FIELDS = (Field("base", "str", required=True, examples=("main", "release/*"),
                   doc="a glob on the base branch of the pull request"),)
ACTIVE = ("queued", "live", "failed")          # the states the reconciler keeps and the limit counts
PULL_REFS = ("refs/pull/", "refs/merge-requests/")
SLOTS = 0                                      # the app's slot row: pull requests are numbered from 1 on every forge
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def validate_rule(path: str, rule: dict, doc: dict, match: dict) -> dict:
    """A pull_request rule: its base glob, a docker target, and its `preview:` options."""
    if "pull_request" not in match:
        raise InvalidInput(f"{path}.preview", "applies only to a rule with match: {pull_request: {base: GLOB}}")
    if set(match) != {"pull_request"}:
        raise InvalidInput(f"{path}.match", "pull_request cannot be combined with branch, tag or on_branch")
    pr = check(f"{path}.match.pull_request", match["pull_request"], PR_FIELDS)
    try:
        patterns.glob(pr["base"])
    except patterns.PatternError as exc:
        raise InvalidInput(f"{path}.match.pull_request.base", str(exc)) from exc
    rule["match"] = {"pull_request": pr}
    rule["target"] = targets.validate(f"{path}.target", doc.get("target"))
    if rule["target"]["type"] != "docker":
        raise InvalidInput(f"{path}.target.type", "previews run on docker targets (each is a container and a "
                                                  "route on the agent's machine)")
    options = check(f"{path}.preview", doc.get("preview") or {}, PREVIEW_FIELDS)
    names = set(_PLACEHOLDER.findall(options["hostname"]))
    if "number" not in names or names - {"number", "hostname"}:
        raise InvalidInput(f"{path}.preview.hostname", "must contain {number}, and no placeholder but {number} "
                                                       "and {hostname}, like pr-{number}.example.com")
    if not _HOST.match(options["hostname"].format(number=1, hostname="app.example.com").lower()):
        raise InvalidInput(f"{path}.preview.hostname", "must make a DNS name, like pr-{number}.{hostname}")
    if "seed" in options and not options["seed"]:
        raise InvalidInput(f"{path}.preview.seed", 'must be an argv list, like ["sh", "-c", "./seed.sh"]')
    rule["preview"] = options
    return rule


def check_app(app: dict) -> None:
    """A hostname template that uses {hostname} needs the app's hostname."""
    for i, rule in enumerate(app.get("rules", [])):
        if "{hostname}" in (rule.get("preview") or {}).get("hostname", "") and not app.get("hostname"):
            raise InvalidInput(f"rules[{i}].preview.hostname", "uses {hostname}, and the app has none: set the "
                                                               "app's hostname, or a template like pr-{number}.x.y")


def matches(rule: dict, event: WebhookEvent) -> bool:
    """Whether a pull request event into `event.base_branch` opens a preview of `rule` (closing and
    retargeting follow the preview that exists, whatever the base is now: dispatch/previews.py)."""
    return event.action in (Action.PR_OPENED, Action.PR_CLOSED) and base_matches(rule, event.base_branch)


def base_matches(rule: dict, base_branch: str) -> bool:
    base = ((rule.get("match") or {}).get("pull_request") or {}).get("base")
    return bool(base) and bool(base_branch) and patterns.matches(base, base_branch, is_regex=False)


def hostname(app: dict, rule: dict, number: int) -> str:
    return preview_hosts.hostname(app, rule, number, settings().preview_domain)


def refusal(rule: dict, event: WebhookEvent) -> str:
    """Why this pull request gets no preview from `rule` ("" when it may have one)."""
    return refusal_for(rule, event.pr_number, event.head_repo_is_fork, event.author_association, event.head_ref)


def refusal_for(rule: dict, number: int, fork: bool, association: str, head_ref: str = "") -> str:
    """The fork and author check, on what the forge said of pull request `number` (its signed event, or
    what the preview's row kept of it)."""
    if (rule.get("preview") or {}).get("allow_forks"):
        return ""
    if fork:
        return (f"pull request #{number} comes from a fork ({head_ref}): previews of forks are "
                "refused unless the rule sets preview.allow_forks")
    if (association or "").upper() not in TRUSTED:
        return (f"pull request #{number} is by an author with association "
                f"{association or 'unknown'} (not OWNER, MEMBER or COLLABORATOR): refused unless the "
                "rule sets preview.allow_forks")
    return ""


def is_preview_rule(rule: dict) -> bool:
    return "pull_request" in (rule.get("match") or {})


def pull_request_ref(ref: str) -> bool:
    """A ref of a pull request (GitHub, Gitea, Forgejo) or a merge request (GitLab): its code is the author's."""
    return (ref or "").startswith(PULL_REFS)


def number_of(ref: str) -> int:
    """The pull request a ref names (refs/pull/7/head, refs/merge-requests/7/head: 7), else 0."""
    for prefix in PULL_REFS:
        if (ref or "").startswith(prefix):
            digits = ref[len(prefix):].split("/", 1)[0]
            return int(digits) if digits.isdigit() and int(digits) > 0 else 0
    return 0


def job_rule(app: dict, rule: dict, number: int, base: str = "") -> dict:
    """The rule as its jobs carry it: the target says which preview and where (the runner reads it), the
    branch the pull request merges into (the base of the rule's `paths` filter), its limits, and no build
    secrets: a preview builds a pull request's code."""
    options = rule.get("preview") or {}
    preview = {"number": number, "hostname": hostname(app, rule, number)}
    if base:
        preview["base"] = base
    if options.get("seed"):
        preview["seed"] = list(options["seed"])
    preview.update({f.name: options[f.name] for f in preview_hosts.LIMIT_FIELDS if f.name in options})
    target = {k: v for k, v in rule["target"].items() if k != "build_secrets"}
    return {**rule, "target": {**target, "preview": preview}}
