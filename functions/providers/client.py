"""The thin client that sends a provider's `StatusRequest` to GitLab, Gitea or Forgejo: all the I/O
`report` leaves out (GitHub has its own client, functions/notify/github.py, for its App tokens).

Each forge takes its token in its own header; the token never appears in an error. One retry
classification, as GitHub's: 5xx, 429 and network errors may pass if tried again; any other 4xx
will not (a 422 or a 401 stays what it is).
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from functions.errors import TahobuddyError

AUTH_HEADERS = {"github": ("Authorization", "Bearer {}"), "gitlab": ("PRIVATE-TOKEN", "{}"),
                "gitea": ("Authorization", "token {}"), "forgejo": ("Authorization", "token {}")}


class StatusRefused(TahobuddyError):
    """The commit status did not go through; `retry` says whether trying again can help, `status` is
    the forge's HTTP answer (0: none)."""

    def __init__(self, message: str, cause: BaseException | None = None, retry: bool = False, status: int = 0):
        super().__init__(message, cause)
        self.retry, self.status = retry, status


def send(provider: str, api_base: str, token: str, request, timeout: float = 10) -> dict:
    """POST the status to `api_base` + its path (e.g. https://gitlab.example.com/api/v4); the forge's JSON answer."""
    header, form = AUTH_HEADERS[provider]
    http = urllib.request.Request(api_base.rstrip("/") + request.path, method=request.method,
                                  data=json.dumps(request.body).encode(),
                                  headers={"Content-Type": "application/json", "Accept": "application/json",
                                           "User-Agent": "tahobuddy", header: form.format(token)})
    try:
        with urllib.request.urlopen(http, timeout=timeout) as answer:
            text = answer.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")[:300]
        detail = detail.replace(token, "***") if token else detail
        raise StatusRefused(f"{provider} refused the commit status {request.method} {request.path}: "
                            f"HTTP {exc.code} {detail}", exc, retry=exc.code >= 500 or exc.code == 429,
                            status=exc.code) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise StatusRefused(f"{provider}: {request.method} {request.path}: {exc}", exc, retry=True) from exc
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        return {}  # sent and taken; an answer that is not JSON does not undo that
