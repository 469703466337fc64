"""`tahobuddy hook send`: a correctly signed GitHub-format delivery, for trying rules."""
from __future__ import annotations

import json
import subprocess
import uuid

import requests

from functions.domain import refs
from functions.providers.base import ZERO_SHA
from functions.providers.github import sign


def resolve_sha(repository: str, ref: str) -> str:
    """The commit `ref` points at in `repository`, asked of git itself (argv, never a shell)."""
    out = subprocess.run(["git", "ls-remote", "--", repository, ref, ref + "^{}"], capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        raise ValueError(f"git ls-remote {repository} failed: {out.stderr.strip()[:300]}")
    rows = [line.split("\t") for line in out.stdout.splitlines() if "\t" in line]
    peeled = [sha for sha, name in rows if name.endswith("^{}")]
    direct = [sha for sha, name in rows if name == ref]
    if not (peeled or direct):
        raise ValueError(f"{ref} not found in {repository}; pass --sha")
    return (peeled or direct)[0]


def full_ref(ref: str, ref_type: str) -> str:
    if ref.startswith("refs/"):
        return ref
    return f"refs/{'tags' if ref_type == 'tag' else 'heads'}/{ref}"


def push_payload(repository: str, ref: str, sha: str, created: bool = True) -> dict:
    """A push payload with the fields GitHub sends (see @octokit/webhooks-examples)."""
    key = refs.repo_key(repository)
    full_name = "/".join(key.split("/")[-2:]) if key.count("/") >= 1 else key
    owner, name = (full_name.split("/") + [""])[:2]
    return {
        "ref": ref, "before": ZERO_SHA if created else sha, "after": sha,
        "created": created, "deleted": False, "forced": False, "base_ref": None,
        "compare": f"https://github.com/{full_name}/compare/{sha[:12]}", "commits": [], "head_commit": None,
        "repository": {"name": name, "full_name": full_name, "private": False, "owner": {"login": owner, "name": owner},
                       "clone_url": repository, "html_url": f"https://github.com/{full_name}",
                       "default_branch": "main"},
        "pusher": {"name": "tahobuddy-cli", "email": None}, "sender": {"login": "tahobuddy-cli"},
    }


def send(api_url: str, secret: str, event_type: str, payload: dict, hook_id: str = "tahobuddy-cli",
         delivery: str | None = None, timeout: float = 30.0) -> requests.Response:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/tahobuddy-cli",
               "X-GitHub-Event": event_type, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "X-GitHub-Hook-ID": hook_id, "X-Hub-Signature-256": sign(secret, body)}
    return requests.post(f"{api_url.rstrip('/')}/api/v1/hooks/github", data=body, headers=headers, timeout=timeout)
