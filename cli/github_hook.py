"""`tahobuddy hook install|deliveries|redeliver`: set up a repository's webhook and repair lost
deliveries (GitHub never retries a failed one by itself). Talks to GitHub's REST API with the same
credentials the functions report with (functions/notify/github.py); needs `administration:write`.
"""
from __future__ import annotations

import urllib.parse

from functions.notify import github

EVENTS = ["push", "create", "delete", "pull_request"]


def hook_config(url: str, secret: str) -> dict:
    return {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"}


def find_hook(client: github.Client, repo: str, url: str) -> dict | None:
    hooks = client.call(repo, ("GET", f"/repos/{repo}/hooks?per_page=100", None))
    return next((h for h in hooks if h.get("config", {}).get("url") == url), None)


def install(client: github.Client, repo: str, url: str, secret: str) -> tuple[dict, bool]:
    """Create the webhook, or update the one that already points at `url`: (hook, created)."""
    existing = find_hook(client, repo, url)
    body = {"config": hook_config(url, secret), "events": EVENTS, "active": True}
    if existing:
        return client.call(repo, ("PATCH", f"/repos/{repo}/hooks/{existing['id']}", body)), False
    return client.call(repo, ("POST", f"/repos/{repo}/hooks", {"name": "web", **body})), True


def _hook_id(client: github.Client, repo: str, url: str, hook_id: int | None) -> int:
    if hook_id:
        return hook_id
    hook = find_hook(client, repo, url)
    if hook is None:
        raise github.GitHubError(f"{repo} has no webhook to {url}: run `tahobuddy hook install --repo {repo}` "
                                 "or pass --hook-id", retry=False)
    return int(hook["id"])


def deliveries(client: github.Client, repo: str, url: str, hook_id: int | None = None, limit: int = 30) -> list[dict]:
    hid = _hook_id(client, repo, url, hook_id)
    query = urllib.parse.urlencode({"per_page": limit})
    return client.call(repo, ("GET", f"/repos/{repo}/hooks/{hid}/deliveries?{query}", None))


def failed(rows: list[dict]) -> list[dict]:
    """Deliveries that failed and were not delivered since (GitHub keeps one guid across redeliveries)."""
    ok = {d["guid"] for d in rows if 200 <= (d.get("status_code") or 0) < 300}
    seen, out = set(), []
    for d in rows:
        if d["guid"] in ok or d["guid"] in seen:
            continue
        seen.add(d["guid"])
        out.append(d)
    return out


def redeliver(client: github.Client, repo: str, url: str, hook_id: int | None = None,
              delivery_ids: list[int] | None = None) -> list[int]:
    """Ask GitHub to send again the given deliveries, or every failed one; returns their ids."""
    hid = _hook_id(client, repo, url, hook_id)
    ids = delivery_ids or [d["id"] for d in failed(deliveries(client, repo, url, hid, 100))]
    for did in ids:
        client.call(repo, ("POST", f"/repos/{repo}/hooks/{hid}/deliveries/{did}/attempts", None))
    return ids
