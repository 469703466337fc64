"""The JSON Schema of tahobuddy.yaml, made from the `Field` declarations the API validates with.

Editors check a file with it through the YAML language server (`# yaml-language-server: $schema=...`);
`python docs/gen.py` writes it to schema/tahobuddy.schema.json, and a test keeps that file equal to
this function's answer. The API's validator (`apps.validate`) stays the authority: the schema refuses
what a declaration can say (types, required fields, unknown fields, choices, limits, patterns, which
fields go with which target type), and a few checks need code: a rule pattern RE2 cannot compile,
duplicate rule names, a repository that is no clone URL, a preview hostname template, undeclared
pools. tests/functional/test_schema.py lists those and checks that both agree on everything else.
"""
from __future__ import annotations

from contract.wire import SECRET_REF

from functions.domain import approvals, apps, databases, freezes, previews, rules, schedules, targets
from functions.domain.fields import Field
from functions.domain import notifications

SCHEMA_ID = "https://tahobuddy.dev/schema/tahobuddy.schema.json"
SECRET = {"type": "string", "pattern": SECRET_REF.pattern}
_SCALAR = {"type": ["string", "number", "boolean"]}
_TYPES = {
    "str": {"type": "string", "minLength": 1},
    "int": {"type": "integer", "minimum": 0},
    "bool": {"type": "boolean"},
    "map": {"type": "object", "additionalProperties": _SCALAR},
    "secret_map": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": "^[A-Za-z0-9_.-]{1,64}$"},
                   "additionalProperties": SECRET},
    "list": {"type": "array", "items": {"type": "string"}},
    "argv": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
    "volumes": {"type": "object", "propertyNames": {"pattern": "^[a-z0-9][a-z0-9_.-]{0,39}$"},
                "additionalProperties": {"type": "string", "pattern": "^/[^:]*[^:/][^:]*$"}},
    "argv_list": {"type": "array", "minItems": 1,
                  "items": {"type": "array", "minItems": 1, "items": {"type": "string"}}},
    "cpus": {"type": ["number", "string"]},
    "memory": {"type": "string", "pattern": "^\\s*[0-9]+[bkmgBKMG]?\\s*$"},
    "block": {"type": "object"},
    "blocks": {"type": "array", "items": {"type": "object"}},
}


def field_schema(f: Field) -> dict:
    """One field: its type, choices, limits, default, prose and examples."""
    out = dict(SECRET) if f.secret else dict(_TYPES[f.type_])
    if f.choices:
        out["enum"] = list(f.choices)
    if f.minimum is not None:
        out["minimum"] = f.minimum
    if f.maximum is not None:
        out["maximum"] = f.maximum
    if f.pattern:
        out["pattern"] = f.pattern
    if f.default is not None:
        out["default"] = f.default
    if f.doc:
        out["description"] = f.doc
    if f.examples:
        out["examples"] = list(f.examples)
    return out


def block(fields, closed: bool = True, **nested) -> dict:
    """An object of `fields` (nested blocks given by name); closed: an unknown key is refused, as the API does."""
    props = {f.name: {**field_schema(f), **nested[f.name]} if f.name in nested else field_schema(f) for f in fields}
    out: dict = {"type": "object", "properties": props}
    required = [f.name for f in fields if f.required]
    if required:
        out["required"] = required
    if closed:
        out["additionalProperties"] = False
    return out


def target() -> dict:
    variants = []
    for target_type, own in targets.TARGETS.items():
        one = block([f for f in targets.COMMON + own if f.name != "type"])
        one["properties"]["type"] = {"const": target_type, "description": targets.COMMON[0].doc}
        one["required"] = ["type", *one.get("required", [])]
        one["title"] = target_type
        builder = [f.name for f in targets.BUILDER[1:]] if targets.BUILDER[0] in own else []
        if builder:
            one["dependentRequired"] = {name: ["image"] for name in builder}
        variants.append(one)
    return {"type": "object", "required": ["type"], "properties": {"type": {"enum": list(targets.TARGETS)}},
            "oneOf": variants}


def match() -> dict:
    one_of = [{"required": [f.name]} for f in rules.MATCH_FIELDS if f.name != "on_branch"]
    out = block(rules.MATCH_FIELDS, pull_request=block(previews.PR_FIELDS))
    out["oneOf"] = one_of
    out["dependentSchemas"] = {"on_branch": {"anyOf": [{"required": ["tag"]}, {"required": ["tag_regex"]}]}}
    return out


def rule() -> dict:
    out = block(rules.RULE_FIELDS, match=match(), target=target(), preview=block(previews.PREVIEW_FIELDS),
                schedule=block(schedules.FIELDS), approval=block(approvals.FIELDS), freeze=freeze())
    previews_only = {"properties": {"match": {"required": ["pull_request"]}}}
    out["dependentSchemas"] = {"preview": previews_only}
    out["if"] = {"required": ["match"], "properties": {"match": {"type": "object", "required": ["pull_request"]}}}
    out["then"] = {"properties": {"target": {"properties": {"type": {"const": "docker"}}}}}
    return out


def freeze() -> dict:
    window = block(freezes.FIELDS)
    window["oneOf"] = [{"required": ["days", "from", "to"]}, {"required": ["start", "end"]}]
    return {"minItems": 1, "maxItems": freezes.MAX_WINDOWS, "items": window}


def notify() -> dict:
    entry = {"type": "object", "additionalProperties": False, "required": ["type", "url"],
             "properties": {
                 "type": {"enum": list(notifications.TYPES), "description": "slack, discord, or a signed webhook"},
                 "url": {**SECRET, "description": "the URL, as secret:NAME (it is a credential)",
                         "examples": ["secret:SLACK_URL"]},
                 "secret": {**SECRET, "description": "webhook only: its Standard Webhooks key (whsec_...)"},
                 "states": {"type": "array", "minItems": 1, "items": {"enum": list(notifications.STATES)},
                            "default": list(notifications.DEFAULT_STATES),
                            "description": "the job states that send a message"}},
             "if": {"properties": {"type": {"const": "webhook"}}},
             "then": {"required": ["secret"]},
             "else": {"not": {"required": ["secret"]}}}
    return {"type": "array", "items": entry, "description": "Slack, Discord and signed webhook notifications"}


def app() -> dict:
    out = block(apps.APP_FIELDS, database=block(apps.DATABASE_FIELDS, backup=block(databases.BACKUP_FIELDS)),
                freeze=freeze())
    out["properties"]["rules"] = {"type": "array", "items": rule(), "default": [], "description": "deploy rules"}
    out["properties"]["notify"] = notify()
    return out


def document() -> dict:
    """The schema of a whole tahobuddy.yaml: `apps:`, a list of apps."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "tahobuddy.yaml",
        "description": "Apps and their deploy rules, as `tahobuddy apply -f` sends them to PUT /api/v1/apps/{name}. "
                       "Made from functions/domain/*.py by `python docs/gen.py`; check a file with "
                       "`tahobuddy validate -f FILE`.",
        "type": "object",
        "required": ["apps"],
        "additionalProperties": False,
        "properties": {"apps": {"type": "array", "items": app()}},
    }
