"""`tahobuddy validate -f FILE`: check a tahobuddy.yaml offline, with the API's own validator.

The check is `functions.domain.apps.validate`, the code `PUT /api/v1/apps/{name}` runs, so a file this
command accepts is one `tahobuddy apply` gets through, and its messages are the API's
(`apps[0] (blog): rules[1].target.app: is required`). It is imported when the command runs: it needs
PyYAML and google-re2 (rule patterns are compiled as the API compiles them), not the API's frameworks.
"""
from __future__ import annotations

import argparse
import os
import sys

import yaml

from .client import ApiError, setting

HELP = "check a tahobuddy.yaml offline, with the same checks and messages as the API"
DESCRIPTION = HELP + """.

Every app of the file is checked as `tahobuddy apply` would send it, without an API, a token or a
network. Each refused app gets one line naming the field, like

    tahobuddy.yaml: apps[0] (blog): rules[1].target.app: is required

Pools are declared on the API's side (TAHOBUDDY_POOLS); a target's `pool:` is checked against
--pools, or TAHOBUDDY_POOLS, or `default` alone. Editors check the same file as you type through the
JSON Schema (schema/tahobuddy.schema.json) named in its first line.
Exit codes: 0 every app is valid, 1 an app is refused, 2 the file cannot be read or parsed."""


def add_command(sub, add) -> None:
    sp = add("validate", cmd_validate, HELP, description=DESCRIPTION,
             formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("-f", "--file", default="tahobuddy.yaml", help="the file to check (default: tahobuddy.yaml; "
                                                                   "'-' for stdin)")
    sp.add_argument("--pools", metavar="A,B", help="the pools the API declares (default: env TAHOBUDDY_POOLS, "
                                                   "else 'default')")


def cmd_validate(args) -> int:
    with open(args.file) if args.file != "-" else sys.stdin as fh:
        doc = yaml.safe_load(fh)
    pools = setting("TAHOBUDDY_POOLS", args.pools)
    if pools:  # the functions read their declared pools from this variable: the validator is theirs
        os.environ["TAHOBUDDY_POOLS"] = pools
    try:
        from functions.config import settings
        from functions.domain import apps
    except ModuleNotFoundError as exc:
        raise ApiError(f"validate runs the API's checks and needs {exc.name}: pip install 'tahobuddy[api]'") from exc
    settings.cache_clear()
    problems = apps.validate_file(doc)
    for line in problems:
        print(f"{args.file}: {line}", file=sys.stderr)
    if problems:
        return 1
    count = len(doc["apps"])
    print(f"{args.file}: {count} app{'s' if count != 1 else ''} valid")
    return 0
