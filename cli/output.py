"""How listings print: aligned columns for people, `--json` for scripts."""
from __future__ import annotations

import json
import sys


def emit(data, as_json: bool, columns: list[str] | None = None, rows_key: str | None = None) -> None:
    if as_json or columns is None:
        json.dump(data, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return
    rows = data[rows_key] if rows_key else data
    table = [columns] + [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    for r in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    if not rows:
        print(f"(no {rows_key or 'rows'})")


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return value.get("type") or value.get("name") or json.dumps(value)
    if isinstance(value, list):
        return ",".join(str(v.get("name", v)) if isinstance(v, dict) else str(v) for v in value)
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
