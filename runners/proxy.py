"""Caddy, through its admin API: the agent owns the routes of one server.

Routes are plain values built by `route()`; `Caddy.apply()` writes the whole
list at once (a graceful config change: requests in flight finish on the old
upstream), and the agent re-applies them from routes.json when it starts, so
a restarted Caddy serves again. Caddy started from its own config file forgets routes written
through the admin API when it restarts; so while the agent runs, `watch()` compares Caddy's routes
with routes.json every few seconds and puts them back, and a swap that meets Caddy restarting waits
for it (RESTART_WAIT) and re-creates the server before writing the routes.

Each change reloads Caddy's whole config: it opens new listening sockets and shuts the old server down
gracefully. Two things follow at a swap. Connections queued on the old socket are reset by Linux unless
net.ipv4.tcp_migrate_req is 1, which the agent sets at start when Caddy is on its host
(`keep_queued_connections`). And the old server closes its idle keep-alive connections (Go's graceful
shutdown): a client that sends on one at that instant sees it closed before any answer, which HTTP lets
it retry (RFC 9112 9.3.1), as browsers do.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

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


RESTART_WAIT = 30.0   # seconds a swap waits for a restarting Caddy before the job fails

# Every config change (a swap's route switch) makes Caddy (2.6 on Linux) open a new listening socket
# with SO_REUSEPORT and close the old one. Linux resets the connections that arrived on the old socket
# and were not yet accepted (ECONNRESET at the client: a failed request in the swap), unless
# net.ipv4.tcp_migrate_req is 1 (Linux 5.14+): then the kernel hands them to the new socket.
MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")
MIGRATE_FIX = "sysctl -w net.ipv4.tcp_migrate_req=1 (and keep it in /etc/sysctl.d/)"


def migrate_verdict(value: str | None, wrote: bool, error: str = "") -> str:
    """What the agent says of net.ipv4.tcp_migrate_req at start, from what it read (None: no such
    setting) and whether it set it; "" when there is nothing to say."""
    if value is None:
        return ("proxy: this kernel has no net.ipv4.tcp_migrate_req (Linux < 5.14): a route switch may reset "
                "a connection Caddy had not yet accepted")
    if value.strip() == "1":
        return "proxy: net.ipv4.tcp_migrate_req was 0; set to 1, so a route switch resets no queued connection" \
            if wrote else ""
    return (f"proxy: net.ipv4.tcp_migrate_req is {value.strip()} and could not be set ({error}): a route switch "
            f"may reset a connection Caddy had not yet accepted; fix: {MIGRATE_FIX}")


def on_this_host(admin_url: str) -> bool:
    """Whether Caddy's admin API is on loopback: Caddy then listens in this host's network namespace, the
    one whose net.ipv4.* settings the agent can see and set."""
    host = (urlsplit(admin_url).hostname or "").lower()
    return host == "localhost" or host == "::1" or host.startswith("127.")


def keep_queued_connections(say, path: Path = MIGRATE_REQ) -> None:
    """Make the kernel hand the connections queued on Caddy's old listening socket to the new one at
    every config change, instead of resetting them (see MIGRATE_REQ); say so when it cannot."""
    try:
        value = path.read_text()
    except OSError:
        say(migrate_verdict(None, False))
        return
    wrote, error = False, ""
    if value.strip() != "1":
        try:
            path.write_text("1\n")
            value, wrote = path.read_text(), True
        except OSError as exc:
            error = exc.strerror or exc.__class__.__name__
    said = migrate_verdict(value, wrote, error)
    if said:
        say(said)
WATCH_EVERY = 3.0     # seconds between checks that Caddy still has the agent's routes


_locks: dict[str, threading.RLock] = {}
_locks_lock = threading.Lock()


def _lock_for(state: Path) -> threading.RLock:
    """One lock per routes.json in this process, shared by every Caddy made for it (each job makes its own,
    the watch thread has one): a check and a write of the routes never interleave with a swap's."""
    with _locks_lock:
        return _locks.setdefault(str(Path(state).resolve()), threading.RLock())


