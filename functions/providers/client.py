"""The thin client that sends a provider's `StatusRequest` to a forge: all the I/O `report` leaves out.

Each forge takes its token in its own header; the token never appears in an error.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from functions.errors import TahobuddyError

AUTH_HEADERS = {"github": ("Authorization", "Bearer {}"), "gitlab": ("PRIVATE-TOKEN", "{}"),
                "gitea": ("Authorization", "token {}"), "forgejo": ("Authorization", "token {}")}


class StatusRefused(TahobuddyError):
    """The forge answered the commit status with an error status."""


def send(provider: str, api_base: str, token: str, request, timeout: float = 10) -> dict:
    """POST the status to `api_base` + its path (e.g. https://gitlab.example.com/api/v4); the forge's JSON answer."""
    header, form = AUTH_HEADERS[provider]
    http = urllib.request.Request(api_base.rstrip("/") + request.path, method=request.method,
                                  data=json.dumps(request.body).encode(),
                                  headers={"Content-Type": "application/json", "Accept": "application/json",
                                           header: form.format(token)})
    try:
        with urllib.request.urlopen(http, timeout=timeout) as answer:
            text = answer.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")[:300]
        detail = detail.replace(token, "***") if token else detail
        raise StatusRefused(f"{provider} refused the commit status {request.method} {request.path}: "
                            f"HTTP {exc.code} {detail}", exc) from exc
    return json.loads(text) if text.strip() else {}
