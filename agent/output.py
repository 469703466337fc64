"""The output follower: what the serving containers of this agent's apps (and previews) print reaches the
API within about a second, outbound only, for `tahobuddy logs --app APP -f` and the dashboard's "App output".

Why the agent pushes (docs/guides/day-two.md says it for users): the agent already talks to the API over
HTTPS with its session, and nothing may connect to it. Shipping only when someone asks (a heartbeat
answer asking for a tail) would cost a beat of latency per request and lose what was printed while
nobody watched; CloudWatch Logs would add a second place to read from, and credentials for it on every
host. So it follows each container with Docker's own log stream and sends what it reads in batches.

Threads, all stopped by `stop()` (the agent calls it when it exits): one scanner (every SCAN_EVERY s it
lists the running app containers of this installation and starts a follower for each new one: a swap's
new container is followed within a second, from its start); one follower per container (Docker's
blocking log stream; it ends when the container stops or is removed, or when `stop()` closes it); one
sender (every FLUSH_EVERY s it sends what the followers read, per app, through `Reporter.output`, which
masks every line with the agent's one masker, as for job logs). The masker learns a container's secret
values from the container itself (the variables its `tahobuddy.secret_env` label names), so an agent
started after the deploy masks them too. Held lines are bounded (MAX_PENDING: the
oldest go, and the next batch says how many). A 404 (the app was deleted) or a 403 (the app is not of
this agent's pool) ends the following of that app's containers; a new container of the same name (a
new app) is followed again.
"""
from __future__ import annotations

import threading
import time

import docker
from docker.errors import NotFound

from contract.wire import AppOutput
from runners import docker_output

from .reporter import Forbidden, Gone, Reporter, Unrecoverable


