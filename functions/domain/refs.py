"""Git ref names, SHAs and repository identities, as plain functions.

`valid_name` follows `git check-ref-format`: a name such as
`release-$(touch x)` is valid and is only ever passed as an argv element.
A name is also at most MAX_NAME_BYTES long: git allows far more, but a
longer name is refused before any rule pattern looks at it.
"""
from __future__ import annotations

import re

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
OWNER_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")   # a GitHub repository as owner/name
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
MAX_NAME_BYTES = 255
GITHUB_API = "https://api.github.com"


def split(ref: str) -> tuple[str, str]:
    """'refs/heads/x' -> ('branch', 'x'); 'refs/tags/v1' -> ('tag', 'v1'); else ('', '')."""
    for prefix, ref_type in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix) and len(ref) > len(prefix):
            return ref_type, ref[len(prefix):]
    return "", ""


def valid_sha(sha: str) -> bool:
    return bool(_SHA.match(sha or ""))


def valid_name(name: str) -> bool:
    """True when `name` (without refs/heads/ or refs/tags/) is a legal git ref name."""
    if not name or too_long(name) or name == "@" or _BAD_CHARS.search(name):
        return False
    if ".." in name or "@{" in name or "//" in name or name.startswith("-"):
        return False
    if name.endswith((".", "/", ".lock")) or name.startswith("/"):
        return False
    return not any(part.startswith(".") or part.endswith(".lock") for part in name.split("/"))


def too_long(name: str) -> bool:
    return len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES


def shown(ref: str, limit: int = 80) -> str:
    """A ref as quoted in a reason: cut short, so a huge ref never fills a stored event."""
    return repr(ref if len(ref) <= limit else ref[:limit] + "...")


def name_problem(name: str) -> str:
    """Why `name` cannot be deployed, in words for the event's reason; "" when it is fine."""
    if isinstance(name, str) and too_long(name):
        return f"ref name is {len(name.encode('utf-8', 'surrogatepass'))} bytes; the limit is {MAX_NAME_BYTES}"
    return "" if isinstance(name, str) and valid_name(name) else "not a valid git ref name"


def repo_key(url_or_name: str) -> str:
    """A comparable identity of a repository: 'host/owner/name' in lower case.

    Accepts clone URLs (https, ssh, git@host:owner/name), web URLs, local
    paths and file:// URLs, and bare 'owner/name' (taken to be on github.com).
    Every level of a nested path is kept: GitLab's 'host/group/sub/name'.
    """
    text = (url_or_name or "").strip()
    if not text:
        return ""
    text, schemes = re.subn(r"^[a-z+]+://", "", text, flags=re.I)
    if not schemes:                                       # scp-like git@host:owner/name; not ssh://git@host:2222/
        text = re.sub(r"^[^@/]+@([^:/]+):", r"\1/", text)
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


def web_host(api_url: str) -> str:
    """The host in clone URLs of repositories a GitHub API serves: github.com for https://api.github.com
    (and for none), a GitHub Enterprise Server's own host for https://HOST/api/v3."""
    host = (api_url or GITHUB_API).split("://", 1)[-1].split("/", 1)[0]
    return "github.com" if host == "api.github.com" else host
