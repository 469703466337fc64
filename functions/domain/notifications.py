"""The rules of an app's `notify:` list: which entries are valid (checked when the app is saved) and
which of them want to hear of a job's state. Pure; functions/notify/channels.py sends the messages."""
from __future__ import annotations

from contract.states import JobState
from contract.wire import SECRET_REF

from functions.errors import InvalidInput

TYPES = ("slack", "discord", "webhook")
STATES = tuple(s.value for s in JobState)
DEFAULT_STATES = ("succeeded", "failed")
_KEYS = {"type", "url", "secret", "states"}


def validate(doc) -> list[dict]:
    """The app's `notify` list, checked when the app is saved; errors name the field."""
    if not isinstance(doc, list):
        raise InvalidInput("notify", "must be a list of {type, url, secret?, states?}")
    out = []
    for i, entry in enumerate(doc):
        path = f"notify[{i}]"
        if not isinstance(entry, dict):
            raise InvalidInput(path, "must be a mapping {type, url, secret?, states?}")
        extra = sorted(set(entry) - _KEYS)
        if extra:
            raise InvalidInput(f"{path}.{extra[0]}", f"is not a notify field ({', '.join(sorted(_KEYS))})")
        if entry.get("type") not in TYPES:
            raise InvalidInput(f"{path}.type", f"must be one of {', '.join(TYPES)}")
        for key in ("url", "secret"):
            value = entry.get(key)
            if (key == "url" or value is not None) and not (isinstance(value, str) and SECRET_REF.match(value)):
                raise InvalidInput(f"{path}.{key}",
                                   "must name a secret, like secret:SLACK_URL (values are never stored)")
        if entry["type"] == "webhook" and "secret" not in entry:
            raise InvalidInput(f"{path}.secret", "a webhook is signed: name its key, like secret:HOOK_KEY (whsec_...)")
        if entry["type"] != "webhook" and "secret" in entry:
            raise InvalidInput(f"{path}.secret", f"only a webhook is signed; a {entry['type']} URL is its own secret")
        states = entry.get("states", list(DEFAULT_STATES))
        if not isinstance(states, list) or not states or any(s not in STATES for s in states):
            raise InvalidInput(f"{path}.states", f"must be a list of job states ({', '.join(STATES)})")
        out.append({**entry, "states": states})
    return out


def wanted(app: dict | None, state: str) -> list[dict]:
    return [e for e in (app or {}).get("notify", []) if state in e.get("states", DEFAULT_STATES)]