class Output:
    SCAN_EVERY = 1.0
    FLUSH_EVERY = 0.5
    BATCH = 500          # the API's batch limit (functions/store/logs.py MAX_BATCH)
    MAX_PENDING = 5000   # lines held while the API cannot be reached; beyond, the oldest are dropped

    def __init__(self, reporter: Reporter, installation: str, say, client=None, remember=lambda value: None):
        self.reporter, self.installation, self.say = reporter, installation, say
        self.remember = remember  # the masker's register: a container's secret values, read from its config
        self.client = client or (lambda timeout: docker.from_env(timeout=timeout))
        self.done = threading.Event()
        self.lock = threading.Lock()         # guards everything below
        self.sending = threading.Lock()      # one flush at a time
        self.streams: dict[str, object] = {}  # container id -> its open stream (None while it opens)
        self.owner: dict[str, tuple[str, int]] = {}  # container id -> (app, preview)
        self.last_at: dict[str, float] = {}   # container id -> its last line's time: a restart goes on from there
        self.refused: set[str] = set()        # containers whose output the API will not take
        self.pending: list[tuple[str, int, float, str]] = []  # (app, preview, at, line)
        self.dropped: dict[tuple[str, int], int] = {}
        self.threads: list[threading.Thread] = []
        self.began = time.time()              # lines printed before the agent started are not sent again
        self.said = ""

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> "Output":
        for target, name in ((self._scan, "output-scanner"), (self._send_loop, "output-sender")):
            t = threading.Thread(target=target, daemon=True, name=name)
            t.start()
            self.threads.append(t)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.done.set()
        with self.lock:
            streams = [s for s in self.streams.values() if s is not None]
        for stream in streams:
            _close(stream)
        for t in list(self.threads):
            t.join(timeout)
        self._flush()  # what the followers read last

    def following(self) -> dict[str, tuple[str, int]]:
        with self.lock:
            return {cid: self.owner[cid] for cid in self.streams}

    # ---- the scanner and the followers --------------------------------------------------------
    def _scan(self) -> None:
        lister = None
        while not self.done.is_set():
            try:
                lister = lister or self.client(30)
                for found in docker_output.running(lister, self.installation):
                    with self.lock:
                        if found.id in self.streams or found.id in self.refused:
                            continue
                        self.streams[found.id], self.owner[found.id] = None, (found.app, found.preview)
                        since = self.last_at.get(found.id)
                    try:
                        for value in docker_output.secrets_of(lister, found.id):  # masked even after a restart
                            self.remember(value)
                        started = docker_output.started(lister, found.id)
                    except NotFound:  # gone between the list and its inspect: the others still get followed
                        with self.lock:
                            self.streams.pop(found.id, None)
                            self.owner.pop(found.id, None)
                        continue
                    # a restarted container goes on after its last line; a new one from its start
                    since = since + 1e-6 if since is not None else max(started, self.began)
                    t = threading.Thread(target=self._follow, args=(found, since), daemon=True,
                                         name=f"output-{found.app}")
                    t.start()
                    self.threads = [x for x in self.threads if x.is_alive()] + [t]
            except Exception as exc:  # dockerd restarting: the next round tries again
                self._say_once(f"output: cannot list containers ({exc.__class__.__name__}: {exc})")
                lister = None
            self.done.wait(self.SCAN_EVERY)

    def _follow(self, found: docker_output.Serving, since: float) -> None:
        rest = ""
        try:
            stream = docker_output.follow(self.client(None), found.id, since)
            with self.lock:
                opened = not self.done.is_set() and found.id not in self.refused
                if opened:
                    self.streams[found.id] = stream
            if not opened:
                _close(stream)
                return
            for chunk in stream:
                text = rest + chunk.decode("utf-8", "replace")
                *lines, rest = text.split("\n")
                for raw in lines:
                    self._collect(found, raw)
        except Exception:  # the container went, or stop() closed the stream
            pass
        finally:
            if rest:
                self._collect(found, rest)
            with self.lock:
                self.streams.pop(found.id, None)

    def _collect(self, found: docker_output.Serving, raw: str) -> None:
        at, line = docker_output.split_stamp(raw.rstrip("\r"))
        at = at or time.time()
        with self.lock:
            self.last_at[found.id] = at
            self.pending.append((found.app, found.preview, at, line))
            self._trim()

    def _trim(self) -> None:
        """Keep at most MAX_PENDING held lines (the lock is held), counting what goes per app."""
        over = len(self.pending) - self.MAX_PENDING
        for app, preview, _, _ in self.pending[:max(0, over)]:
            self.dropped[(app, preview)] = self.dropped.get((app, preview), 0) + 1
        if over > 0:
            del self.pending[:over]

    # ---- the sender -------------------------------------------------------------------------
    def _send_loop(self) -> None:
        while not self.done.wait(self.FLUSH_EVERY):
            try:
                self._flush()
            except Exception as exc:  # never lets a hiccup end the sender
                self._say_once(f"output: sending failed ({exc.__class__.__name__}: {exc})")

    def _flush(self) -> None:
        with self.sending:
            with self.lock:
                held, self.pending = self.pending, []
            groups: dict[tuple[str, int], list[tuple[float, str]]] = {}
            for app, preview, at, line in held:
                groups.setdefault((app, preview), []).append((at, line))
            unsent: list[tuple[str, int, float, str]] = []
            for (app, preview), rows in groups.items():
                unsent += [(app, preview, at, line) for at, line in self._send(app, preview, rows)]
            if unsent:
                with self.lock:
                    self.pending[:0] = unsent
                    self._trim()

    def _send(self, app: str, preview: int, rows: list[tuple[float, str]]) -> list[tuple[float, str]]:
        """Send one app's lines; those left to send with the next flush (the API could not be reached)."""
        with self.lock:
            gone = self.dropped.pop((app, preview), 0)
        if gone:
            rows = [(rows[0][0], f"[tahobuddy: {gone} line(s) dropped: more than the agent holds while the API is unreachable or behind]"), *rows]
        for i in range(0, len(rows), self.BATCH):
            part = rows[i:i + self.BATCH]
            try:
                self.reporter.output(app, AppOutput([line for _, line in part], [at for at, _ in part], preview))
            except (Gone, Forbidden) as exc:
                self._refuse(app, preview, exc)
                return []
            except Unrecoverable as exc:  # the session itself was refused: the agent's beat stops it
                self._say_once(f"output: {exc}")
                return []
            except Exception as exc:
                self._say_once(f"output: the API did not take {app}'s output ({exc.__class__.__name__}); keeping it")
                return rows[i:]
        return []

    def _refuse(self, app: str, preview: int, why: Exception) -> None:
        with self.lock:
            ids = [cid for cid, owner in self.owner.items() if owner == (app, preview) and cid not in self.refused]
            self.refused.update(ids)
            streams = [self.streams.get(cid) for cid in ids]
        for stream in streams:
            if stream is not None:
                _close(stream)
        what = f"{app} preview #{preview}" if preview else app
        self.say(f"output: no longer following {what}: {str(why)[:200]}")

    def _say_once(self, text: str) -> None:
        if text != self.said:
            self.said = text
            self.say(text)


def _close(stream) -> None:
    try:
        stream.close()
    except Exception:  # already closed, or its socket already gone
        pass


def start(agent) -> Output | None:
    """Start following the serving containers of a docker agent (its own threads: never a job slot)."""
    if "docker" not in agent.config.targets:
        return None
    return Output(agent.reporter, agent.config.resolved_installation(), agent.say,
                  remember=agent.secrets.register).start()
