"""Runners by name (Woodpecker's FindBackend): the only place that knows their modules."""
from __future__ import annotations

import importlib

from .base import Runner

RUNNERS = {
    "docker": "runners.docker:DockerRunner",
    "shell": "runners.shell:ShellRunner",
    "ansible": "runners.ansible:AnsibleRunner",
    "heroku": "runners.heroku:HerokuRunner",
    "aws-ecs": "runners.ecs:EcsRunner",
}


def names() -> list[str]:
    return sorted(RUNNERS)


def find(name: str) -> Runner:
    """A fresh runner for target type `name`; KeyError names the known ones."""
    if name not in RUNNERS:
        raise KeyError(f"no runner for target type {name!r} (known: {', '.join(names())})")
    module, cls = RUNNERS[name].split(":")
    return getattr(importlib.import_module(module), cls)()
