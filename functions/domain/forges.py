"""Which forge an app's repository lives on, and so the one route (`/hooks/<forge>`) whose
deliveries may deploy it: a secret that verifies Gitea's route must never deploy a GitHub app.

An app names its `forge`, or it follows from the repository's host: github.com and the GitHub
Enterprise host mean github, gitlab.com gitlab, a host of TAHOBUDDY_<FORGE>_HOSTS that forge, and
anything else (local paths and file:// included) github.
"""
from __future__ import annotations

from typing import Mapping

from functions.domain import refs

FORGES = ("github", "gitlab", "gitea", "forgejo")  # the providers' names (functions/providers)
WELL_KNOWN = {"github.com": "github", "gitlab.com": "gitlab"}


def host_of(repository: str) -> str:
    """'git@gitlab.example.com:group/x.git' -> 'gitlab.example.com'; '' for a local path."""
    key = refs.repo_key(repository)
    if not key or key.startswith("/"):
        return ""
    return key.split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]


def default(repository: str, hosts: Mapping[str, str]) -> str:
    """The forge of `repository` when the app names none; `hosts` maps configured hosts to forges."""
    host = host_of(repository)
    return hosts.get(host) or WELL_KNOWN.get(host) or "github"


def of(app: dict, hosts: Mapping[str, str]) -> str:
    """The app's forge: its own `forge`, or (an app saved before the field existed) the default."""
    return app.get("forge") or default(app.get("repository", ""), hosts)
