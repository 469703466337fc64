"""A rule's path filter (`paths`, `ignore_paths`): globs on repository paths, run on RE2.

The API checks the globs when an app is saved; the agent matches them against
`git diff --name-only` in its mirror (agent/path_filter.py). Both use this one translation, so a
glob means the same on either side; each side runs the pattern on RE2 (google-re2, which both
install), which matches a path of any length in linear time. This module, like all of contract/,
needs only the standard library.

The glob language (GitHub Actions' `paths`): `*` is any run of characters but `/`, `?` one
such character, `[seq]`/`[!seq]` a set, and `**` any run of characters including `/`
(`**/` also matches nothing, so `api/**/x` matches `api/x`). A pattern matches the whole path
from the repository's root; a pattern ending in `/` matches everything below it.
"""
from __future__ import annotations

MAX_PATTERN = 1000


class PathPatternError(ValueError):
    """A glob that cannot be used; the message says why."""


def _escape(c: str) -> str:
    return "\\" + c if not (c.isalnum() or c == "_" or ord(c) > 127) else c


def bracket(glob: str, i: int, *, negated_excludes: str = "/") -> tuple[str, int]:
    """The set starting after the `[` at i-1: (RE2 class, index after its `]`); a literal `[` without
    one. A negated set (`[!...]`) never matches `negated_excludes` (here: a set stays in its directory;
    fnmatch's language, functions/domain/patterns.py, passes "")."""
    j = i + (i < len(glob) and glob[i] == "!")
    j += j < len(glob) and glob[j] == "]"
    while j < len(glob) and glob[j] != "]":
        j += 1
    if j >= len(glob):
        return "\\[", i
    inside = glob[i:j]
    negate = inside.startswith("!")
    body, parts, k = inside[negate:], [], 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            parts.append(f"{_escape(body[k])}-{_escape(body[k + 2])}")
            k += 3
        else:
            parts.append(_escape(body[k]))
            k += 1
    return "[" + (f"^{negated_excludes}" if negate else "") + "".join(parts) + "]", j + 1


def to_regex(glob: str) -> str:
    """The glob as an RE2 pattern for a full match of a repository path."""
    if glob.endswith("/"):
        glob += "**"
    out, i, n = [], 0, len(glob)
    while i < n:
        c = glob[i]
        i += 1
        if c == "*" and i < n and glob[i] == "*":
            while i < n and glob[i] == "*":
                i += 1
            if i < n and glob[i] == "/":          # `**/`: any directories, or none
                out.append("(?:.*/)?")
                i += 1
            else:
                out.append(".*")
        elif c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            part, i = bracket(glob, i)
            out.append(part)
        else:
            out.append(_escape(c))
    return "".join(out)


def checked(glob: str) -> str:
    """The RE2 pattern of a glob, or PathPatternError when the glob cannot be one."""
    if not isinstance(glob, str) or not glob or len(glob) > MAX_PATTERN:
        raise PathPatternError(f"must be a glob of 1 to {MAX_PATTERN} characters")
    if glob.startswith("/"):
        raise PathPatternError("is matched from the repository's root: write it without the leading '/'")
    return to_regex(glob)


def filtered(rule: dict) -> bool:
    return bool(rule.get("paths") or rule.get("ignore_paths"))
