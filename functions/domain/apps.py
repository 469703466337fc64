"""An app: where its code lives, where it is served, and its deploy rules.

`validate` turns a user's document (JSON over the API, YAML via the CLI) into
the stored form, or raises InvalidInput naming the field that is wrong.
"""
from __future__ import annotations

import re

from functions.config import settings
from functions.domain import forges, previews, refs, rules
from functions.errors import InvalidInput
from functions.domain.fields import Field, check
from functions.notify import channels

DATABASE_KINDS = ("postgres", "mysql", "redis")
APP_FIELDS = (
    Field("name", "str", required=True),
    Field("repository", "str", required=True, doc="clone URL; events match it by full name or URL"),
    Field("forge", "str", choices=forges.FORGES,
          doc="the forge whose webhook route (/hooks/<forge>) may deploy the app; default: from the repository's "
              "host (github.com and the GitHub Enterprise host: github, gitlab.com: gitlab, a host listed in "
              "TAHOBUDDY_GITLAB_HOSTS / TAHOBUDDY_GITEA_HOSTS / TAHOBUDDY_FORGEJO_HOSTS: that forge, else github)"),
    Field("hostname", "str", doc="host the proxy routes to the app"),
    Field("path_prefix", "str", default="/"),
    Field("port", "int", default=8080, doc="port the app listens on inside its container"),
    Field("database", "map", doc="{kind: postgres|mysql|redis, image: optional}"),
    Field("env", "map"),
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def validate(doc) -> dict:
    if not isinstance(doc, dict):
        raise InvalidInput("", "an app must be a JSON object")
    raw_rules = doc.get("rules") or []
    app = check("", doc, APP_FIELDS, allow_extra=("rules", "notify"))
    if not _NAME.match(app["name"]):
        raise InvalidInput("name", "lower-case letters, digits and '-', starting with a letter or digit, at most 63")
    if not refs.repo_key(app["repository"]):
        raise InvalidInput("repository", "must be a clone URL or owner/name")
    app["forge"] = forges.of(app, settings().forge_hosts)  # stored, so the app says which route deploys it
    if "hostname" in app and not _HOST.match(app["hostname"].lower()):
        raise InvalidInput("hostname", "must be a DNS name like blog.example.com")
    if not app["path_prefix"].startswith("/"):
        raise InvalidInput("path_prefix", "must start with '/'")
    if not 1 <= app["port"] <= 65535:
        raise InvalidInput("port", "must be between 1 and 65535")
    if "database" in app:
        app["database"] = _database(doc["database"])
    if not isinstance(raw_rules, list):
        raise InvalidInput("rules", "must be a list of rules")
    app["rules"] = [rules.validate(f"rules[{i}]", r, i) for i, r in enumerate(raw_rules)]
    if doc.get("notify") is not None:  # Slack, Discord, signed webhooks (functions/notify/channels.py)
        app["notify"] = channels.validate(doc["notify"])
    names = [r["name"] for r in app["rules"]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput("rules", f"rule names must be unique ({dupes[0]} repeats)")
    previews.check_app(app)
    return app


def _database(doc) -> dict:
    return check("database", doc, (Field("kind", "str", required=True, choices=DATABASE_KINDS),
                                 Field("image", "str")))


def rule(app: dict, name: str) -> dict:
    for r in app.get("rules", []):
        if r["name"] == name:
            return r
    raise InvalidInput("rule", f"app {app['name']} has no rule named {name!r}")
