"""What every route shares: authentication, the caller kept for the audit log, domain errors
mapped to HTTP in one place (an unreachable AWS is a 503 to retry), and reading the request.

Routes live in the other modules of this folder as Chalice blueprints; `functions/app.py`
registers them on the one app and `bind`s it here.
"""
from __future__ import annotations

import functools

from botocore.exceptions import ConnectionError as NoConnection, HTTPClientError
from chalice import (BadRequestError, ChaliceViewError, ConflictError, ForbiddenError, NotFoundError,
                     UnauthorizedError)

from functions.errors import (BadSignature, Conflict, Forbidden, InvalidInput, NotAuthorized, NotFound,
                              PayloadTooLarge, TahobuddyError)
from functions.store import audit, tokens

V1 = "/api/v1"
_APP = {"app": None}


def bind(app) -> None:
    _APP["app"] = app


def request():
    return _APP["app"].current_request


class PayloadTooLargeError(ChaliceViewError):
    STATUS_CODE = 413


class StorageUnavailableError(ChaliceViewError):
    STATUS_CODE = 503


UNAVAILABLE = ("storage unavailable (DynamoDB/SQS could not be reached); nothing was changed: try again "
               "(GitHub shows the delivery as failed: redeliver it)")


THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
             "InternalServerError", "ServiceUnavailable"}  # AWS's "busy, try again" answers


def _unreachable(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps: PynamoDB keeps the botocore error as its cause) says the AWS
    endpoint could not be reached or is busy (a throttle, a 5xx of its own), which is a 503 to retry,
    never a 500 and never a lost race (store/conditions.py)."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, (NoConnection, HTTPClientError)):
            return True
        code = ((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code")
        if code in THROTTLED:
            return True
        exc, seen = exc.__cause__ or exc.__context__ or getattr(exc, "cause", None), seen + 1
    return False


_ERRORS = ((InvalidInput, BadRequestError), (PayloadTooLarge, PayloadTooLargeError),
           (BadSignature, UnauthorizedError),
           (NotAuthorized, UnauthorizedError), (Forbidden, ForbiddenError), (NotFound, NotFoundError),
           (Conflict, ConflictError))


def api(*roles: str):
    """Authenticate with one of `roles` (none: public), act as that token (for the audit log),
    and map domain errors to HTTP."""
    def wrap(view):
        @functools.wraps(view)
        def handler(*args, **kwargs):
            try:
                caller = tokens.authenticate(request().headers.get("authorization"), *roles) if roles else None
                with audit.acting_as(caller):
                    return view(*args, **kwargs)
            except Exception as exc:
                if _unreachable(exc):  # first: a domain error may wrap it (a PutError read as a Conflict)
                    raise StorageUnavailableError(UNAVAILABLE) from exc
                if not isinstance(exc, TahobuddyError):
                    raise
                for domain, http in _ERRORS:
                    if isinstance(exc, domain):
                        raise http(str(exc)) from exc
                raise ChaliceViewError(str(exc)) from exc
        return handler
    return wrap


def body() -> dict:
    doc = request().json_body
    if not isinstance(doc, dict):
        raise InvalidInput("body", "send a JSON object")
    return doc


def query(name: str, default: str | None = None) -> str | None:
    return (request().query_params or {}).get(name, default)


def int_query(name: str, default: int, high: int) -> int:
    raw = query(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise InvalidInput(name, "must be a whole number")
    return min(int(raw), high)


def not_found(message: str) -> NotFoundError:
    return NotFoundError(message)
