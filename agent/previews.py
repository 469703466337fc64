"""The preview reconciler: on agent start and every `preview_reconcile` seconds, ask the API which
pull-request previews the store keeps and remove every other preview container, route, image and
volume on this machine, saying what went. Teardown jobs do this for closed PRs; the reconciler
catches what they missed (a lost teardown, an agent down while a PR closed, a preview made by hand).
"""
from __future__ import annotations

import threading

from runners import registry


class Reconciler:
    def __init__(self, reporter, config, workdir, say, stopping: threading.Event):
        self.reporter, self.config, self.workdir, self.say, self.stopping = reporter, config, workdir, say, stopping

    def once(self) -> list[str]:
        kept = {(p["app"], int(p["number"])) for p in self.reporter.previews().previews}
        runner = registry.find("docker")
        return runner.reconcile_previews(self.config, self.workdir, kept, self.say)

    def loop(self) -> None:
        every = self.config.preview_reconcile
        while True:
            try:
                removed = self.once()
                self.say(f"previews: reconciled, {len(removed)} leftover(s) removed")
            except Exception as exc:  # the next round tries again; a reconciler never stops the agent
                self.say(f"previews: reconciling failed: {exc.__class__.__name__}: {exc}")
            if self.stopping.wait(every):
                return


def start(agent) -> None:
    """Start the reconciler of a docker agent (a thread: it never holds a job slot)."""
    if "docker" not in agent.config.targets or agent.config.preview_reconcile <= 0:
        return
    r = Reconciler(agent.reporter, agent.config, agent.workdir, agent.say, agent.stopping)
    threading.Thread(target=r.loop, daemon=True, name="preview-reconciler").start()
