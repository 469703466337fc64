"""A local stand-in for GitHub's REST API (api.github.com cannot be reached from here).

Every request is matched to an operation of GitHub's published OpenAPI description (npm
`@octokit/openapi`, `generated/api.github.com.json`, fetched by local/fixtures.sh) by method and
path template; its path and query parameters and its JSON body are validated against the
operation's schemas, and every answer is validated against the operation's response schema before
it is sent. OpenAPI 3.0's `nullable` becomes JSON Schema's `null` type; the spec's `components` sit
beside each schema so `$ref`s resolve. A request body with a field the operation does not name is
refused too (GitHub ignores them; here they are typos). A refused request is answered 422 and kept
in `violations`, so a test can fail on it.

It implements what Tahobuddy calls: commit statuses, deployments and their statuses, repository
webhooks, their deliveries and redelivery, issue (pull request) comments, made, edited and deleted
(an unknown comment id is a 404, as on GitHub), and GitHub App installation tokens (the JWT verified
with the App's public key). `outage(seconds)` answers 502 to everything for a while.
"""
from __future__ import annotations

import copy
import functools
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import jwt

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / ".tahobuddy" / "npm" / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
OPERATIONS = {  # (method, template): what the stand-in answers; anything else in the spec is a 404 here
    ("POST", "/repos/{owner}/{repo}/statuses/{sha}"),
    ("POST", "/repos/{owner}/{repo}/deployments"),
    ("POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("GET", "/repos/{owner}/{repo}/hooks"),
    ("POST", "/repos/{owner}/{repo}/hooks"),
    ("PATCH", "/repos/{owner}/{repo}/hooks/{hook_id}"),
    ("GET", "/repos/{owner}/{repo}/hooks/{hook_id}/deliveries"),
    ("POST", "/repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}/attempts"),
    ("POST", "/app/installations/{installation_id}/access_tokens"),
    ("GET", "/repos/{owner}/{repo}/installation"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
}


def _nullable(node):
    """OpenAPI 3.0 `nullable: true` -> JSON Schema's null type."""
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = out["enum"] + [None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@functools.lru_cache(maxsize=1)
def load_spec(path: Path = SPEC) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run local/fixtures.sh (it fetches npm @octokit/openapi)")
    return _nullable(json.loads(path.read_text()))


class Spec:
    def __init__(self, doc: dict):
        self.doc, self.components = doc, doc["components"]
        self.operations = []
        for template, item in doc["paths"].items():
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            for method, op in item.items():
                if (method.upper(), template) in OPERATIONS:
                    self.operations.append((method.upper(), re.compile(f"^{pattern}$"), template, op))

    def resolve(self, node: dict) -> dict:
        while isinstance(node, dict) and "$ref" in node:
            kind, name = node["$ref"].split("/")[-2:]
            node = self.components[kind][name]
        return node

    def operation(self, method: str, path: str):
        for m, pattern, template, op in self.operations:
            hit = pattern.match(path) if m == method else None
            if hit:
                return template, op, hit.groupdict()
        return None, None, None

    def errors(self, schema: dict | None, doc, where: str) -> list[str]:
        if schema is None:
            return []
        validator = jsonschema.Draft7Validator({"components": self.components, **schema})
        return [f"{where}{'/'.join(map(str, e.path)) or ''}: {e.message}" for e in validator.iter_errors(doc)]

    def request_errors(self, op: dict, params: dict, query: dict, body) -> list[str]:
        out = []
        for p in (self.resolve(p) for p in op.get("parameters", [])):
            values = params if p["in"] == "path" else query if p["in"] == "query" else None
            if values is None or p["name"] not in values:
                if values is not None and p.get("required"):
                    out.append(f"{p['in']} parameter {p['name']} is required")
                continue
            raw = values[p["name"]]
            schema = self.resolve(p.get("schema", {}))
            value = int(raw) if schema.get("type") == "integer" and raw.isdigit() else raw
            out += self.errors(p.get("schema"), value, f"{p['in']} {p['name']}")
        declared = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
        if declared is None:
            return out + ([] if body in (None, {}) else ["this operation takes no body"])
        if body is None:
            return out + (["a JSON body is required"] if op["requestBody"].get("required") else [])
        unknown = set(body) - set(declared.get("properties", {})) if isinstance(body, dict) else set()
        out += [f"body: {k!r} is not a field of this operation" for k in sorted(unknown)]
        return out + self.errors(declared, body, "body ")

    def answer_errors(self, op: dict, status: int, doc) -> list[str]:
        response = self.resolve(op["responses"].get(str(status), {}))
        if not response:
            return [f"the spec declares no {status} answer"]
        schema = (response.get("content") or {}).get("application/json", {}).get("schema")
        return self.errors(schema, doc, "answer ")


def _user(login: str = "tahobuddy[bot]", uid: int = 1) -> dict:
    base = f"https://api.github.com/users/{login}"
    return {"login": login, "id": uid, "node_id": f"U_{uid}", "avatar_url": "", "gravatar_id": "",
            "url": base, "html_url": f"https://github.com/{login}", "followers_url": base + "/followers",
            "following_url": base + "/following{/other_user}", "gists_url": base + "/gists{/gist_id}",
            "starred_url": base + "/starred{/owner}{/repo}", "subscriptions_url": base + "/subscriptions",
            "organizations_url": base + "/orgs", "repos_url": base + "/repos", "events_url": base + "/events{/privacy}",
            "received_events_url": base + "/received_events", "type": "Bot", "site_admin": False}


def _stamp(t: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t if t is not None else time.time()))


@dataclass
class App:
    """A GitHub App the stand-in knows: its id, public key (to verify JWTs) and installation."""
    app_id: int
    public_key: str
    installation_id: int = 77
    token_seconds: int = 3600            # installation tokens live this long (GitHub: one hour)
    issued: list = field(default_factory=list)


class GitHubStandIn:
    """tokens: personal access tokens it accepts; app: a GitHub App whose installation tokens it issues."""

    def __init__(self, tokens: set[str] = frozenset(), app: App | None = None):
        self.spec = Spec(load_spec())
        self.tokens, self.app = set(tokens), app
        self.requests: list[tuple[str, str, object, int]] = []   # (method, template, body, status answered)
        self.violations: list[str] = []
        self.statuses: list[dict] = []                           # with repo and sha added
        self.deployments: dict[int, dict] = {}
        self.deployment_statuses: list[dict] = []                # with deployment_id added
        self.hooks: dict[str, list[dict]] = {}                   # repo -> hooks
        self.deliveries: dict[int, list[dict]] = {}              # hook id -> deliveries, newest first
        self.redelivered: list[tuple[int, int]] = []
        self.hidden: set[str] = set()                            # repos the credentials cannot see: 404
        self.comments: dict[int, dict] = {}                      # id -> comment, with repo and issue added
        self._down_until = 0.0
        self._ids = iter(range(1000, 10**9))
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def outage(self, seconds: float) -> None:
        """Answer 502 to every request for `seconds` from now."""
        self._down_until = time.monotonic() + seconds

    def down(self) -> bool:
        return time.monotonic() < self._down_until

    def add_delivery(self, repo: str, hook_id: int, status_code: int, event: str = "push") -> dict:
        """A delivery GitHub made (the stand-in does not send webhooks itself)."""
        d = {"id": next(self._ids), "guid": f"guid-{next(self._ids)}", "delivered_at": _stamp(), "redelivery": False,
             "duration": 0.1, "status": "OK" if status_code < 400 else "failed", "status_code": status_code,
             "event": event, "action": None, "installation_id": None, "repository_id": 1}
        self.deliveries.setdefault(hook_id, []).insert(0, d)
        return d

    # ---- auth -----------------------------------------------------------------------
    def _token_ok(self, auth: str) -> bool:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            return False
        if value in self.tokens:
            return True
        return bool(self.app) and any(t == value and exp > time.time() for t, exp in self.app.issued)

    def _jwt_error(self, auth: str) -> str | None:
        if not self.app:
            return "no GitHub App here"
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer":
            return "an App authenticates with 'Bearer <JWT>'"
        try:
            claims = jwt.decode(value, self.app.public_key, algorithms=["RS256"],
                                options={"require": ["iat", "exp", "iss"]})
        except jwt.PyJWTError as exc:
            return f"A JSON web token could not be decoded ({exc})"
        if str(claims["iss"]) != str(self.app.app_id):
            return f"the JWT's iss {claims['iss']!r} is not this App"
        if claims["exp"] - claims["iat"] > 600:
            return "Expiration time' claim ('exp') is too far in the future"
        return None

    # ---- the REST API ----------------------------------------------------------------
    def answer(self, method: str, template: str, p: dict, body, query: dict) -> tuple[int, object]:
        repo = f"{p.get('owner')}/{p.get('repo')}"
        api = f"https://api.github.com/repos/{repo}"
        now = _stamp()
        if template.endswith("/statuses/{sha}"):
            sid = next(self._ids)
            self.statuses.append({**body, "repo": repo, "sha": p["sha"]})
            return 201, {"url": f"{api}/statuses/{p['sha']}", "avatar_url": None, "id": sid, "node_id": f"SC_{sid}",
                         "state": body["state"], "description": body.get("description"),
                         "target_url": body.get("target_url"), "context": body.get("context", "default"),
                         "created_at": now, "updated_at": now, "creator": _user()}
        if template.endswith("/deployments"):
            did = next(self._ids)
            dep = {"url": f"{api}/deployments/{did}", "id": did, "node_id": f"DE_{did}", "sha": body["ref"],
                   "ref": body["ref"], "task": body.get("task", "deploy"), "payload": body.get("payload") or {},
                   "original_environment": body.get("environment", "production"),
                   "environment": body.get("environment", "production"), "description": body.get("description"),
                   "creator": _user(), "created_at": now, "updated_at": now,
                   "statuses_url": f"{api}/deployments/{did}/statuses", "repository_url": api,
                   "transient_environment": body.get("transient_environment", False),
                   "production_environment": body.get("production_environment", False)}
            self.deployments[did] = {**dep, "repo": repo, "request": body}
            return 201, dep
        if template.endswith("/deployments/{deployment_id}/statuses"):
            did = int(p["deployment_id"])
            if did not in self.deployments:
                return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
            sid = next(self._ids)
            self.deployment_statuses.append({**body, "deployment_id": did})
            return 201, {"url": f"{api}/deployments/{did}/statuses/{sid}", "id": sid, "node_id": f"DES_{sid}",
                         "state": body["state"], "creator": _user(), "description": body.get("description", ""),
                         "environment": body.get("environment", self.deployments[did]["environment"]),
                         "target_url": body.get("log_url", body.get("target_url", "")), "created_at": now,
                         "updated_at": now, "deployment_url": f"{api}/deployments/{did}", "repository_url": api,
                         "environment_url": body.get("environment_url", ""), "log_url": body.get("log_url", "")}
        if template.startswith("/repos/{owner}/{repo}/issues/"):
            return self._comment(method, repo, p, body, now)
        if template == "/repos/{owner}/{repo}/hooks" and method == "GET":
            return 200, [self._hook_doc(repo, h) for h in self.hooks.get(repo, [])]
        if template == "/repos/{owner}/{repo}/hooks":
            hid = next(self._ids)
            hook = {"id": hid, "active": body.get("active", True), "events": body.get("events", ["push"]),
                    "config": body.get("config", {}), "created_at": now, "updated_at": now}
            self.hooks.setdefault(repo, []).append(hook)
            return 201, self._hook_doc(repo, hook)
        if template.endswith("/hooks/{hook_id}"):
            hook = next((h for h in self.hooks.get(repo, []) if h["id"] == int(p["hook_id"])), None)
            if hook is None:
                return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
            for key in ("active", "events"):
                if key in body:
                    hook[key] = body[key]
            hook["config"] = {**hook["config"], **body.get("config", {})}
            hook["updated_at"] = now
            return 200, self._hook_doc(repo, hook)
        if template.endswith("/deliveries"):
            return 200, self.deliveries.get(int(p["hook_id"]), [])[:int(query.get("per_page", 30))]
        if template.endswith("/attempts"):
            hid, did = int(p["hook_id"]), int(p["delivery_id"])
            original = next((d for d in self.deliveries.get(hid, []) if d["id"] == did), None)
            if original is None:
                return 400, {"message": "no such delivery", "documentation_url": "https://docs.github.com/rest"}
            self.redelivered.append((hid, did))
            again = self.add_delivery(repo, hid, 200, original["event"])
            again.update(redelivery=True, guid=original["guid"])
            return 202, {}
        if template.endswith("/installation"):
            i = self.app.installation_id
            return 200, {"id": i, "account": None, "repository_selection": "selected",
                         "access_tokens_url": f"{self.url}/app/installations/{i}/access_tokens",
                         "repositories_url": "https://api.github.com/installation/repositories",
                         "html_url": f"https://github.com/settings/installations/{i}", "app_id": self.app.app_id,
                         "target_id": 1, "target_type": "Organization", "permissions": {}, "events": [],
                         "created_at": now, "updated_at": now, "single_file_name": None, "app_slug": "tahobuddy",
                         "suspended_by": None, "suspended_at": None}
        if template.endswith("/access_tokens"):
            if int(p["installation_id"]) != self.app.installation_id:
                return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
            token, expires = f"ghs_{next(self._ids)}", time.time() + self.app.token_seconds
            self.app.issued.append((token, expires))
            return 201, {"token": token, "expires_at": _stamp(expires),
                         "permissions": {"statuses": "write", "deployments": "write"}, "repository_selection": "all"}
        return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}

    def _comment(self, method: str, repo: str, p: dict, body, now: str) -> tuple[int, object]:
        if method == "POST":
            cid, number = next(self._ids), int(p["issue_number"])
            self.comments[cid] = {"id": cid, "repo": repo, "issue": number, "body": body["body"], "created_at": now}
        else:
            cid = int(p["comment_id"])
            if self.comments.get(cid, {}).get("repo") != repo:
                return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
            if method == "DELETE":
                del self.comments[cid]
                return 204, None
            self.comments[cid]["body"] = body["body"]
        c = self.comments[cid]
        api = f"https://api.github.com/repos/{repo}"
        return (201 if method == "POST" else 200), {
            "id": cid, "node_id": f"IC_{cid}", "url": f"{api}/issues/comments/{cid}", "body": c["body"],
            "html_url": f"https://github.com/{repo}/pull/{c['issue']}#issuecomment-{cid}",
            "issue_url": f"{api}/issues/{c['issue']}", "user": _user(), "created_at": c["created_at"],
            "updated_at": now, "author_association": "NONE", "performed_via_github_app": None}

    def comments_on(self, repo: str, issue: int) -> list[dict]:
        return [c for c in self.comments.values() if c["repo"] == repo and c["issue"] == issue]

    def _hook_doc(self, repo: str, hook: dict) -> dict:
        url = f"https://api.github.com/repos/{repo}/hooks/{hook['id']}"
        config = {k: v for k, v in hook["config"].items() if k != "secret"}
        if "secret" in hook["config"]:
            config["secret"] = "********"  # GitHub never shows a hook's secret
        return {"type": "Repository", "id": hook["id"], "name": "web", "active": hook["active"],
                "events": hook["events"], "config": config, "updated_at": hook["updated_at"],
                "created_at": hook["created_at"], "url": url, "test_url": url + "/test", "ping_url": url + "/pings",
                "deliveries_url": url + "/deliveries",
                "last_response": {"code": None, "status": "unused", "message": None}}

    def _handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, doc):
                data = b"" if doc is None else json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._api("GET")

            def do_POST(self):
                self._api("POST")

            def do_PATCH(self):
                self._api("PATCH")

            def do_DELETE(self):
                self._api("DELETE")

            def _api(self, method: str):
                url = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                status, doc, template, body = stand_in._serve(method, url.path, query, raw, self.headers)
                stand_in.requests.append((method, template or url.path, body, status))
                self._send(status, doc)

        return Handler

    def _serve(self, method, path, query, raw, headers):
        if self.down():
            return 502, {"message": "Server Error"}, None, None
        template, op, params = self.spec.operation(method, path)
        if op is None:
            self.violations.append(f"{method} {path}: not an operation this stand-in serves from the spec")
            return 404, {"message": "Not Found"}, None, None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self.violations.append(f"{method} {path}: body is not JSON")
            return 400, {"message": "Problems parsing JSON"}, template, None
        if not headers.get("Accept", "").startswith("application/vnd.github"):
            self.violations.append(f"{method} {path}: Accept is {headers.get('Accept')!r}")
        errors = self.spec.request_errors(op, params, query, body)
        if errors:
            self.violations.append(f"{method} {template}: {errors}")
            return 422, {"message": "Validation Failed", "errors": errors}, template, body
        auth = headers.get("Authorization", "")
        if template.startswith("/app/") or template.endswith("/installation"):
            why = self._jwt_error(auth)
            if why:
                return 401, {"message": why, "documentation_url": "https://docs.github.com/rest"}, template, body
        elif not self._token_ok(auth):
            bad = {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
            return 401, bad, template, body
        if f"{params.get('owner')}/{params.get('repo')}" in self.hidden:
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, template, body
        with self._lock:
            status, doc = self.answer(method, template, params, copy.deepcopy(body) if body else {}, query)
        if status < 300:
            bad = self.spec.answer_errors(op, status, doc)
            if bad:  # the stand-in's own bug: make it loud in the test
                self.violations.append(f"answer to {method} {template} breaks the spec: {bad}")
                return 500, {"message": str(bad)}, template, body
        return status, doc, template, body
