"""A finished job's message, kept hidden until its finish has been reported.

While a job runs, its heartbeat extends the message's invisibility only after the API accepted the
beat: an agent cut off from the API loses the job to another agent of the pool when the lease lapses,
by design. Once the work is done that is no longer wanted: running it again would deploy twice. From
then on this thread hides the message on its own clock, every third of the lease, until the worker
has its finish answered or given up: through an outage, and through an API that accepts a request and
never answers it (the reporter's calls then wait their whole 30 s timeout, three leases in the tests).
"""
from __future__ import annotations

import threading
import time
from typing import Callable


class Keeper:
    def __init__(self, hide: Callable[[], None], lease: float, most: float, say: Callable[[str], None]):
        """`hide()` makes the message invisible for `lease` seconds; it is called every third of that, for at
        most `most` seconds (the reporter gives up on a finish well before: the loop is bounded either way)."""
        self.hide, self.every, self.most, self.say = hide, max(1.0, lease / 3), most, say
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.failures = 0

    def start(self) -> None:
        """The work is done: hide the message now, and keep it hidden. A second call does nothing more, so
        every retry of the last log batch and of the finish may call it."""
        with self.lock:
            if self.thread is not None or self.stopped.is_set():
                return
            self.thread = threading.Thread(target=self._loop, daemon=True)
        self._hide()
        with self.lock:  # not once stopped meanwhile (stop() joins only a thread that was started)
            if not self.stopped.is_set():
                self.thread.start()

    def stop(self) -> None:
        """The finish was answered (or given up), or the message is handed back: stop hiding it."""
        with self.lock:
            self.stopped.set()
            thread = self.thread
        if thread is not None and thread.ident is not None:
            thread.join(timeout=5)

    def _loop(self) -> None:
        deadline = time.monotonic() + self.most
        while not self.stopped.wait(self.every) and time.monotonic() < deadline:
            self._hide()

    def _hide(self) -> None:
        try:
            self.hide()
        except Exception as exc:  # SQS away too: the next round tries again; say so once
            self.failures += 1
            if self.failures == 1:
                self.say(f"could not keep a finished job's message hidden ({exc.__class__.__name__}: {exc}); "
                         "trying again every third of the lease")
