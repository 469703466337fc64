"""`secret:NAME` values in a target block, resolved by the agent (never by the API)."""
from __future__ import annotations

from typing import Callable

from contract.wire import SECRET_REF  # the same rule the API checks when an app is saved


def resolve(value, lookup: Callable[[str], str]):
    """`value` with every `secret:NAME` string replaced by lookup(NAME), in maps and lists too."""
    if isinstance(value, str):
        m = SECRET_REF.match(value)
        return lookup(m.group(1)) if m else value
    if isinstance(value, dict):
        return {k: resolve(v, lookup) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, lookup) for v in value]
    return value
