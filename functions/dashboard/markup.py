"""HTML built from templates whose every value is escaped, unless it is already `Markup`.

Tag names, commit messages, env values and log lines come from users: a tag named
`<script>alert(1)</script>` is a valid git ref. Escaping by default (and marking the few
pre-built fragments as Markup) is what keeps them inert.
"""
from __future__ import annotations

import html
from typing import Iterable


class Markup(str):
    """A fragment of HTML that is already safe (built by `render` or `join`). Adding text to it
    escapes the text, so `Markup + str` stays safe and stays Markup."""

    def __add__(self, other):
        return Markup(str.__add__(self, escape(other)))

    def __radd__(self, other):
        return Markup(str.__add__(escape(other), self))


def escape(value) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def render(template: str, **values) -> Markup:
    """`template.format(**values)` with each value escaped (Markup values go in as they are)."""
    return Markup(template.format(**{k: escape(v) for k, v in values.items()}))


def join(parts: Iterable, sep: str = "") -> Markup:
    return Markup(escape(sep).join(escape(p) for p in parts))


def when(iso: str | None) -> Markup:
    """A time the viewer's browser shows in its own zone (assets/dashboard.js); UTC until then."""
    if not iso:
        return Markup("&ndash;")
    return render('<time datetime="{iso}">{iso}</time>', iso=iso)


def short_sha(sha: str | None) -> Markup:
    if not sha:
        return Markup("&ndash;")
    return render('<code title="{sha}">{short}</code>', sha=sha, short=sha[:10])
