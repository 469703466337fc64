"""Which changed paths a rule's `paths` / `ignore_paths` count, on RE2 (linear time on any path).
The globs mean what contract/paths.py translates them to, on the API's side as on this one."""
from __future__ import annotations

import functools

import re2

from contract.paths import PathPatternError, checked


@functools.lru_cache(maxsize=1024)
def compiled(glob: str):
    opts = re2.Options()
    opts.log_errors = False
    opts.dot_nl = True
    try:
        return re2.compile(checked(glob), opts)
    except re2.error as exc:
        raise PathPatternError(f"cannot be used ({exc})") from exc


def watched(path: str, paths: list | tuple, ignore_paths: list | tuple) -> bool:
    """Whether a change to `path` counts: it matches one of `paths` (every path when there are none)
    and none of `ignore_paths`."""
    if paths and not any(compiled(p).fullmatch(path) for p in paths):
        return False
    return not any(compiled(p).fullmatch(path) for p in ignore_paths)


def any_watched(changed: list[str], paths: list | tuple, ignore_paths: list | tuple) -> list[str]:
    """The changed paths that count (empty: no watched path changed)."""
    return [p for p in changed if watched(p, paths, ignore_paths)]
