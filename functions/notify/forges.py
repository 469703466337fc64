"""GitLab, Gitea and Forgejo credentials, read as GitHub's are (functions/notify/github.py): a token
from the environment, else from the Secrets Manager secret that holds GitHub's credentials.

    TAHOBUDDY_GITLAB_TOKEN   TAHOBUDDY_GITLAB_API_URL    default https://<repository host>/api/v4
    TAHOBUDDY_GITEA_TOKEN    TAHOBUDDY_GITEA_API_URL     default https://<repository host>/api/v1
    TAHOBUDDY_FORGEJO_TOKEN  TAHOBUDDY_FORGEJO_API_URL   default https://<repository host>/api/v1

On AWS the secret named by TAHOBUDDY_GITHUB_SECRET is JSON and may carry `gitlab_token`,
`gitea_token` and `forgejo_token` beside GitHub's `token` (or `app_id` + `private_key`). It is read
once per process, as GitHub's is.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from functions.notify import github

API_PATHS = {"gitlab": "/api/v4", "gitea": "/api/v1", "forgejo": "/api/v1"}
_STORED: dict[str, dict] = {}


@dataclass(frozen=True)
class Settings:
    forge: str
    api_url: str                 # where its REST API answers, e.g. https://gitlab.example.com/api/v4
    token: str                   # "" : this process has none (the sender gives up and says so)

    @property
    def token_names(self) -> str:
        name = f"TAHOBUDDY_{self.forge.upper()}_TOKEN"
        return f"{name} (or {self.forge}_token in the secret TAHOBUDDY_GITHUB_SECRET names)"


def _stored(env) -> dict:
    name = env.get("TAHOBUDDY_GITHUB_SECRET") or ""
    if not name:
        return {}
    if name not in _STORED:
        _STORED[name] = github.stored_secret(name)
    return _STORED[name]


def settings(forge: str, host: str, env=None) -> Settings:
    """The API base and token for a repository of `forge` on `host`."""
    env = os.environ if env is None else env
    prefix = f"TAHOBUDDY_{forge.upper()}"
    api = (env.get(f"{prefix}_API_URL") or f"https://{host}{API_PATHS[forge]}").rstrip("/")
    token = env.get(f"{prefix}_TOKEN") or str(_stored(env).get(f"{forge}_token") or "")
    return Settings(forge, api, token)
