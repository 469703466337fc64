"""JobSpec -> Heroku Platform API requests and Container Registry names, as plain values (checked
against Heroku's schema in tests)."""
from __future__ import annotations

import gzip
import hashlib
import io
import ipaddress
import re
import tarfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

ACCEPT = "application/vnd.heroku+json; version=3"
# the variant of the API that takes `docker_image` in a formation update (heroku container:release sends it)
DOCKER_RELEASES_ACCEPT = ACCEPT + ".docker-releases"
# Heroku's registry takes only this manifest type: no OCI index, no attestation manifests beside it
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
PLATFORM = "linux/amd64"   # the only platform Heroku's dynos run
NEWEST_RELEASE = "version ..; max=1, order=desc"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict | None = None
    accept: str = ACCEPT
    range: str = ""


def headers(api_key: str, accept: str = ACCEPT, range_: str = "") -> dict:
    out = {"Authorization": f"Bearer {api_key}", "Accept": accept, "Content-Type": "application/json",
           "User-Agent": "tahobuddy"}
    if range_:
        out["Range"] = range_
    return out


def _app(app: str) -> str:
    return urllib.parse.quote(app, safe="")


def create_source() -> Request:
    return Request("POST", "/sources")


def create_build(app: str, blob_url: str, sha: str, checksum: str) -> Request:
    return Request("POST", f"/apps/{_app(app)}/builds",
                   {"source_blob": {"url": blob_url, "version": sha, "checksum": f"SHA256:{checksum}"}})


def build_info(app: str, build_id: str) -> Request:
    return Request("GET", f"/apps/{_app(app)}/builds/{urllib.parse.quote(build_id, safe='')}")


def newest_release(app: str) -> Request:
    """The app's newest release (as `heroku container:release` asks): compared before and after the
    formation update, it says whether Heroku made a new release and which one to follow."""
    return Request("GET", f"/apps/{_app(app)}/releases", range=NEWEST_RELEASE)


def release_info(app: str, release_id: str) -> Request:
    return Request("GET", f"/apps/{_app(app)}/releases/{urllib.parse.quote(release_id, safe='')}")


def release_image(app: str, process_type: str, image_id: str) -> Request:
    """Release a pushed image: the formation update of Heroku's Container Registry & Runtime docs."""
    return Request("PATCH", f"/apps/{_app(app)}/formation",
                   {"updates": [{"type": process_type, "docker_image": image_id}]}, accept=DOCKER_RELEASES_ACCEPT)


# ---- the Container Registry ----------------------------------------------------------------
def image_repository(registry: str, app: str, process_type: str) -> str:
    """`<registry>/<app>/<process_type>`, where Heroku looks for a process type's image."""
    for what, value in (("app", app), ("process_type", process_type)):
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", value or ""):
            raise ValueError(f"heroku {what} {value!r} cannot name a registry repository: use lowercase "
                             "letters, digits, '.', '_' and '-'")
    return f"{registry.rstrip('/')}/{app}/{process_type}"


def registry_auth(api_key: str) -> dict:
    """Heroku's registry takes the user `_` and the API key as password."""
    return {"username": "_", "password": api_key}


def manifest_url(registry: str, app: str, process_type: str, tag: str = "latest") -> str:
    """The manifest's URL; plain HTTP only for a registry on loopback (as dockerd allows), HTTPS elsewhere."""
    host = registry.rstrip("/")
    scheme = "http" if _loopback(urllib.parse.urlsplit(f"//{host}").hostname or "") else "https"
    return f"{scheme}://{host}/v2/{app}/{process_type}/manifests/{tag}"


def _loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def image_id(manifest: dict) -> str:
    """The image id Heroku releases: the pushed manifest's `config.digest`. Anything but a single
    schema-2 manifest (an OCI index, an attestation list, schema 1) is refused, as Heroku refuses it."""
    media_type = manifest.get("mediaType")
    if manifest.get("schemaVersion") != 2 or media_type != MANIFEST_V2:
        raise ValueError(f"the registry holds a {media_type or 'schema ' + str(manifest.get('schemaVersion'))} "
                         f"manifest, not {MANIFEST_V2}; Heroku releases only single-platform schema-2 images "
                         f"(build for {PLATFORM} without provenance attestations)")
    digest = (manifest.get("config") or {}).get("digest", "")
    if not _DIGEST.match(digest):
        raise ValueError(f"the manifest's config.digest {digest!r} is not a sha256 image id")
    return digest


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
