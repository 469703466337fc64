"""Deploy rules: data plus one `evaluate` (adnanh/webhook's rules shape).

A rule is `{name, match, target}`; `match` has exactly one of
`branch` (exact or glob), `tag` (glob), `branch_regex`, `tag_regex`,
and optionally `on_branch` for tags (GitHub's `base_ref` of a tag push).
`paths` / `ignore_paths` are globs on repository paths (contract/paths.py): the agent
matches them against what changed since the commit the target serves.
Every pattern runs on RE2 (`patterns`): a ref of any length is matched in
linear time, and a pattern RE2 refuses is refused when the app is saved.
"""
from __future__ import annotations

from contract import paths

from functions.domain import approvals, freezes, patterns, previews, schedules, targets
from functions.errors import InvalidInput
from functions.domain.fields import Field, check
from functions.domain.events import WebhookEvent

MATCH_KEYS = {"branch": "branch", "tag": "tag", "branch_regex": "branch", "tag_regex": "tag"}
PATH_GLOB = ("globs from the repository's root: * and ? stay within a directory, ** spans directories, a "
             "trailing / means everything below; run on RE2, at most 1000 characters, at most 100 globs")
MAX_PATH_GLOBS = 100
GLOB = "fnmatch's *, ?, [seq], [!seq]; case-sensitive; run on RE2, at most 1000 characters"
MATCH_FIELDS = (
    Field("branch", "str", examples=("development", "feature/*"), doc=f"branch pushes, exact or glob ({GLOB})"),
    Field("tag", "str", examples=("release-*",), doc="new or moved tags, glob"),
    Field("branch_regex", "str", examples=(r"release/\d+",),
          doc="branch pushes, full-match RE2 regex (linear time: no backreferences or lookaround)"),
    Field("tag_regex", "str", examples=(r"v\d+\.\d+\.\d+",), doc="new or moved tags, full-match RE2 regex"),
    Field("on_branch", "str", examples=("master",),
          doc="with a tag match: only tags pushed at that branch's head (GitHub's base_ref; a create event has "
              "none, so it does not match)"),
    Field("pull_request", "block", examples=({"base": "main"},),
          doc="{base: GLOB}: pull requests into a matching branch get a preview each (docker targets only)"))
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
RULE_FIELDS = (Field("name", "str", pattern=NAME, hint="letters, digits, '_', '.', '-' only, at most 64",
                     examples=("release",), doc="the rule's name (default: rule-N); unique in the app"),
               Field("match", "block", required=True, doc="which pushes, tags or pull requests it deploys"),
               # the GitHub Deployment of a docker/heroku/aws-ecs job (functions/notify): default <app>-<rule>
               Field("environment", "str", examples=("production",),
                     doc="GitHub deployment environment; default <app>-<rule>"),
               Field("production_environment", "bool", doc="GitHub marks the environment as production"),
               Field("paths", "list", examples=(["api/**", "shared/*.py"],),
                     doc=f"deploy only when a path matching one of these changed since the commit the target "
                         f"serves ({PATH_GLOB}); a first deploy, a force push or an unknown base always deploys"),
               Field("ignore_paths", "list", examples=(["docs/**", "**/*.md"],),
                     doc="changes to paths matching these never count (with or without paths)"),
               Field("schedule", "block", examples=({"cron": "0 3 * * *", "timezone": "Europe/Berlin"},),
                     doc="also deploy, on these ticks, the commit the rule's target serves now (a nightly rebuild)"),
               Field("approval", "block", examples=({"required": True, "approvers": ["alice-laptop"]},),
                     doc="its jobs wait, in state awaiting_approval, until an admin approves them; none reaches an "
                         "agent before"),
               Field("freeze", "blocks", examples=([{"days": ["fri", "sat", "sun"], "from": "16:00", "to": "08:00",
                                                  "timezone": "Europe/Berlin"}],),
                     doc="windows in which its jobs wait, frozen, until the window ends: weekly (days, from, to) or "
                         "one-off (start, end), each in its timezone"),
               Field("target", "block", required=True, doc="what it deploys to; the fields depend on type"),
               Field("preview", "block", doc="options of a pull_request rule"))
_OWN_FIELDS = tuple(f for f in RULE_FIELDS if f.name not in ("target", "preview"))  # the blocks check themselves


def validate(path: str, doc, index: int) -> dict:
    if not isinstance(doc, dict):
        raise InvalidInput(path, "must be a mapping with match and target")
    raw_target = doc.get("target")
    rule = check(path, {k: v for k, v in doc.items() if k not in ("target", "preview")}, _OWN_FIELDS,
                 allow_extra=("target", "preview"))
    rule["name"] = rule.get("name") or f"rule-{index + 1}"
    for key in ("paths", "ignore_paths"):
        _check_path_globs(f"{path}.{key}", rule.get(key))
    match = check(f"{path}.match", doc.get("match"), MATCH_FIELDS)
    if "schedule" in rule:
        if "pull_request" in match:
            raise InvalidInput(f"{path}.schedule", "applies to branch and tag rules, not to pull request previews")
        rule["schedule"] = schedules.validate(f"{path}.schedule", rule["schedule"])
        target_type = (raw_target or {}).get("type") if isinstance(raw_target, dict) else None
        if rule["schedule"].get("command") and target_type != "docker":
            raise InvalidInput(f"{path}.schedule.command", "runs in the image a docker target serves: this rule's "
                                                           f"target is {target_type or 'missing'}")
    if "approval" in rule:
        if "pull_request" in match:
            raise InvalidInput(f"{path}.approval", "applies to branch and tag rules, not to pull request previews")
        rule["approval"] = approvals.validate(f"{path}.approval", rule["approval"])
    if "freeze" in rule:
        rule["freeze"] = freezes.validate(f"{path}.freeze", rule["freeze"])
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


def _check_path_globs(path: str, globs: list | None) -> None:
    if globs is None:
        return
    if not globs or len(globs) > MAX_PATH_GLOBS:
        raise InvalidInput(path, f"must list 1 to {MAX_PATH_GLOBS} globs (leave it out to watch every path)")
    for i, glob in enumerate(globs):
        try:
            patterns.compile_regex(paths.checked(glob))
        except (paths.PathPatternError, patterns.PatternError) as exc:
            raise InvalidInput(f"{path}[{i}]", str(exc)) from exc


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
