"""GitLab's and Gitea's (and Forgejo's) commit-status API on loopback, for the tests: neither server
can run here, so the stand-in checks every request against the operation each forge publishes,
vendored in tests/fixtures/forge_apis/ (GitLab's OpenAPI v2 description, Gitea's swagger document):
method, path, the token header, the content type and the body (jsonschema against the published
definition). A request it refuses gets a 422 naming why, and is kept in `violations`.
"""
from __future__ import annotations

import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema

APIS = Path(__file__).resolve().parent / "fixtures" / "forge_apis"
DESCRIPTION = {"gitlab": "gitlab_commit_status.json", "gitea": "gitea_commit_status.json",
               "forgejo": "gitea_commit_status.json"}
AUTH = {"gitlab": ("PRIVATE-TOKEN", "{}"), "gitea": ("Authorization", "token {}"),
        "forgejo": ("Authorization", "token {}")}


def description(forge: str) -> dict:
    return json.loads((APIS / DESCRIPTION[forge]).read_text())


def _path_pattern(template: str) -> re.Pattern:
    """'/api/v4/projects/{id}/statuses/{sha}' -> a regex with one group per parameter."""
    return re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")


class ForgeStandIn:
    """One forge's status API; `statuses` holds what it accepted (project or owner/repo, sha, body)."""

    def __init__(self, forge: str, token: str):
        self.forge, self.token = forge, token
        self.doc = description(forge)
        self.path = _path_pattern(self.doc["operation"]["path"])
        [body] = [p for p in self.doc["operation"]["parameters"] if p["in"] == "body"]
        self.schema = {**body["schema"], "definitions": self.doc["definitions"]}
        self.statuses: list[dict] = []
        self.violations: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                problem, accepted = stand_in.check(self.command, self.path, self.headers, raw)
                if problem:
                    stand_in.violations.append(problem)
                else:
                    stand_in.statuses.append(accepted)
                answer = json.dumps({"message": problem} if problem else
                                    {"id": len(stand_in.statuses), **accepted["body"]}).encode()
                self.send_response(422 if problem else 201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_PUT = do_PATCH = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        base = "/api/v4" if forge == "gitlab" else "/api/v1"
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{base}"

    def check(self, method: str, path: str, headers, raw: bytes) -> tuple[str, dict]:
        """('', what was accepted) when the request is what the forge's published operation takes,
        else (why not, {})."""
        op = self.doc["operation"]
        if method != op["method"]:
            return f"method {method}, want {op['method']}", {}
        match = self.path.match(path.split("?", 1)[0])
        if not match:
            return f"path {path} is not {op['path']}", {}
        params = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
        if not re.fullmatch(r"[0-9a-f]{40}", params["sha"]):
            return f"sha {params['sha']!r} is not a commit", {}
        if self.forge == "gitlab" and not (params["id"].isdigit() or "/" in params["id"]):
            return "id must be a project id or a URL-encoded namespace/path", {}
        header, form = AUTH[self.forge]
        if headers.get(header) != form.format(self.token):
            return f"missing or wrong {header}", {}
        if (headers.get("Content-Type") or "").split(";")[0] != "application/json":
            return "Content-Type must be application/json", {}
        try:
            body = json.loads(raw)
            jsonschema.validate(body, self.schema)
        except ValueError:
            return "body is not JSON", {}
        except jsonschema.ValidationError as exc:
            return f"body refused by {op['operationId']}: {exc.message}", {}
        return "", {"params": params, "body": body}

    def states(self, sha: str) -> list[str]:
        return [s["body"]["state"] for s in self.statuses if s["params"]["sha"] == sha]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
