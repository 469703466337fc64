"""A repository's webhook: set it up, list its deliveries, and redeliver failed ones (GitHub never
retries a failed delivery by itself). Used by `tahobuddy hook install|deliveries|redeliver` and,
opt-in, by the sweep (TAHOBUDDY_REDELIVER_REPOS). Same credentials as the reports; needs
`administration:write`.
"""
from __future__ import annotations

import calendar
import os
import time
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


def failed(rows: list[dict], max_tries: int | None = None, since: float | None = None) -> list[dict]:
    """Deliveries that failed and were not delivered since (GitHub keeps one guid across redeliveries);
    with `max_tries`, not those tried that often already; with `since` (epoch), only newer ones."""
    ok = {d["guid"] for d in rows if 200 <= (d.get("status_code") or 0) < 300}
    tries: dict[str, int] = {}
    for d in rows:
        tries[d["guid"]] = tries.get(d["guid"], 0) + 1
    seen, out = set(), []
    for d in rows:
        if d["guid"] in ok or d["guid"] in seen:
            continue
        seen.add(d["guid"])
        if max_tries is not None and tries[d["guid"]] >= max_tries:
            continue
        if since is not None and calendar.timegm(time.strptime(d["delivered_at"][:19], "%Y-%m-%dT%H:%M:%S")) < since:
            continue
        out.append(d)
    return out


def redeliver(client: github.Client, repo: str, url: str, hook_id: int | None = None,
              delivery_ids: list[int] | None = None, **limits) -> list[int]:
    """Ask GitHub to send again the given deliveries, or every failed one; returns their ids."""
    hid = _hook_id(client, repo, url, hook_id)
    ids = delivery_ids or [d["id"] for d in failed(deliveries(client, repo, url, hid, 100), **limits)]
    for did in ids:
        client.call(repo, ("POST", f"/repos/{repo}/hooks/{hid}/deliveries/{did}/attempts", None))
    return ids


SWEEP_MAX_TRIES = 3           # a delivery the sweep has redelivered twice and that still fails is left alone
SWEEP_WINDOW = 24 * 3600      # and so is one older than a day


def sweep() -> dict:
    """Opt-in: redeliver failed deliveries of the repositories in TAHOBUDDY_REDELIVER_REPOS to this API's
    webhook URL (TAHOBUDDY_PUBLIC_URL + /api/v1/hooks/github). Errors are counted, never raised: the
    sweep has other work."""
    repos = [r.strip() for r in os.environ.get("TAHOBUDDY_REDELIVER_REPOS", "").split(",") if r.strip()]
    client, public = github.client(), os.environ.get("TAHOBUDDY_PUBLIC_URL", "").rstrip("/")
    out: dict = {}  # empty when there was nothing to do, so `make run` prints nothing
    if not repos or client is None or not public:
        return out
    for repo in repos:
        try:
            ids = redeliver(client, repo, f"{public}/api/v1/hooks/github", max_tries=SWEEP_MAX_TRIES,
                            since=time.time() - SWEEP_WINDOW)
            if ids:
                out["redelivered"] = out.get("redelivered", 0) + len(ids)
        except github.GitHubError as exc:
            out.setdefault("errors", []).append(f"{repo}: {exc}"[:300])
    return out
