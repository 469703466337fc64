"""Sign in with an API token (admin role), sign out. The token itself is never kept: the cookie
names its public id and is signed by the server (session.py)."""
from __future__ import annotations

import re

from functions.dashboard import layout, session, web
from functions.dashboard.markup import render

FORM = ('<form method="post" action="{action}" class="signin">{error}<input type="hidden" name="next" value="{next}">'
        '<p><label for="token">API token (admin role)</label><br>'
        '<input id="token" name="token" type="password" autocomplete="off" required autofocus size="60"></p>'
        '<p><button type="submit">Sign in</button></p>'
        '<p class="hint">The admin token is in <code>.tahobuddy/dev.env</code> (TAHOBUDDY_TOKEN) when you run '
        '<code>make run</code>; make another with <code>tahobuddy token --role admin</code>.</p></form>')


# a path of this site: one leading slash, then only printable ASCII a URL may hold unescaped
_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@/?%#-]*")


def safe_next(target: str) -> str:
    """Where to go after signing in: only a path of this site, or `/`. An open redirect would help
    phishing, and browsers are lenient: they drop tabs and newlines from a URL and read `\\` as `/`,
    so `/\t/evil.example` and `/\\evil.example` mean `//evil.example`, another site. No control
    character, space, backslash, `//` or scheme gets through."""
    ok = isinstance(target, str) and _PATH.fullmatch(target) and "//" not in target
    return target if ok else "/"


def form(p: web.Page, error: str = "", status: int = 200):
    err = render('<p class="problem" role="alert">{e}</p>', e=error) if error else ""
    return layout.page(p, "Sign in", render(FORM, action=p.url("/login"), error=err,
                                            next=safe_next(p.query.get("next", "/apps"))), status=status)


def submit(p: web.Page):
    fields = p.form()
    missing = session.can_sign()
    if missing:  # the server's setup, not the visitor's token: say what the operator must set
        return form(p, f"Not signed in: {missing}.", 503)
    row, why = web.authenticate(fields.get("token", ""))
    if row is None:
        return form(p, f"Not signed in: {why}.", 401)
    cookie = session.cookie_header(session.sign_in(row), p.secure)
    return web.redirect(p.url(safe_next(fields.get("next", "/apps"))), {"Set-Cookie": cookie})


def sign_out(p: web.Page):
    """Clears the cookie. A POST with the session's CSRF token, so another site cannot sign you out."""
    if p.session is not None and not p.session.csrf_ok(p.form().get("csrf")):
        return layout.problem(p, 403, "Sign-out needs the form's CSRF token; reload the page and try again.")
    return web.redirect(p.url("/login"), {"Set-Cookie": session.cookie_header("", p.secure, max_age=0)})
