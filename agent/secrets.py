"""Secrets the rules name (`secret:NAME`): from the agent's secret file, then its environment.
They never go to the API; `mask` blanks their values in every log line."""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from runners.base import Reason, RunnerError

MIN_MASKED = 4  # shorter values would blank ordinary words


class Secrets:
    def __init__(self, path: str = "", env: dict | None = None):
        self.env = os.environ if env is None else env
        self.file: dict = {}
        if path:
            doc = yaml.safe_load(Path(path).read_text()) or {}
            if not isinstance(doc, dict):
                raise ValueError(f"{path}: expected a mapping of NAME: value")
            self.file = {str(k): str(v) for k, v in doc.items()}
        self.used: set[str] = set()

    def __call__(self, name: str) -> str:
        value = self.file.get(name, self.env.get(name))
        if not value:
            raise RunnerError(f"secret {name} is not set on this agent (its secrets file or environment)",
                              reason=Reason.REFUSED)
        self.used.add(value)
        return value

    def register(self, value: str) -> None:
        """A value made on the agent (a database password) that must be masked too."""
        self.used.add(value)

    def mask(self, line: str) -> str:
        for value in sorted(self.used | set(self.file.values()), key=len, reverse=True):
            if len(value) >= MIN_MASKED and value in line:
                line = line.replace(value, "***")
        return line
