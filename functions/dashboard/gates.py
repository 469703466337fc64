"""The gates in front of the dashboard's screens: signed in (else to the sign-in page), and for a form
that changes something, the CSRF token of the session. Above web.py and layout.py, so neither
needs the other's gate."""
from __future__ import annotations

import functools

from functions.dashboard import layout, web
from functions.store import audit


def signed_in(view):
    """Send a visitor with no valid session to the sign-in page (remembering where they were going)."""
    @functools.wraps(view)
    def gate(page: web.Page, *args, **kwargs):
        if page.session is None:
            return web.redirect(page.url("/login", next=_here(page)))
        with audit.acting_as(page.session.row):
            return view(page, *args, **kwargs)
    return gate


def _here(page: web.Page) -> str:
    path = (page.request.context or {}).get("path") or "/"
    return path[len(page.base):] or "/"


def mutating(view):
    """A signed-in POST whose form carries the CSRF token of its session; anything else is a 403."""
    @functools.wraps(view)
    @signed_in
    def check(page: web.Page, *args, **kwargs):
        form = page.form()
        if not page.session.csrf_ok(form.get("csrf")):
            return layout.problem(page, 403, "This form is out of date or came from another site "
                                             "(no valid CSRF token). Reload the page and try again.")
        return view(page, form, *args, **kwargs)
    return check
