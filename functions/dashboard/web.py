"""Between Chalice and the screens: the page response (with its security headers), redirects,
form bodies, and the base path (API Gateway serves the
app under its stage, e.g. /api/, while `chalice local` serves it at /)."""
from __future__ import annotations

import urllib.parse

from chalice import Response

from functions.store import tokens
from functions.errors import NotFound, TahobuddyError
from functions.dashboard import session
from functions.dashboard.markup import Markup

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


class Page:
    """What a screen needs to know about the request it answers."""

    def __init__(self, request):
        self.request = request
        ctx = request.context or {}
        stage, path = ctx.get("stage") or "", ctx.get("path") or ""
        self.base = f"/{stage}" if stage and (path == f"/{stage}" or path.startswith(f"/{stage}/")) else ""
        self.session = session.read(session.from_header((request.headers or {}).get("cookie")))
        self.query = dict(request.query_params or {})

    def url(self, path: str, **query) -> str:
        q = {k: v for k, v in query.items() if v}
        return self.base + path + (("?" + urllib.parse.urlencode(q)) if q else "")

    @property
    def secure(self) -> bool:
        return (self.request.headers or {}).get("x-forwarded-proto", "http") == "https"

    def form(self) -> dict[str, str]:
        raw = self.request.raw_body or b""
        return {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode("utf-8", "replace")).items()}


def html(body: Markup, status: int = 200, headers: dict | None = None) -> Response:
    return Response(body=str(body), status_code=status,
                    headers={"Content-Type": "text/html; charset=utf-8", **HEADERS, **(headers or {})})


def json(doc: dict, status: int = 200) -> Response:
    return Response(body=doc, status_code=status, headers={"Content-Type": "application/json", **HEADERS})


def polled(p: Page, read) -> Response:
    """JSON for a live panel's poll: `read(after)` for the lines after the page's `after` cursor; 401
    once the session is gone, 400 for a cursor that is not a whole number, 404 for what `read` cannot find."""
    if p.session is None:
        return json({"error": "sign in again"}, 401)
    after = p.query.get("after", "0")
    if not after.isdigit():
        return json({"error": "after must be a whole number"}, 400)
    try:
        return json(read(int(after)))
    except NotFound as exc:
        return json({"error": str(exc)}, 404)


def redirect(location: str, headers: dict | None = None) -> Response:
    return Response(body="", status_code=303, headers={"Location": location, "Content-Type": "text/plain", **HEADERS, **(headers or {})})


def authenticate(token: str):
    """The token row for a sign-in attempt, or a message saying why not."""
    try:
        return tokens.authenticate(f"Bearer {token.strip()}", session.ROLE), ""
    except TahobuddyError as exc:
        return None, str(exc)
