"""A local stand-in for Heroku's Platform API (Heroku's servers cannot be reached from here).

Every request is matched to a link of Heroku's published hyper-schema (tests/fixtures/heroku) by method
and href template, its body is validated against the link's `schema`, and every answer is
validated against the link's `targetSchema` before it is sent. Heroku's `strictProperties` is
enforced as `additionalProperties: false`. A request the schema rejects is answered 422 and kept
in `violations`, so a test can fail on it. Blob uploads and build and release output streams are the
stand-in's own URLs (on Heroku they are S3 and output hosts, outside the Platform API).

The one departure from the published schema is written down in one place below:
`docker_releases_schema` (container releases).
"""
from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import re
import tarfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema

SCHEMA = Path(__file__).resolve().parent / "fixtures" / "heroku" / "platform-api-schema.json"
ACCEPT = "application/vnd.heroku+json; version=3"


# ---- THE ONE EXCEPTION to the published schema: container releases ------------------------------------
# Heroku's CLI (`heroku container:release`, heroku/cli packages/cli/src/commands/container/release.ts) and
# the Dev Center article "Container Registry & Runtime (Docker Deploys)" release a pushed image with
#     PATCH /apps/{app}/formation
#     Accept: application/vnd.heroku+json; version=3.docker-releases
#     {"updates": [{"type": "web", "docker_image": "<image id>"}]}
# The published hyper-schema has no `docker_image`: a formation update is type, quantity and dyno_size,
# with additionalProperties false. So the stand-in accepts `docker_image` (a string, a sha256 image id) in
# formation batch updates, and only when Accept carries `version=3.docker-releases`. Every other request
# and every answer is checked against the published schema unchanged.
DOCKER_RELEASES_ACCEPT = ACCEPT + ".docker-releases"
DOCKER_IMAGE = {"description": "image id (the pushed manifest's config.digest) to release for this process type",
                "type": ["string"], "pattern": "^sha256:[0-9a-f]{64}$"}


def docker_releases_schema(schema: "Schema", link: dict, accept: str | None) -> dict | None:
    """The request schema of `link` under the docker-releases Accept, or None where that Accept has no
    meaning (any link but the formation batch update): such a request is refused like any wrong Accept."""
    if accept != DOCKER_RELEASES_ACCEPT or link is not schema.formation_batch_update:
        return None
    update = copy.deepcopy(schema.definitions["formation"]["definitions"]["update"])
    update["properties"]["docker_image"] = DOCKER_IMAGE
    variant = copy.deepcopy(link["schema"])
    variant["properties"]["updates"]["items"] = update
    return variant
# ---- end of the exception --------------------------------------------------------------------------------


def _strict(node):
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if out.get("strictProperties") is True and "properties" in out:
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


class Schema:
    def __init__(self, path: Path = SCHEMA):
        root = _strict(json.loads(path.read_text()))
        self.definitions = root["definitions"]
        self.links = []
        for resource in self.definitions.values():
            for link in resource.get("links", []):
                pattern = re.sub(r"\{\([^)]*\)\}", "[^/]+", link["href"])
                self.links.append((link["method"], re.compile(f"^{pattern}$"), link))
        self.formation_batch_update = self.link("PATCH", "/apps/any/formation")

    def link(self, method: str, path: str) -> dict | None:
        for m, pattern, link in self.links:
            if m == method and pattern.match(path):
                return link
        return None

    def errors(self, schema: dict | None, doc) -> list[str]:
        if schema is None:
            return [] if doc in (None, {}) else ["this link takes no body"]
        wrapped = {"definitions": self.definitions, **schema}
        validator = jsonschema.Draft4Validator(wrapped)
        return [f"{'/'.join(map(str, e.path)) or '(body)'}: {e.message}" for e in validator.iter_errors(doc)]


