"""BuildKit cache mounts, kept apart by trust level (pure: a Dockerfile's text in, its text out).

Every build on one Docker Engine shares BuildKit's cache mounts by id (`RUN --mount=type=cache,id=ID`;
without an id, the target path is the id). A preview builds a pull request's Dockerfile: it could
write into `/root/.cache/pip` what the next production build installs (cache poisoning). So before a
BuildKit build the agent gives every cache mount the id `NAMESPACE:ID`: `preview:...` for previews,
`production:...` for every other build. A preview's Dockerfile cannot name a production cache (its ids
are prefixed too), and caches still carry over between builds of the same trust level.
"""
from __future__ import annotations

import csv
import io
import re

from .base import JobSpec

PREVIEW, PRODUCTION = "preview", "production"
_DIRECTIVE = re.compile(r"^#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$")
_RUN = re.compile(r"^\s*RUN(?=\s|$)", re.IGNORECASE)


def namespace(spec: JobSpec) -> str:
    return PREVIEW if spec.preview else PRODUCTION


def namespaced(dockerfile: str, space: str) -> str:
    """`dockerfile` with each `RUN --mount=type=cache` flag. Other flags, other
    mount types and the commands themselves are left as written."""
    escape = escape_char(dockerfile)
    out, continuing, in_flags = [], False, False
    for line in dockerfile.split("\n"):
        start = 0
        if not continuing:
            run = _RUN.match(line)
            in_flags, start = bool(run), run.end() if run else 0
        elif line.lstrip().startswith("#"):  # a comment inside a continued instruction: Docker skips it
            out.append(line)
            continue
        if in_flags:
            line, in_flags = _flags(line, start, escape, space)
        continuing = line.rstrip().endswith(escape) and not (not continuing and line.lstrip().startswith("#"))
        out.append(line)
    return "\n".join(out)


def escape_char(dockerfile: str) -> str:
    """The escape character (`# escape=` parser directive at the top), `\\` by default."""
    for line in dockerfile.split("\n"):
        m = _DIRECTIVE.match(line.strip())
        if not m:
            break
        if m.group(1).lower() == "escape" and m.group(2) in ("`", "\\"):
            return m.group(2)
    return "\\"


def _flags(line: str, pos: int, escape: str, space: str) -> tuple[str, bool]:
    """Rewrite the --mount flags of a RUN from `pos`; True when the flags go on on the next line."""
    while True:
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        rest = line[pos:].rstrip()
        if rest == escape or rest == "":
            return line, True  # the line ends inside the flags (continued), or the RUN has no command yet
        if not line.startswith("--", pos):
            return line, False  # the command starts here
        end = pos
        while end < len(line) and line[end] not in " \t":
            end += 1
        token = line[pos:end]
        if token.lower().startswith("--mount="):
            token = "--mount=" + mount(token[len("--mount="):], space)
            line = line[:pos] + token + line[end:]
            end = pos + len(token)
        pos = end


def mount(value: str, space: str) -> str:
    """One --mount value (comma-separated key=value) with a cache mount's id under `space:`."""
    fields = next(csv.reader([value]), [])
    pairs = [f.split("=", 1) if "=" in f else [f, None] for f in fields]
    keys = {k.lower(): v for k, v in pairs}
    if (keys.get("type") or "").lower() != "cache":
        return value
    own = keys.get("id") or keys.get("target") or keys.get("dst") or keys.get("destination")
    if not own:
        return value  # BuildKit refuses a cache mount without a target itself
    kept = [[k, v] for k, v in pairs if k.lower() != "id"] + [["id", f"{space}:{own}"]]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([k if v is None else f"{k}={v}" for k, v in kept])
    return buf.getvalue()
