"""A small declarative field checker shared by apps, rules and targets.

Every error names the exact field path (`rules[1].target.app`) so a user can
find it in their tahobuddy.yaml. The same declarations make the OpenAPI
schemas, the JSON Schema of tahobuddy.yaml (`schema.py`) and the configuration
reference pages (docs/gen.py): a limit, default, example or sentence written
here is what all of them say.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from contract.wire import BUILD_SECRET_ID, SECRET_REF  # one rule each: checked here, used by the agent

from functions.errors import InvalidInput

MEMORY = re.compile(r"^([0-9]+)([bkmg]?)$")
MEMORY_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
MIN_MEMORY = 6 * 1024 ** 2  # Docker refuses a container memory limit below 6 MB
MIN_CPUS = 0.01             # and a CPU limit below a hundredth of a CPU
VOLUME_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")  # part of a Docker volume name (tahobuddy-APP-vol-NAME)
VOLUME_PATH = re.compile(r"^/[^:]*[^:/][^:]*$")            # an absolute path in the container, no ':' (docker -v)


def memory_bytes(text: str) -> int:
    """`64m` -> 67108864: Docker's units (b, k, m, g; powers of 1024); -1 when it is not a size."""
    m = MEMORY.match(text.strip().lower())
    return int(m.group(1)) * MEMORY_UNITS[m.group(2)] if m else -1


SCALAR = (str, int, float, bool)  # what a `map` value may be (YAML's scalars; each becomes a string)


@dataclass(frozen=True)
class Field:
    name: str
    type_: str                     # str | int | bool | map | secret_map | list | argv | argv_list | cpus | memory
                                   # | volumes (volume name -> absolute path in the container)
                                   # | block (a mapping its owner checks with fields of its own)
                                   # | blocks (a list of such mappings)
    required: bool = False
    secret: bool = False           # must be a `secret:NAME` reference, never a value
    choices: tuple = ()
    default: Any = None
    doc: str = ""                  # one sentence for the reference, the schema's description and editors
    examples: tuple = ()           # values as a user writes them in tahobuddy.yaml
    minimum: int | None = None     # int fields: the smallest and largest value accepted
    maximum: int | None = None
    pattern: str = ""              # str fields: a regex the value must contain a match of (anchor it)
    hint: str = ""                 # the message when a limit or the pattern refuses the value


def _check_type(path: str, f: Field, value: Any) -> Any:
    if f.type_ == "str":
        if not isinstance(value, str) or not value:
            raise InvalidInput(path, "must be a non-empty string")
    elif f.type_ == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(path, "must be a whole number >= 0")
    elif f.type_ == "bool":
        if not isinstance(value, bool):
            raise InvalidInput(path, "must be true or false")
    elif f.type_ == "map":
        if (not isinstance(value, dict) or not all(isinstance(k, str) for k in value)
                or not all(isinstance(v, SCALAR) for v in value.values())):
            raise InvalidInput(path, "must be a mapping of names to values (strings, numbers or true/false)")
        return {k: str(v) for k, v in value.items()}
    elif f.type_ == "block":
        if not isinstance(value, dict):
            raise InvalidInput(path, "must be a mapping")
    elif f.type_ == "blocks":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise InvalidInput(path, "must be a list of mappings")
    elif f.type_ == "secret_map":
        if not isinstance(value, dict) or not value:
            raise InvalidInput(path, "must map ids to secrets, like {token: secret:NPM_TOKEN}")
        for k, v in value.items():
            if not isinstance(k, str) or not BUILD_SECRET_ID.match(k):
                raise InvalidInput(f"{path}.{k}", "the id must be 1-64 of A-Z a-z 0-9 _ . -")
            if not isinstance(v, str) or not SECRET_REF.match(v):
                raise InvalidInput(f"{path}.{k}", "must name a secret, like secret:NPM_TOKEN (values are never stored)")
        return dict(value)
    elif f.type_ == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(path, "must be a list of strings")
    elif f.type_ == "argv":
        if not isinstance(value, list) or not value or not all(isinstance(a, str) and a for a in value):
            raise InvalidInput(path, 'must be an argv list like ["./manage.py", "migrate"]; never a shell string')
    elif f.type_ == "volumes":
        if not isinstance(value, dict):
            raise InvalidInput(path, "must map volume names to paths in the container, like {data: /var/lib/app}")
        for k, v in value.items():
            if not isinstance(k, str) or not VOLUME_NAME.match(k):
                raise InvalidInput(f"{path}.{k}", "the name must be 1-40 of a-z 0-9 _ . - (starting with a letter "
                                                  "or digit)")
            if not isinstance(v, str) or not VOLUME_PATH.match(v):
                raise InvalidInput(f"{path}.{k}", "must be an absolute path in the container (not /, no ':')")
        return dict(value)
    elif f.type_ == "argv_list":
        if (not isinstance(value, list) or not value
                or not all(isinstance(c, list) and c and all(isinstance(a, str) for a in c) for c in value)):
            raise InvalidInput(path, 'must be a list of commands, each an argv list like ["make", "deploy"]')
    elif f.type_ == "cpus":
        try:
            number = float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else 0.0
        except ValueError:
            number = 0.0
        if not (math.isfinite(number) and number >= MIN_CPUS):
            raise InvalidInput(path, f'must be a number of CPUs >= {MIN_CPUS}, like 0.5 or "2"')
        return str(value)
    elif f.type_ == "memory":
        if not isinstance(value, str) or memory_bytes(value) < MIN_MEMORY:
            raise InvalidInput(path, 'must be a size like "256m" or "1g" (units b, k, m, g), at least 6m '
                                     "(Docker's minimum)")
        return value.strip().lower()
    _check_limits(path, f, value)
    if f.choices and value not in f.choices:
        raise InvalidInput(path, f"must be one of {', '.join(map(str, f.choices))}")
    if f.secret and not SECRET_REF.match(value):
        raise InvalidInput(path, "must name a secret, like secret:HEROKU_API_KEY (values are never stored)")
    return value


def _check_limits(path: str, f: Field, value: Any) -> None:
    low, high = f.minimum, f.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        default = (f"must be between {low} and {high}" if low is not None and high is not None
                   else f"must be at least {low}" if low is not None else f"at most {high}")
        raise InvalidInput(path, f.hint or default)
    if f.pattern and not re.search(f.pattern, value):
        raise InvalidInput(path, f.hint or f"must match {f.pattern}")


def check(path: str, doc: Any, fields: tuple[Field, ...], allow_extra: tuple[str, ...] = ()) -> dict:
    """Validate `doc` against `fields`; return a clean dict with defaults filled in."""
    if not isinstance(doc, dict):
        raise InvalidInput(path, "must be a mapping")
    known = {f.name for f in fields} | set(allow_extra)
    unknown = sorted(set(doc) - known)
    if unknown:
        raise InvalidInput(f"{path}.{unknown[0]}" if path else unknown[0],
                           f"unknown field (known: {', '.join(sorted(known))})")
    out = {k: doc[k] for k in allow_extra if k in doc}
    for f in fields:
        sub = f"{path}.{f.name}" if path else f.name
        if doc.get(f.name) is None:
            if f.required:
                raise InvalidInput(sub, "is required")
            if f.default is not None:
                out[f.name] = f.default
            continue
        out[f.name] = _check_type(sub, f, doc[f.name])
    return out