class HerokuStandIn:
    """apps: name -> behaviour of its builds and releases ('succeed', 'fail', 'pending'; 'not-container':
    a docker release is refused with 422, as for an app not on the container stack; 'leaky': the release
    command prints the API key it was released with); keys: API keys it accepts."""

    def __init__(self, apps: dict[str, str], keys: set[str]):
        self.schema, self.apps, self.keys = Schema(), apps, keys
        self.blobs: dict[str, bytes] = {}
        self.builds: dict[str, dict] = {}
        self.releases: dict[str, list[dict]] = {}          # app -> its releases, oldest first
        self.docker_releases: list[dict] = []              # every accepted docker_image update
        self.requests: list[tuple[str, str]] = []
        self.violations: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # ---- the Platform API ------------------------------------------------------------
    def build_body(self, app: str, build: dict) -> dict:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        status = build["status"]
        if status == "pending" and self.apps[app] != "pending" and time.monotonic() > build["done_at"]:
            status = build["status"] = "failed" if self.apps[app] == "fail" else "succeeded"
        return {"app": {"id": build["app_id"]}, "buildpacks": [], "created_at": build["created_at"],
                "generation": "cedar", "id": build["id"],
                "output_stream_url": f"{self.url}/streams/{build['id']}", "source_blob": build["source_blob"],
                "release": {"id": build["release_id"]} if status == "succeeded" else None,
                "slug": {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, build["id"]))} if status == "succeeded" else None,
                "stack": "heroku-24", "status": status, "updated_at": now,
                "user": {"id": str(uuid.uuid4()), "email": "deployer@example.com"}}

    def release_body(self, app: str, release: dict) -> dict:
        if release["status"] == "pending" and self.apps[app] != "pending" and time.monotonic() > release["done_at"]:
            release["status"] = "failed" if self.apps[app] == "fail" else "succeeded"
        newest = self.releases[app][-1] is release
        return {"addon_plan_names": [], "artifacts": [], "app": {"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, app)),
                "name": app}, "created_at": release["created_at"], "description": release["description"],
                "id": release["id"], "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "slug": None,
                "status": release["status"], "user": {"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, "deployer")),
                "email": "deployer@example.com"}, "version": release["version"], "current": newest,
                "output_stream_url": f"{self.url}/release-streams/{release['id']}",
                "eligible_for_rollback": not newest}

    def release_images(self, app: str, updates: list[dict], api_key: str) -> tuple[int, object]:
        """A formation update with docker_image (only reached under the docker-releases Accept)."""
        if self.apps[app] == "not-container":
            return 422, {"id": "invalid_params", "message": f"{app} is on the heroku-24 stack; releasing a "
                         "Docker image needs the container stack (heroku stack:set container)"}
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        releases = self.releases.setdefault(app, [])
        types = ", ".join(f"{u['type']} ({u['docker_image'][7:19]})" for u in updates)
        releases.append({"id": str(uuid.uuid4()), "version": len(releases) + 1, "status": "pending",
                         "created_at": now, "done_at": time.monotonic() + 1.0, "description": f"Deployed {types}",
                         "api_key": api_key, "updates": updates})
        self.docker_releases += [{"app": app, **u} for u in updates]
        return 200, [{"app": {"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, app)), "name": app},
                      "command": "", "created_at": now, "dyno_size": {"name": "basic"},
                      "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{app}/{u['type']}")), "quantity": 1, "size": "basic",
                      "type": u["type"], "updated_at": now} for u in updates]

    def answer(self, method: str, path: str, body, headers=None) -> tuple[int, object]:
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/sources":
            blob = uuid.uuid4().hex
            return 201, {"source_blob": {"get_url": f"{self.url}/blobs/{blob}", "put_url": f"{self.url}/blobs/{blob}"}}
        app = urllib.parse.unquote(parts[1]) if len(parts) > 1 and parts[0] == "apps" else None
        if app is not None and app not in self.apps:
            return 404, {"id": "not_found", "message": "Couldn't find that app.", "resource": "app"}
        if method == "POST" and parts[2:] == ["builds"]:
            blob_id = body["source_blob"]["url"].rsplit("/", 1)[-1]
            blob = self.blobs.get(blob_id)
            if blob is None:
                return 422, {"id": "invalid_params", "message": "source_blob.url was never uploaded"}
            if body["source_blob"].get("checksum") != "SHA256:" + hashlib.sha256(blob).hexdigest():
                return 422, {"id": "invalid_params", "message": "source_blob.checksum does not match the blob"}
            tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))).getnames()  # a real gzipped tarball
            build = {"app": app, "id": str(uuid.uuid4()), "app_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, app)),
                     "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "status": "pending",
                     "done_at": time.monotonic() + 1.0, "release_id": str(uuid.uuid4()), "blob": blob_id,
                     "source_blob": {"checksum": body["source_blob"].get("checksum"), "url": body["source_blob"]["url"],
                                     "version": body["source_blob"].get("version"), "version_description": None}}
            self.builds[build["id"]] = build
            return 201, self.build_body(app, build)
        if method == "GET" and len(parts) == 4 and parts[2] == "builds" and parts[3] in self.builds:
            return 200, self.build_body(app, self.builds[parts[3]])
        if method == "PATCH" and parts[2:] == ["formation"]:
            if any("docker_image" not in u for u in body["updates"]):
                return 422, {"id": "invalid_params", "message": "this stand-in changes formations only by docker_image"}
            return self.release_images(app, body["updates"], headers["Authorization"][7:])
        if method == "GET" and parts[2:] == ["releases"]:
            listed = [self.release_body(app, r) for r in self.releases.get(app, [])]
            wanted = (headers or {}).get("Range") or ""
            if "order=desc" in wanted:
                listed.reverse()
            most = re.search(r"max=(\d+)", wanted)
            return 200, listed[:int(most.group(1))] if most else listed
        if method == "GET" and len(parts) == 4 and parts[2] == "releases":
            for r in self.releases.get(app, []):
                if parts[3] in (r["id"], str(r["version"])):
                    return 200, self.release_body(app, r)
        return 404, {"id": "not_found", "message": f"no {method} {path} in this stand-in"}

    def stream(self, build_id: str):
        build = self.builds[build_id]
        names = tarfile.open(fileobj=io.BytesIO(gzip.decompress(self.blobs[build["blob"]]))).getnames()
        yield "-----> Building on the Heroku-24 stack"
        for n in names:
            yield f"       {n}"
        while self.build_body(build["app"], build)["status"] == "pending" and time.monotonic() < build["done_at"] + 5:
            time.sleep(0.2)
        yield "-----> Build " + ("failed!" if build["status"] == "failed" else "succeeded!")

    def release_stream(self, release_id: str):
        release = next(r for rs in self.releases.values() for r in rs if r["id"] == release_id)
        app = next(a for a, rs in self.releases.items() if release in rs)
        yield "Running release command..."
        if self.apps[app] == "leaky":  # a release command that prints its environment
            yield f"HEROKU_API_KEY={release['api_key']}"
        yield f"migrating for {release['description']}"
        while self.release_body(app, release)["status"] == "pending" and time.monotonic() < release["done_at"] + 5:
            time.sleep(0.2)
        yield "release command " + ("exited 1" if release["status"] == "failed" else "finished")

    def _handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, doc, content_type="application/json"):
                data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def do_PUT(self):
                path = urllib.parse.urlparse(self.path).path
                if path.startswith("/blobs/"):
                    stand_in.blobs[path.rsplit("/", 1)[-1]] = self._body()
                    return self._send(200, b"", "text/plain")
                self._platform("PUT")

            def do_GET(self):
                path = urllib.parse.urlparse(self.path).path
                if path.startswith(("/streams/", "/release-streams/")):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    lines = stand_in.stream if path.startswith("/streams/") else stand_in.release_stream
                    for line in lines(path.rsplit("/", 1)[-1]):
                        self.wfile.write((line + "\n").encode())
                        self.wfile.flush()
                    return
                self._platform("GET")

            def do_POST(self):
                self._platform("POST")

            def do_PATCH(self):
                self._platform("PATCH")

            def _platform(self, method: str):
                path = urllib.parse.urlparse(self.path).path
                raw = self._body()
                stand_in.requests.append((method, path))
                link = stand_in.schema.link(method, path)
                if link is None:
                    stand_in.violations.append(f"{method} {path}: no such link in the schema")
                    return self._send(404, {"id": "not_found", "message": "no such link"})
                request_schema = link.get("schema")
                if self.headers.get("Accept") != ACCEPT:
                    request_schema = docker_releases_schema(stand_in.schema, link, self.headers.get("Accept"))
                    if request_schema is None:
                        stand_in.violations.append(f"{method} {path}: Accept is {self.headers.get('Accept')!r}")
                        return self._send(400, {"id": "bad_request", "message": f"Accept must be {ACCEPT}"})
                auth = self.headers.get("Authorization", "")
                if not auth.startswith("Bearer ") or auth[7:] not in stand_in.keys:
                    return self._send(401, {"id": "unauthorized", "message": "Invalid credentials provided."})
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    stand_in.violations.append(f"{method} {path}: body is not JSON")
                    return self._send(400, {"id": "bad_request", "message": "body is not JSON"})
                errors = stand_in.schema.errors(request_schema, body)
                if errors:
                    stand_in.violations.append(f"{method} {path}: {errors}")
                    return self._send(422, {"id": "invalid_params", "message": "; ".join(errors)})
                status, doc = stand_in.answer(method, path, copy.deepcopy(body), self.headers)
                if status < 400:
                    bad = stand_in.schema.errors(link.get("targetSchema"), doc)
                    if bad:  # the stand-in's own bug: make it loud in the test
                        stand_in.violations.append(f"answer to {method} {path} breaks targetSchema: {bad}")
                        return self._send(500, {"id": "standin_bug", "message": str(bad)})
                self._send(status, doc)

        return Handler
