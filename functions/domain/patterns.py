"""Rule patterns (regexes and globs), compiled for RE2 so matching takes linear time.

Tag names come from anyone who can push, and patterns from users: with a
backtracking engine `(a+)+b` against forty `a`s and a `c` runs for minutes and
wedges the API. RE2 matches in time linear in the ref's length, and refuses at
compile time what it cannot do that way (backreferences, lookaround), so a
rule is checked when it is saved. Globs are translated to RE2 here too, not by
`fnmatch` (which compiles with Python's `re`): one engine, one guarantee.
"""
from __future__ import annotations

import functools

import re2

from contract import paths

MAX_PATTERN = 1000          # characters; a longer pattern is refused when the app is saved
RE2_RULES = "RE2 syntax matches in linear time: no backreferences (\\1) and no lookaround ((?=, (?!, (?<=, (?<!)"


class PatternError(ValueError):
    """A pattern RE2 cannot run; the message says why in words a user can act on."""


def _options() -> re2.Options:
    opts = re2.Options()
    opts.log_errors = False     # a refused pattern is an answer to the user, not a line on stderr
    opts.dot_nl = True          # like fnmatch's (?s:...): '*' spans any character
    return opts


def compile_regex(regex: str):
    if len(regex) > MAX_PATTERN:
        raise PatternError(f"is {len(regex)} characters; the limit is {MAX_PATTERN}")
    try:
        return re2.compile(regex, _options())
    except re2.error as exc:
        why = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(f"cannot be used ({why}); {RE2_RULES}") from exc


def glob_to_re2(glob: str) -> str:
    """fnmatch's glob language (`*`, `?`, `[seq]`, `[!seq]`) as an RE2 pattern for a full match."""
    out, i, n = [], 0, len(glob)
    while i < n:
        c = glob[i]
        i += 1
        if c == "*":
            if not out or out[-1] != ".*":
                out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":  # a set; without its closing bracket a literal '[' (as fnmatch)
            cls, i = paths.bracket(glob, i, negated_excludes="")
            out.append(cls)
        else:
            out.append(re2.escape(c))
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def regex(pattern: str):
    """A compiled RE2 regex; raises PatternError."""
    return compile_regex(pattern)


@functools.lru_cache(maxsize=1024)
def glob(pattern: str):
    """A compiled RE2 form of a glob; raises PatternError."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"is {len(pattern)} characters; the limit is {MAX_PATTERN}")
    return compile_regex(glob_to_re2(pattern))


def matches(pattern: str, text: str, *, is_regex: bool) -> bool:
    """Full match of `text`; a pattern that cannot compile (stored before RE2) matches nothing."""
    try:
        compiled = regex(pattern) if is_regex else glob(pattern)
    except PatternError:
        return False
    return compiled.fullmatch(text) is not None
