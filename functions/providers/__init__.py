"""Forges that send webhooks and take commit statuses: one module per forge behind one
`Provider` protocol (`base`). Nothing outside this folder knows a forge's headers."""
from functions.providers.base import JobStatus, Provider, StatusRequest, find, names

__all__ = ["JobStatus", "Provider", "StatusRequest", "find", "names"]
