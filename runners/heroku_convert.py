"""JobSpec -> Heroku Platform API requests, as plain values (checked against Heroku's schema in tests)."""
from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

ACCEPT = "application/vnd.heroku+json; version=3"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict | None = None


def headers(api_key: str) -> dict:
    return {"Authorization": f"Bearer {api_key}", "Accept": ACCEPT, "Content-Type": "application/json",
            "User-Agent": "tahobuddy"}


def _app(app: str) -> str:
    return urllib.parse.quote(app, safe="")


def create_source() -> Request:
    return Request("POST", "/sources")


def create_build(app: str, blob_url: str, sha: str, checksum: str) -> Request:
    return Request("POST", f"/apps/{_app(app)}/builds",
                   {"source_blob": {"url": blob_url, "version": sha, "checksum": f"SHA256:{checksum}"}})


def build_info(app: str, build_id: str) -> Request:
    return Request("GET", f"/apps/{_app(app)}/builds/{urllib.parse.quote(build_id, safe='')}")


def tarball(worktree: Path) -> tuple[bytes, str]:
    """The worktree (without .git) as a gzipped tarball, reproducible, and its SHA-256."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in worktree.rglob("*") if ".git" not in p.relative_to(worktree).parts):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(worktree)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if info.isfile():
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    packed = gzip.compress(raw.getvalue(), mtime=0)
    return packed, hashlib.sha256(packed).hexdigest()
