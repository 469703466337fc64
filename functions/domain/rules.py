"""Deploy rules: data plus one `evaluate` (adnanh/webhook's rules shape).

A rule is `{name, match, target}`; `match` has exactly one of
`branch` (exact or glob), `tag` (glob), `branch_regex`, `tag_regex`,
and optionally `on_branch` for tags (GitHub's `base_ref` of a tag push).
Every pattern runs on RE2 (`patterns`): a ref of any length is matched in
linear time, and a pattern RE2 refuses is refused when the app is saved.
"""
from __future__ import annotations

import re

from functions.domain import patterns, previews, targets
from functions.errors import InvalidInput
from functions.domain.fields import Field, check
from functions.domain.events import WebhookEvent

MATCH_KEYS = {"branch": "branch", "tag": "tag", "branch_regex": "branch", "tag_regex": "tag"}
MATCH_FIELDS = tuple(Field(k, "str") for k in MATCH_KEYS) + (
    Field("on_branch", "str"),
    Field("pull_request", "map", doc="{base: GLOB}: pull requests into a matching branch get a preview"))
RULE_FIELDS = (Field("name", "str"), Field("match", "map", required=True),
               # the GitHub Deployment of a docker/heroku/aws-ecs job (functions/notify): default <app>-<rule>
               Field("environment", "str", doc="GitHub deployment environment; default <app>-<rule>"),
               Field("production_environment", "bool", doc="GitHub marks the environment as production"),
               Field("target", "map", required=True),
               Field("preview", "map", doc="options of a pull_request rule (functions/domain/previews.py)"))
_OWN_FIELDS = tuple(f for f in RULE_FIELDS if f.name not in ("target", "preview"))  # the blocks check themselves
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def validate(path: str, doc, index: int) -> dict:
    if not isinstance(doc, dict):
        raise InvalidInput(path, "must be a mapping with match and target")
    raw_target = doc.get("target")
    rule = check(path, {k: v for k, v in doc.items() if k not in ("target", "preview")}, _OWN_FIELDS,
                 allow_extra=("target", "preview"))
    rule["name"] = rule.get("name") or f"rule-{index + 1}"
    if not _NAME.match(rule["name"]):
        raise InvalidInput(f"{path}.name", "letters, digits, '_', '.', '-' only, at most 64")
    match = check(f"{path}.match", doc.get("match"), MATCH_FIELDS)
    if "pull_request" in match or "preview" in doc:
        return previews.validate_rule(path, rule, doc, match)
    chosen = [k for k in MATCH_KEYS if k in match]
    if len(chosen) != 1:
        raise InvalidInput(f"{path}.match", "needs exactly one of branch, tag, branch_regex, tag_regex")
    for key in (chosen[0], "on_branch"):
        if key in match:
            try:
                patterns.regex(match[key]) if key.endswith("_regex") else patterns.glob(match[key])
            except patterns.PatternError as exc:
                raise InvalidInput(f"{path}.match.{key}", str(exc)) from exc
    if "on_branch" in match and MATCH_KEYS[chosen[0]] != "tag":
        raise InvalidInput(f"{path}.match.on_branch", "only applies to tag matches")
    rule["match"] = match
    rule["target"] = targets.validate(f"{path}.target", raw_target)
    return rule


def evaluate(rule: dict, event: WebhookEvent) -> bool:
    """True when `rule` deploys `event`. Anything missing means no match."""
    if "pull_request" in (rule.get("match") or {}):
        return previews.matches(rule, event)
    if not event.deployable:
        return False
    match = rule.get("match") or {}
    for key, ref_type in MATCH_KEYS.items():
        if key not in match:
            continue
        if ref_type != event.ref_type:
            return False
        pattern = match[key]
        ok = patterns.matches(pattern, event.ref_name, is_regex=key.endswith("_regex"))
        if ok and match.get("on_branch"):
            ok = bool(event.base_branch) and patterns.matches(match["on_branch"], event.base_branch, is_regex=False)
        return ok
    return False
