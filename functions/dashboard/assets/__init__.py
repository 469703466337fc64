"""Static files of the dashboard, shipped in the package and served by the app itself (no CDN)."""
from __future__ import annotations

import hashlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
FILES = {p.name: p for p in HERE.iterdir() if p.suffix in TYPES}
VERSION = hashlib.sha256(b"".join(FILES[n].read_bytes() for n in sorted(FILES))).hexdigest()[:12]


def load(name: str) -> tuple[str, str] | None:
    """(text, content type) of a shipped asset, or None for any other name."""
    path = FILES.get(name)
    return (path.read_text(), TYPES[path.suffix]) if path else None
