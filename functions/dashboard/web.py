"""Between Chalice and the screens: the page response (with its security headers), redirects,
the signed-in gate, form bodies with their CSRF check, and the base path (API Gateway serves the
app under its stage, e.g. /api/, while `chalice local` serves it at /)."""
from __future__ import annotations

import functools
import urllib.parse

from chalice import Response

from functions.store import audit, tokens
from functions.errors import TahobuddyError
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


def redirect(location: str, headers: dict | None = None) -> Response:
    return Response(body="", status_code=303, headers={"Location": location, "Content-Type": "text/plain", **HEADERS, **(headers or {})})


def signed_in(view):
    """Send a visitor with no valid session to the sign-in page (remembering where they were going)."""
    @functools.wraps(view)
    def gate(page: Page, *args, **kwargs):
        if page.session is None:
            return redirect(page.url("/login", next=_here(page)))
        with audit.acting_as(page.session.row):
            return view(page, *args, **kwargs)
    return gate


def _here(page: Page) -> str:
    path = (page.request.context or {}).get("path") or "/"
    return path[len(page.base):] or "/"


def mutating(view):
    """A signed-in POST whose form carries the CSRF token of its session; anything else is a 403."""
    @functools.wraps(view)
    @signed_in
    def check(page: Page, *args, **kwargs):
        form = page.form()
        if not page.session.csrf_ok(form.get("csrf")):
            from functions.dashboard.layout import problem
            return problem(page, 403, "This form is out of date or came from another site (no valid CSRF token). "
                                      "Reload the page and try again.")
        return view(page, form, *args, **kwargs)
    return check


def authenticate(token: str):
    """The token row for a sign-in attempt, or a message saying why not."""
    try:
        return tokens.authenticate(f"Bearer {token.strip()}", session.ROLE), ""
    except TahobuddyError as exc:
        return None, str(exc)
