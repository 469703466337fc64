"""A thin client of the OCI distribution API (`/v2/`), for what `docker push` and `pull` do not do: list a
repository's tags, read when each image was made, delete a manifest by digest.

It authenticates as the registry asks (a 401's WWW-Authenticate): Basic with the agent's registry
credentials, or a Bearer token fetched from the realm the registry names (GHCR, Docker Hub, ECR, distribution
with token auth), for the scope it names. The credentials are the ones pushes use (runners.image_registry.auth),
held for the calls of one job; nothing is written to disk. A loopback registry is spoken to over plain HTTP, as
dockerd and skopeo do.
"""
from __future__ import annotations

import datetime
import re

import requests

MANIFESTS = ", ".join((
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"))
INDEXES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_CREATED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


class DistributionError(RuntimeError):
    """A registry that could not be reached or refused a call; the message says which and what it answered."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


def loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0]
    return name in ("localhost", "[::1]") or name.startswith("127.")


def created_at(text) -> float | None:
    """Epoch seconds of an image config's `created` (RFC 3339, nanoseconds allowed); None when unreadable."""
    m = _CREATED.match(str(text or ""))
    if not m:
        return None
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    whole = datetime.datetime.fromisoformat(m.group(1) + zone).timestamp()
    return whole + (float("0" + m.group(2)) if m.group(2) else 0.0)


class Distribution:
    """One registry (host[:port][/path]) as seen with one set of credentials."""

    def __init__(self, registry: str, auth_config: dict, timeout: float = 10.0):
        host, _, self.path = registry.rstrip("/").partition("/")
        self.host = host
        self.base = f"{'http' if loopback(host) else 'https'}://{host}"
        self.basic = (auth_config["username"], auth_config["password"]) if auth_config else None
        self.timeout = timeout
        self.session = requests.Session()
        self._auth = None  # what the last 401 asked for: sent first from then on

    def name(self, app: str) -> str:
        """The repository name of `app` in this registry (its path, if any, then the app)."""
        return f"{self.path}/{app}" if self.path else app

    # ---- calls -------------------------------------------------------------------------------
    def tags(self, repo: str) -> list[str]:
        """Every tag of `repo` (the registry's pages followed); [] when the repository does not exist."""
        out, url = [], f"/v2/{repo}/tags/list?n=200"
        while url:
            r = self._call("GET", url)
            if r.status_code == 404:
                return out
            self._check(r, f"list the tags of {repo}")
            out += self._json(r).get("tags") or []
            nxt = re.search(r"<([^>]+)>;\s*rel=\"?next\"?", r.headers.get("Link", ""))
            url = nxt.group(1) if nxt else ""
        return out

    def manifest(self, repo: str, reference: str) -> tuple[str, dict]:
        """(digest, manifest) of a tag or digest; ("", {}) when it is gone."""
        r = self._call("GET", f"/v2/{repo}/manifests/{reference}", {"Accept": MANIFESTS})
        if r.status_code == 404:
            return "", {}
        self._check(r, f"read {repo}:{reference}")
        return r.headers.get("Docker-Content-Digest", ""), self._json(r)

    def created(self, repo: str, manifest: dict) -> float | None:
        """When the image of `manifest` was made, from its config (an index: its first image's); None unknown."""
        if manifest.get("mediaType") in INDEXES or "manifests" in manifest:
            images = [m for m in manifest.get("manifests") or []
                      if "vnd.docker.reference.type" not in (m.get("annotations") or {})]  # not an attestation
            if not images:
                return None
            manifest = self.manifest(repo, images[0]["digest"])[1]
        config = (manifest.get("config") or {}).get("digest")
        if not config:
            return None
        r = self._call("GET", f"/v2/{repo}/blobs/{config}")
        if r.status_code == 404:
            return None
        self._check(r, f"read the config of an image of {repo}")
        return created_at(self._json(r).get("created"))

    def delete(self, repo: str, digest: str) -> bool:
        """Delete the manifest `digest` and every tag on it; False when it was already gone."""
        r = self._call("DELETE", f"/v2/{repo}/manifests/{digest}")
        if r.status_code == 404:
            return False
        if r.status_code == 405:
            raise DistributionError(f"registry {self.host} refused to delete {repo}@{digest[:19]}: 405 "
                                    f"({self._error(r) or 'deletes are disabled'}); distribution deletes only "
                                    "with storage.delete.enabled: true in its config", 405)
        self._check(r, f"delete {repo}@{digest[:19]}")
        return True

    # ---- plumbing ----------------------------------------------------------------------------
    def _call(self, method: str, url: str, headers: dict | None = None) -> requests.Response:
        """One call, made again once with the credentials a 401 asked for (a Bearer token is for one scope: a
        delete after reads asks for another)."""
        headers = dict(headers or {})
        try:
            r = self._send(method, url, headers, self._auth)
            if r.status_code != 401:
                return r
            auth = self._authorization(r.headers.get("WWW-Authenticate", ""))
            if auth is None:
                return r
            self._auth = auth
            return self._send(method, url, headers, auth)
        except requests.RequestException as exc:
            raise DistributionError(f"registry {self.host} did not answer ({exc.__class__.__name__})") from exc

    def _send(self, method: str, url: str, headers: dict, auth) -> requests.Response:
        full = url if url.startswith("http") else self.base + url
        if isinstance(auth, str):
            return self.session.request(method, full, headers={**headers, "Authorization": auth},
                                        timeout=self.timeout)
        return self.session.request(method, full, headers=headers, auth=auth, timeout=self.timeout)

    def _authorization(self, challenge: str):
        """What to answer a 401's challenge with: Basic credentials, a Bearer header, or None (nothing to try)."""
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            return self.basic
        if scheme != "bearer":
            return None
        params = dict(_CHALLENGE.findall(challenge))
        if not params.get("realm"):
            return None
        query = {k: params[k] for k in ("service", "scope") if params.get(k)}
        try:
            r = self.session.get(params["realm"], params=query, auth=self.basic, timeout=self.timeout)
        except requests.RequestException as exc:
            raise DistributionError(f"registry {self.host}'s token service did not answer "
                                    f"({exc.__class__.__name__})") from exc
        self._check(r, "get a token")
        token = self._json(r).get("token") or self._json(r).get("access_token")
        return f"Bearer {token}" if token else None

    def _check(self, r: requests.Response, what: str) -> None:
        if r.status_code >= 400:
            detail = self._error(r)
            raise DistributionError(f"registry {self.host} refused to {what}: {r.status_code}"
                                    f"{f' ({detail})' if detail else ''}", r.status_code)

    @staticmethod
    def _json(r: requests.Response) -> dict:
        try:
            doc = r.json()
        except ValueError as exc:
            raise DistributionError(f"registry answered {r.url} with no JSON") from exc
        return doc if isinstance(doc, dict) else {}

    @staticmethod
    def _error(r: requests.Response) -> str:
        try:
            errors = r.json().get("errors") or []
            return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors)[:200]
        except (ValueError, AttributeError):
            return ""
