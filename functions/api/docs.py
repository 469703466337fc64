"""Liveness, who a token is, and the OpenAPI document: the public and self-describing routes."""
from __future__ import annotations

from chalice import Blueprint

from functions.api import http, openapi
from functions.store import audit, tokens

bp = Blueprint(__name__)


@bp.route(f"{http.V1}/health", methods=["GET"])
def health():
    return {"status": "ok"}


@bp.route(f"{http.V1}/whoami", methods=["GET"])
@http.api(*tokens.ROLES, tokens.SESSION)
def whoami():
    """Which token this is (`tahobuddy doctor` checks an agent's token with it): never the secret."""
    caller = audit.caller()
    pool = tokens.pool_of(caller) if caller.role == "agent" else getattr(caller, "pool", None)
    return {"role": caller.role, "name": caller.name, "pool": pool}


@bp.route(openapi.OPENAPI_PATH, methods=["GET"])
def openapi_document():
    """Public, like /health: it describes the API and holds no secret (functions/api/openapi.py)."""
    return openapi.document()

