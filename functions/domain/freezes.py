"""`freeze` windows on an app or a rule: when no job of it may start. Pure: the dispatcher asks
`frozen_until` with the time a job becomes due, so tests inject the clock.

A weekly window lists `days` and a local `from` and `to` time in its `timezone`: on each listed day
it freezes from `from` until `to`, running into the next day when `to` is not after `from`
(`{days: [fri, sat, sun], from: "16:00", to: "08:00"}` is three nights: Friday, Saturday and Sunday
evening to the next morning). A one-off window freezes from `start` to `end` (local dates or
date-times). Windows that touch or overlap are one freeze: a job waits until the last of them ends.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from functions.domain.fields import Field, check
from functions.errors import InvalidInput

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
MOMENT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2})?$"
MAX_WINDOWS = 20
FIELDS = (
    Field("days", "list", examples=(["fri", "sat", "sun"],), doc=f"weekly: the days it starts on ({', '.join(DAYS)})"),
    Field("from", "str", pattern=CLOCK, hint="a local time like 16:00", examples=("16:00",),
          doc="weekly: the local time it starts on each listed day"),
    Field("to", "str", pattern=CLOCK, hint="a local time like 08:00", examples=("08:00",),
          doc="weekly: the local time it ends (the next day when not after `from`)"),
    Field("start", "str", pattern=MOMENT, hint="a local date or date-time like 2026-12-24 or 2026-12-24 12:00",
          examples=("2026-12-24",), doc="one-off: the local date (midnight) or date-time it starts"),
    Field("end", "str", pattern=MOMENT, hint="a local date or date-time like 2027-01-02 08:00",
          examples=("2027-01-02 08:00",), doc="one-off: the local date (midnight) or date-time it ends"),
    Field("timezone", "str", default="UTC", examples=("Europe/Berlin",), doc="an IANA timezone name"),
)


@dataclass(frozen=True)
class Frozen:
    until: float              # epoch seconds: when the last touching window ends
    zone: str

    def note(self) -> str:
        local = datetime.fromtimestamp(self.until, ZoneInfo(self.zone))
        return f"frozen until {local.strftime('%a %H:%M')} {self.zone}"


def validate(path: str, doc) -> list[dict]:
    if not isinstance(doc, list) or not doc or len(doc) > MAX_WINDOWS:
        raise InvalidInput(path, f"must list 1 to {MAX_WINDOWS} windows, like [{{days: [fri], from: \"16:00\", "
                                 f"to: \"08:00\", timezone: Europe/Berlin}}]")
    return [_window(f"{path}[{i}]", w) for i, w in enumerate(doc)]


def _window(path: str, doc) -> dict:
    out = check(path, doc, FIELDS)
    try:
        ZoneInfo(out["timezone"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"{path}.timezone", "must be an IANA timezone name, like Europe/Berlin or UTC") from exc
    weekly, once = [k for k in ("days", "from", "to") if k in out], [k for k in ("start", "end") if k in out]
    if weekly and once or not (len(weekly) == 3 or len(once) == 2):
        raise InvalidInput(path, "needs either days, from and to (weekly) or start and end (one-off)")
    if weekly:
        bad = [d for d in out["days"] if d not in DAYS]
        if not out["days"] or bad:
            raise InvalidInput(f"{path}.days", f"must list days among {', '.join(DAYS)}")
    else:
        start, end = (_checked(f"{path}.{k}", out[k], out) for k in ("start", "end"))
        if end <= start:
            raise InvalidInput(f"{path}.end", "must be after start")
    return out


def _checked(path: str, text: str, window: dict) -> float:
    """A moment of the pattern's shape that is no date (month 13, 24:30) is refused, never a 500."""
    try:
        return _moment(text, window)
    except ValueError as exc:
        raise InvalidInput(path, f"{text!r} is no date; a local date or date-time like 2026-12-24 12:00") from exc


def _moment(text: str, window: dict) -> float:
    fmt = "%Y-%m-%d %H:%M" if " " in text else "%Y-%m-%d"
    return datetime.strptime(text, fmt).replace(tzinfo=ZoneInfo(window["timezone"])).timestamp()


def _spans(window: dict, at: float) -> list[tuple[float, float]]:
    """The window's spans that could hold `at` or follow it closely (a week around it)."""
    if "start" in window:
        return [(_moment(window["start"], window), _moment(window["end"], window))]
    tz = ZoneInfo(window["timezone"])
    today = datetime.fromtimestamp(at, tz).date()
    (fh, fm), (th, tm) = (map(int, window["from"].split(":")), map(int, window["to"].split(":")))
    out = []
    for offset in range(-8, 9):
        day = today + timedelta(days=offset)
        if DAYS[day.weekday()] not in window["days"]:
            continue
        begin = datetime(day.year, day.month, day.day, fh, fm, tzinfo=tz)
        end_day = day if (th, tm) > (fh, fm) else day + timedelta(days=1)
        end = datetime(end_day.year, end_day.month, end_day.day, th, tm, tzinfo=tz)
        out.append((begin.timestamp(), end.timestamp()))
    return out


def frozen_until(windows: list[dict], at: float) -> Frozen | None:
    """When `at` falls in a window: the end of that freeze (following windows that touch it); else None."""
    zone, until, probe = "", None, at
    for _ in range(100):                       # bounded: a chain of windows a year long at most
        later = [(end, w["timezone"]) for w in windows for begin, end in _spans(w, probe) if begin <= probe < end]
        if not later:
            break
        until, zone = max(later)
        probe = until                          # a window starting right as this one ends continues the freeze
    return Frozen(until, zone) if until is not None else None


def of(app: dict, rule: dict) -> list[dict]:
    """The windows that hold a job of `rule`: the app's and the rule's own."""
    return list(app.get("freeze") or []) + list(rule.get("freeze") or [])
