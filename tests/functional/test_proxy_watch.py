"""The agent's Caddy watch thread beside swaps, against a real Caddy: the watch compares Caddy's routes
with routes.json and re-applies routes.json when they differ. A swap writes Caddy first and routes.json
after; a watch round that fell between the two once wrote the old upstream back (seen in bench/swaps.py:
502s for a second, then "had lost routes (restarted?)" in the agent's log); and a round that read
routes.json while a swap rewrote it died of the half-written file, so the watch was gone for good."""
import time

import pytest
import requests

from local.procs import free_port
from runners.proxy import Caddy as Proxy
from runners.proxy import route

pytestmark = pytest.mark.functional


def test_a_watch_round_during_a_swap_never_puts_the_old_upstream_back(caddy, tmp_path):
    # a listener of its own: the shared Caddy's port may already be another server's (two servers
    # cannot claim one address), whichever test made that one first
    state, listen = tmp_path / "routes.json", [f"127.0.0.1:{free_port()}"]
    watcher = Proxy(caddy.admin, "watched", state, listen, https=False)
    watcher.ensure_server(listen, False)
    thread = watcher.watch(lambda line: None, every=0)  # as often as it can: a round falls inside every swap
    app = {"name": "watched", "hostname": "watched.localhost"}
    stale = []
    for i in range(400):
        upstream = f"127.0.0.1:{20000 + i}"
        Proxy(caddy.admin, "watched", state, listen, https=False).apply({"watched": route(app, upstream)})  # a job's
        time.sleep(0.002)  # a watch round may run here
        live = requests.get(f"{caddy.admin}/config/apps/http/servers/watched/routes", timeout=10).json()
        dial = live[0]["handle"][0]["upstreams"][0]["dial"] if live else None
        if dial != upstream:
            stale.append((i, upstream, dial))
    requests.delete(f"{caddy.admin}/config/apps/http/servers/watched", timeout=10)
    assert thread.is_alive()  # it once died of a half-written routes.json, and Caddy restarts went unrepaired
    assert stale == [], stale[:5]
