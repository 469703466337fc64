"""Git ref names, SHAs and repository identities, as plain functions.

`valid_name` follows `git check-ref-format`: a name such as
`release-$(touch x)` is valid and is only ever passed as an argv element.
"""
from __future__ import annotations

import re

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def split(ref: str) -> tuple[str, str]:
    """'refs/heads/x' -> ('branch', 'x'); 'refs/tags/v1' -> ('tag', 'v1'); else ('', '')."""
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix) and len(ref) > len(prefix):
            return kind, ref[len(prefix):]
    return "", ""


def valid_sha(sha: str) -> bool:
    return bool(_SHA.match(sha or ""))


def valid_name(name: str) -> bool:
    """True when `name` (without refs/heads/ or refs/tags/) is a legal git ref name."""
    if not name or len(name) > 255 or name == "@" or _BAD_CHARS.search(name):
        return False
    if ".." in name or "@{" in name or "//" in name or name.startswith("-"):
        return False
    if name.endswith((".", "/", ".lock")) or name.startswith("/"):
        return False
    return not any(part.startswith(".") or part.endswith(".lock") for part in name.split("/"))


def repo_key(url_or_name: str) -> str:
    """A comparable identity of a repository: 'host/owner/name' in lower case.

    Accepts clone URLs (https, ssh, git@host:owner/name), web URLs, local
    paths and file:// URLs, and bare 'owner/name' (taken to be on github.com).
    """
    text = (url_or_name or "").strip()
    if not text:
        return ""
    text = re.sub(r"^[a-z+]+://", "", text, flags=re.I)
    text = re.sub(r"^[^@/]+@([^:/]+):", r"\1/", text)   # git@host:owner/name
    text = re.sub(r"^[^@/]+@", "", text)                  # user@host/...
    text = text.rstrip("/")
    if text.endswith(".git"):
        text = text[:-4]
    if text.startswith("api.github.com/repos/"):
        text = "github.com/" + text[len("api.github.com/repos/"):]
    if not text.startswith("/") and text.count("/") == 1:
        text = "github.com/" + text
    return text.lower()


def event_repo_keys(full_name: str, urls: tuple[str, ...]) -> set[str]:
    keys = {repo_key(u) for u in urls}
    if full_name:
        keys.add(repo_key(full_name))
    keys.discard("")
    return keys
