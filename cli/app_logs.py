"""`tahobuddy logs --app APP [-f] [--since 10m] [--preview N]`: what the app's serving container printed,
as its agent shipped it (GET /api/v1/apps/APP/output; functions/store/output.py keeps a bounded tail).
Without -f it prints the newest lines and stops; with -f it goes on printing new ones as they come."""
from __future__ import annotations

import re
import sys
import time

from .client import ApiError, Client, quote

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
POLL = 0.5   # seconds between reads while following with nothing new: lines show within about a second


def since_seconds(text: str | None) -> int:
    """`90`, `30s`, `10m`, `2h`, `1d` -> seconds; 0 for none."""
    if not text:
        return 0
    m = re.fullmatch(r"\s*([0-9]+)\s*([smhd]?)\s*", text)
    if not m:
        raise ApiError(f"--since {text!r}: give a duration like 30s, 10m, 2h or 1d")
    return int(m[1]) * UNITS[m[2] or "s"]


def show(client: Client, args) -> int:
    path, since = f"/apps/{quote(args.app)}/output", since_seconds(args.since)
    preview = args.preview or None
    data = client.get(path, preview=preview, since=since or None, limit=args.lines)
    deadline = time.monotonic() + args.timeout
    while True:
        if data.get("dropped"):
            print(f"[tahobuddy: {data['dropped']:,} line{'s' if data['dropped'] != 1 else ''} dropped: an app keeps "
                  "its last TAHOBUDDY_OUTPUT_MAX_LINES]", flush=True)
        for row in data["lines"]:
            print(row["line"], flush=True)
        if not args.follow:
            return 0
        if time.monotonic() > deadline:
            print(f"tahobuddy: stopped following after {args.timeout}s", file=sys.stderr)
            return 0
        if not data["lines"]:
            time.sleep(POLL)
        data = client.get(path, preview=preview, after=data["last_seq"])
