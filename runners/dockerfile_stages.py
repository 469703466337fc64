"""Which stages of a multi-stage Dockerfile the final stage is built from (pure: a Dockerfile's text in).

BuildKit's inline cache (the only cache export of Docker 20.10's built-in BuildKit) holds the layers of the
image it is embedded in: the final stage's. A fresh agent that reads it still has to build every earlier
stage whose output a changed final step copies. So the agent builds those stages as their own cache images
(runners/build_cache.py), and this module says which: the stages the last one needs through `FROM <stage>`,
`COPY --from=<stage or index>` or `RUN --mount=...,from=<stage or index>`, however deep. A stage nothing needs
(a test stage, say) is left out: building it would run work the deploy never runs. A needed stage without a
name (`COPY --from=0`) cannot be built alone (`docker build --target` takes a name), so it is reported apart.
A reference through a build argument (`COPY --from=$STAGE`) cannot be read here and is taken as an image.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field

from .cache_mounts import escape_char

_WORD = re.compile(r"\S+")


@dataclass
class Stage:
    index: int
    name: str                          # lower case, as BuildKit compares them; "" when it has none
    needs: set[int] = field(default_factory=set)


def instructions(dockerfile: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined and comments left out."""
    escape = escape_char(dockerfile)
    out, current = [], ""
    for line in dockerfile.split("\n"):
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and current):
            continue  # a comment (or a parser directive), also inside a continued instruction
        if stripped.endswith(escape):
            current += stripped[:-1].rstrip() + " "
            continue
        current += stripped
        if current.strip():
            out.append(current.strip())
        current = ""
    if current.strip():
        out.append(current.strip())
    return out


def stages(dockerfile: str) -> list[Stage]:
    """Every stage in order, with the earlier stages each one needs."""
    found: list[Stage] = []
    for text in instructions(dockerfile):
        words = _WORD.findall(text)
        keyword = words[0].upper()
        if keyword == "FROM":
            args = [w for w in words[1:] if not w.startswith("--")]
            name = args[2].lower() if len(args) >= 3 and args[1].lower() == "as" else ""
            stage = Stage(len(found), name)
            base = _stage(found, args[0]) if args else None
            if base is not None:
                stage.needs.add(base)
            found.append(stage)
        elif found and keyword in ("COPY", "ADD", "RUN"):
            for ref in _references(words[1:]):
                index = _stage(found, ref)
                if index is not None:
                    found[-1].needs.add(index)
    return found


def needed(dockerfile: str) -> tuple[list[str], list[int]]:
    """The named stages the final stage is built from, in the Dockerfile's order, and the indexes of those
    without a name. A Dockerfile of one stage needs none."""
    found = stages(dockerfile)
    if len(found) < 2:
        return [], []
    seen, todo = set(), list(found[-1].needs)
    while todo:
        index = todo.pop()
        if index not in seen:
            seen.add(index)
            todo += found[index].needs
    named = [found[i].name for i in sorted(seen) if found[i].name]
    return named, [i for i in sorted(seen) if not found[i].name]


def _references(words: list[str]) -> list[str]:
    """The stages or images an instruction's flags copy or mount from."""
    out = []
    for word in words:
        if not word.startswith("--"):
            break  # the flags end where the arguments begin
        flag, _, value = word[2:].partition("=")
        if flag.lower() == "from":
            out.append(value)
        elif flag.lower() == "mount":
            for item in next(csv.reader([value]), []):
                key, _, found = item.partition("=")
                if key.lower() == "from":
                    out.append(found)
    return out


def _stage(found: list[Stage], ref: str) -> int | None:
    """The index of the earlier stage `ref` names (by name or number), or None: an image."""
    if ref.isdigit():
        return int(ref) if int(ref) < len(found) else None
    return next((s.index for s in reversed(found) if s.name and s.name == ref.lower()), None)
