"""Webhook deliveries, one route per forge; the provider behind each checks and reads it."""
from __future__ import annotations

from chalice import Blueprint

from functions.api import http
from functions.dispatch import intake

HOOK_CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded"]

bp = Blueprint(__name__)


def _hook(provider: str) -> dict:
    req = http.request()
    return intake.receive(intake.Delivery(provider, dict(req.headers), req.raw_body or b""))


@bp.route(f"{http.V1}/hooks/github", methods=["POST"], content_types=HOOK_CONTENT_TYPES)
@http.api()
def github_hook():
    return _hook("github")


@bp.route(f"{http.V1}/hooks/gitlab", methods=["POST"], content_types=HOOK_CONTENT_TYPES)
@http.api()
def gitlab_hook():
    return _hook("gitlab")


@bp.route(f"{http.V1}/hooks/gitea", methods=["POST"], content_types=HOOK_CONTENT_TYPES)
@http.api()
def gitea_hook():
    return _hook("gitea")


@bp.route(f"{http.V1}/hooks/forgejo", methods=["POST"], content_types=HOOK_CONTENT_TYPES)
@http.api()
def forgejo_hook():
    return _hook("forgejo")
