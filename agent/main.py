"""`tahobuddy agent`: run the agent in the foreground (a daemon under systemd, or an ECS service)."""
from __future__ import annotations

import signal
import sys

from .config import AgentConfig


def run(config_path: str | None) -> int:
    config = AgentConfig.load(config_path)
    problems = config.check()
    if problems:
        for p in problems:
            print(f"tahobuddy agent: {p}", file=sys.stderr)
        return 2
    from .worker import Agent
    agent = Agent(config, say=lambda line: print(line, flush=True))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: agent.request_stop())
    return agent.run()