class Caddy:
    def __init__(self, admin_url: str, server_name: str, state: Path, listen: list[str] | None = None,
                 https: bool = True):
        self.admin, self.server, self.state = admin_url.rstrip("/"), server_name, state
        self.listen, self.https = listen, https  # known: a Caddy that lost the server gets it back
        self.lock = _lock_for(state)

    def _call(self, method: str, path: str, body=None) -> requests.Response:
        try:
            r = requests.request(method, self.admin + path, json=body, timeout=15)
        except requests.RequestException as exc:
            raise ProxyError(f"Caddy admin API at {self.admin} did not answer: {exc}") from exc
        if r.status_code >= 400:
            raise ProxyError(f"Caddy refused {method} {path}: {r.status_code} {r.text[:300]}")
        return r

    def ensure_server(self, listen: list[str], https: bool, routes: list[dict] | None = None) -> bool:
        """Add the server (with `routes`, in one load: never a moment of no routes) if Caddy lacks it."""
        config = self._call("GET", "/config/").json() or {}
        servers = config.setdefault("apps", {}).setdefault("http", {}).setdefault("servers", {})
        if self.server in servers:
            return False
        servers[self.server] = {**server(listen, https), "routes": list(routes or [])}
        self._call("POST", "/load", config)
        return True

    def routes(self) -> dict[str, dict]:
        return json.loads(self.state.read_text()) if self.state.is_file() else {}

    def apply(self, changes: dict[str, dict | None] | None = None, wait: float = 0.0) -> None:
        """Set (or with None, drop) app routes, then write the whole list to Caddy, retrying for up
        to `wait` seconds while Caddy does not answer or has come back without the server."""
        with self.lock:
            current = self.routes()
            for app, r in (changes or {}).items():
                if r is None:
                    current.pop(app, None)
                else:
                    current[app] = r
            deadline = time.monotonic() + wait
            while True:
                try:
                    self._write(order(list(current.values())))
                    break
                except ProxyError:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(0.5)
            self.state.parent.mkdir(parents=True, exist_ok=True)
            partial = self.state.with_name(self.state.name + ".new")  # a reader never sees half a file
            partial.write_text(json.dumps(current, indent=2))
            os.replace(partial, self.state)

    def _write(self, routes: list[dict]) -> None:
        try:
            self._call("PATCH", f"/config/apps/http/servers/{self.server}/routes", routes)
        except ProxyError:
            if self.listen is None:
                raise
            if not self.ensure_server(self.listen, self.https, routes):  # a restarted Caddy has no server
                self._call("PATCH", f"/config/apps/http/servers/{self.server}/routes", routes)

    def in_sync(self) -> bool:
        """Caddy has every route of routes.json, to the same upstream (False after a restart). Routes
        it has beyond those are not this agent's business."""
        try:
            live = self._call("GET", f"/config/apps/http/servers/{self.server}/routes").json() or []
        except (ProxyError, ValueError):
            live = []  # no such server (a restarted Caddy answers 4xx), or not JSON
        def key(r):
            return r.get("@id", ""), json.dumps(r.get("handle"), sort_keys=True)
        return {key(r) for r in self.routes().values()} <= {key(r) for r in live}

    def watch(self, say, every: float = WATCH_EVERY) -> threading.Thread:
        """A daemon thread that puts the routes back whenever Caddy has lost them (restarted)."""
        def loop():
            while True:
                time.sleep(every)
                try:
                    with self.lock:  # a swap between the check and the write would be undone by a stale list
                        if self.in_sync():
                            continue
                        self.apply()
                    say(f"proxy: Caddy at {self.admin} had lost routes (restarted?); "
                        f"{len(self.routes())} route(s) applied again")
                except ProxyError:
                    pass  # Caddy is down or restarting: the next round tries again
        thread = threading.Thread(target=loop, daemon=True, name="caddy-watch")
        thread.start()
        return thread

    def upstream(self, app: str) -> str | None:
        r = self.routes().get(app)
        return r["handle"][0]["upstreams"][0]["dial"] if r else None
