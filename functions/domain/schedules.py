"""A rule's `schedule`: cron syntax in a timezone, and which tick is due. Pure: the sweeper's minute
tick (functions/dispatch/schedules.py) asks `due` with the time it runs at, so tests inject the clock.

Cron expressions are parsed by `cronsim` (five fields: minute hour day-of-month month day-of-week,
with `L`, `#` and names like MON or JAN). A tick missed while nothing ran the sweeper (an outage) is
run once, late, and says how many ticks it stands for; never once per missed tick.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from functions.domain.fields import Field, check
from functions.errors import InvalidInput

OVERLAP = ("skip", "queue")
LATE_AFTER = 150          # seconds: a tick found later than this (two sweeper minutes and some) ran late
MAX_COUNTED = 1000        # missed ticks are counted up to here ("1000 or more")
FIELDS = (
    Field("cron", "str", required=True, examples=("0 3 * * *", "*/15 8-18 * * MON-FRI"),
          doc="when, in cron's five fields (minute hour day-of-month month day-of-week), in `timezone`"),
    Field("timezone", "str", default="UTC", examples=("Europe/Berlin",), doc="an IANA timezone name"),
    Field("overlap", "str", choices=OVERLAP, default="skip",
          doc="skip: a tick while a job of the target is queued or running makes none; queue: it queues one"),
    Field("command", "argv", examples=(["./manage.py", "clearsessions"],),
          doc="instead of redeploying, run this argv in a new container of the image the (docker) target serves, "
              "as `tahobuddy run` does"),
)


@dataclass(frozen=True)
class Due:
    tick: float               # epoch seconds of the newest tick at or before now
    missed: int               # older ticks since the last one run, folded into this run
    late: float               # seconds between the tick and now

    def note(self, schedule: dict) -> str:
        """What the job's reason says of its tick."""
        at = when(self.tick, schedule)
        if self.missed:
            more = f"{self.missed}{'+' if self.missed >= MAX_COUNTED else ''}"
            return (f"scheduled tick {at}, run late ({self.late:.0f} s) once for it and {more} missed tick(s) "
                    "before it (the sweeper did not run)")
        if self.late > LATE_AFTER:
            return f"scheduled tick {at}, run late ({self.late:.0f} s; the sweeper did not run on time)"
        return f"scheduled tick {at}"


def validate(path: str, doc) -> dict:
    out = check(path, doc, FIELDS)
    if len(out["cron"].split()) != 5:
        raise InvalidInput(f"{path}.cron", "must have five fields: minute hour day-of-month month day-of-week")
    try:
        zone(out)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"{path}.timezone", "must be an IANA timezone name, like Europe/Berlin or UTC") from exc
    try:
        next(CronSim(out["cron"], datetime.now(zone(out))))
    except (CronSimError, StopIteration) as exc:
        raise InvalidInput(f"{path}.cron", f"is not a cron expression cronsim can run ({exc})") from exc
    return out


def zone(schedule: dict) -> ZoneInfo:
    return ZoneInfo(schedule.get("timezone") or "UTC")


def when(at: float, schedule: dict) -> str:
    return datetime.fromtimestamp(at, zone(schedule)).strftime("%a %Y-%m-%d %H:%M %Z")


def due(schedule: dict, last_tick: float, at: float) -> Due | None:
    """The newest tick in (last_tick, at], with the count of older ones in that span; None when none is."""
    # cronsim's reverse walk starts strictly before its time: from the next second, a tick at `at` counts
    ticks = CronSim(schedule["cron"], datetime.fromtimestamp(int(at) + 1, zone(schedule)), reverse=True)
    newest = next(ticks, None)
    if newest is None or newest.timestamp() <= last_tick:
        return None
    missed = 0
    for older in ticks:
        if older.timestamp() <= last_tick or missed >= MAX_COUNTED:
            break
        missed += 1
    return Due(newest.timestamp(), missed, at - newest.timestamp())


def next_tick(schedule: dict, at: float) -> float:
    """The first tick after `at` (epoch seconds)."""
    start = datetime.fromtimestamp(int(at), zone(schedule))
    for tick in CronSim(schedule["cron"], start):
        if tick.timestamp() > at:
            return tick.timestamp()
    return 0.0


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z") if at else ""
