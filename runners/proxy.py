"""Caddy, through its admin API: the agent owns the routes of one server.

Routes are plain values built by `route()`; `Caddy.apply()` writes the whole
list at once (a graceful config change: requests in flight finish on the old
upstream), and the agent re-applies them from routes.json when it starts, so
a restarted Caddy serves again.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import requests


def route(app: dict, upstream: str) -> dict:
    match: dict = {}
    if app.get("hostname"):
        match["host"] = [app["hostname"]]
    prefix = (app.get("path_prefix") or "/").rstrip("/")
    if prefix:
        match["path"] = [prefix, prefix + "/*"]
    return {"@id": f"tahobuddy-{app['name']}", "match": [match] if match else [],
            "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": upstream}]}], "terminal": True}


def order(routes: list[dict]) -> list[dict]:
    """Most specific first: a host beats no host, a longer path prefix beats a shorter one."""
    def key(r):
        m = (r.get("match") or [{}])[0]
        return (0 if m.get("host") else 1, -max((len(p) for p in m.get("path", [])), default=0), r["@id"])
    return sorted(routes, key=key)


def server(listen: list[str], https: bool) -> dict:
    srv = {"listen": list(listen), "routes": []}
    if not https:
        srv["automatic_https"] = {"disable": True}
    return srv


class ProxyError(Exception):
    pass


class Caddy:
    def __init__(self, admin_url: str, server_name: str, state: Path):
        self.admin, self.server, self.state = admin_url.rstrip("/"), server_name, state
        self.lock = threading.Lock()

    def _call(self, method: str, path: str, body=None) -> requests.Response:
        try:
            r = requests.request(method, self.admin + path, json=body, timeout=15)
        except requests.RequestException as exc:
            raise ProxyError(f"Caddy admin API at {self.admin} did not answer: {exc}") from exc
        if r.status_code >= 400:
            raise ProxyError(f"Caddy refused {method} {path}: {r.status_code} {r.text[:300]}")
        return r

    def ensure_server(self, listen: list[str], https: bool) -> None:
        config = self._call("GET", "/config/").json() or {}
        servers = config.setdefault("apps", {}).setdefault("http", {}).setdefault("servers", {})
        if self.server not in servers:
            servers[self.server] = server(listen, https)
            self._call("POST", "/load", config)

    def routes(self) -> dict[str, dict]:
        return json.loads(self.state.read_text()) if self.state.is_file() else {}

    def apply(self, changes: dict[str, dict | None] | None = None) -> None:
        """Set (or with None, drop) app routes, then write the whole list to Caddy."""
        with self.lock:
            current = self.routes()
            for app, r in (changes or {}).items():
                if r is None:
                    current.pop(app, None)
                else:
                    current[app] = r
            self._call("PATCH", f"/config/apps/http/servers/{self.server}/routes", order(list(current.values())))
            self.state.parent.mkdir(parents=True, exist_ok=True)
            self.state.write_text(json.dumps(current, indent=2))

    def upstream(self, app: str) -> str | None:
        r = self.routes().get(app)
        return r["handle"][0]["upstreams"][0]["dial"] if r else None
