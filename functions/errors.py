"""One exception root for the functions; each keeps its cause (PynamoDB style).

Routes translate these to Chalice's error types in one place (`app.py`).
"""
from __future__ import annotations


class TahobuddyError(Exception):
    """Root of every error the functions raise on purpose."""

    def __init__(self, message: str, cause: BaseException | None = None):
        super().__init__(message)
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause


class InvalidInput(TahobuddyError):
    """The caller sent something we cannot accept; `field` names what."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class PayloadTooLarge(TahobuddyError):
    pass


class BadSignature(TahobuddyError):
    pass


class NotAuthorized(TahobuddyError):
    pass


class Forbidden(TahobuddyError):
    pass


class Refused(Forbidden):
    """A way in asked for a job the trust rules do not allow (a pull request's code as production)."""


class NotFound(TahobuddyError):
    pass


class Conflict(TahobuddyError):
    pass


class IllegalTransition(Conflict):
    """A job state change that the transition table or the stored state refused."""
