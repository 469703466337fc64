"""An app: where its code lives, where it is served, and its deploy rules.

`validate` turns a user's document (JSON over the API, YAML via the CLI) into
the stored form, or raises InvalidInput naming the field that is wrong.
"""
from __future__ import annotations

import re

from functions.config import settings
from functions.domain import databases, forges, freezes, notifications, preview_hosts, previews, refs, rules
from functions.errors import InvalidInput
from functions.domain.fields import Field, check

DATABASE_KINDS = databases.KINDS
NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
HOST = r"^(\*\.)?[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
APP_FIELDS = (
    Field("name", "str", required=True, pattern=NAME, examples=("blog",),
          hint="lower-case letters, digits and '-', starting with a letter or digit, at most 63",
          doc="the app's name: its jobs, routes, containers and network are named after it"),
    Field("repository", "str", required=True,
          examples=("https://github.com/me/blog.git", "git@gitlab.example.com:group/sub/blog.git", "me/blog"),
          doc="clone URL (https, ssh, git@host:owner/name, a local path, file://) or owner/name; events match it "
              "by full name or any of their URLs"),
    Field("forge", "str", choices=forges.FORGES,
          doc="the forge whose webhook route (/hooks/<forge>) may deploy the app; default: from the repository's "
              "host (github.com and the GitHub Enterprise host: github, gitlab.com: gitlab, a host listed in "
              "TAHOBUDDY_GITLAB_HOSTS / TAHOBUDDY_GITEA_HOSTS / TAHOBUDDY_FORGEJO_HOSTS: that forge, else github)"),
    Field("hostname", "str", pattern=HOST, hint="must be a DNS name like blog.example.com",
          examples=("blog.example.com", "*.example.com"), doc="host the proxy routes to the app"),
    Field("path_prefix", "str", default="/", pattern="^/", hint="must start with '/'", examples=("/blog",),
          doc="path prefix routed to the app (not stripped)"),
    Field("port", "int", default=8080, minimum=1, maximum=65535, examples=(3000,),
          doc="port the app listens on inside its container (also given to it as PORT)"),
    Field("database", "block", examples=({"kind": "postgres"},),
          doc="a database container of its own, made once and kept; the app gets DATABASE_URL"),
    Field("env", "map", examples=({"LOG_LEVEL": "info"},), doc="environment of the app's container"),
    Field("freeze", "blocks", examples=([{"start": "2026-12-24", "end": "2027-01-02 08:00",
                                          "timezone": "Europe/Berlin"}],),
          doc="windows in which no job of the app starts: its jobs wait, frozen, until the window ends (weekly: "
              "days, from, to; one-off: start, end; each in its timezone)"),
)
DATABASE_FIELDS = databases.DATABASE_FIELDS  # kind, image, backup (functions/domain/databases.py)
_LOOKALIKE = re.compile(r"^(.+)-pr-([0-9]+)$")


def validate(doc) -> dict:
    if not isinstance(doc, dict):
        raise InvalidInput("", "an app must be a JSON object")
    raw_rules = doc.get("rules") or []
    app = check("", doc, APP_FIELDS, allow_extra=("rules", "notify"))
    if "freeze" in app:
        app["freeze"] = freezes.validate("freeze", app["freeze"])
    if not refs.repo_key(app["repository"]):
        raise InvalidInput("repository", "must be a clone URL or owner/name")
    app["forge"] = forges.of(app, settings().forge_hosts)  # stored, so the app says which route deploys it
    if "database" in app:
        app["database"] = databases.validate(doc["database"])
    if not isinstance(raw_rules, list):
        raise InvalidInput("rules", "must be a list of rules")
    app["rules"] = [rules.validate(f"rules[{i}]", r, i) for i, r in enumerate(raw_rules)]
    if doc.get("notify") is not None:  # Slack, Discord, signed webhooks (functions/domain/notifications.py)
        app["notify"] = notifications.validate(doc["notify"])
    names = [r["name"] for r in app["rules"]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput("rules", f"rule names must be unique ({dupes[0]} repeats)")
    previews.check_app(app)
    too_long = preview_hosts.long_name(app, settings().preview_domain)
    if too_long:
        raise InvalidInput("name", too_long)
    return app


def preview_lookalike(name: str) -> tuple[str, int] | None:
    """(app, number) when `name` reads as preview `number` of `app` the way previews were named before
    their names took a separator app names cannot have (tahobuddy-APP-pr-N): such an app's network,
    database and volume would be that preview's."""
    found = _LOOKALIKE.match(name)
    return (found.group(1), int(found.group(2))) if found else None


def rule(app: dict, name: str) -> dict:
    for r in app.get("rules", []):
        if r["name"] == name:
            return r
    raise InvalidInput("rule", f"app {app['name']} has no rule named {name!r}")


def validate_file(doc) -> list[str]:
    """A whole tahobuddy.yaml, as `tahobuddy apply` sends it: one message per refused app, in the API's words
    (`apps[0] (blog): rules[1].target.app: is required`); an empty list when every app would be accepted."""
    if not isinstance(doc, dict) or not isinstance(doc.get("apps"), list):
        return ["expected a top-level 'apps:' list"]
    extra = sorted(set(doc) - {"apps"})
    problems = [f"{extra[0]}: unknown top-level key (known: apps)"] if extra else []
    for i, one in enumerate(doc["apps"]):
        try:
            validate(one)
        except InvalidInput as exc:
            name = one.get("name") if isinstance(one, dict) else None
            problems.append(f"apps[{i}]{f' ({name})' if isinstance(name, str) else ''}: {exc}")
    return problems
