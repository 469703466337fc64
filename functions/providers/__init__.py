"""Forges that send webhooks and take commit statuses: one module per forge behind one
`Provider` protocol (`base`). Nothing outside this folder knows a forge's headers."""
from functions.providers.base import Action, JobStatus, Provider, StatusRequest, WebhookEvent, find, names

__all__ = ["Action", "JobStatus", "Provider", "StatusRequest", "WebhookEvent", "find", "names"]
