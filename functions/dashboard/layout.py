"""The page shell every screen shares: header, navigation, sign-out, and the one script."""
from __future__ import annotations

from functions.dashboard import web
from functions.dashboard.assets import VERSION
from functions.dashboard.markup import Markup, join, render

NAV = (("/apps", "Apps"), ("/jobs", "Jobs"), ("/events", "Events"), ("/agents", "Agents"))

SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} &middot; Tahobuddy</title>
<link rel="stylesheet" href="{css}">
<script src="{js}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<span class="brand">Tahobuddy</span>
{nav}
</header>
<main id="main" tabindex="-1">
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"""


def asset(page: "web.Page", name: str) -> str:
    return page.url(f"/assets/{name}", v=VERSION)


def nav(page: "web.Page", current: str) -> Markup:
    if page.session is None:
        return Markup("")
    links = join(render('<li><a href="{href}"{cur}>{label}</a></li>', href=page.url(path), label=label,
                        cur=Markup(' aria-current="page"') if path == current else Markup(""))
                 for path, label in NAV)
    out = render('<form method="post" action="{action}" class="signout"><input type="hidden" name="csrf" '
                 'value="{csrf}"><span>signed in as {who} ({role})</span> <button type="submit">Sign out</button>'
                 '</form>', action=page.url("/logout"), csrf=page.session.csrf, who=page.session.name,
                 role=page.session.role)
    return render('<nav aria-label="Main"><ul>{links}</ul></nav>{out}', links=links, out=out)


def page(p: "web.Page", title: str, body: Markup, current: str = "", status: int = 200, headers=None):
    doc = render(SHELL, title=title, body=body, nav=nav(p, current), css=asset(p, "dashboard.css"),
                 js=asset(p, "dashboard.js"))
    return web.html(doc, status, headers)


def problem(p: "web.Page", status: int, message: str):
    return page(p, "Not done" if status < 500 else "Error",
                render('<p class="problem" role="alert">{m}</p><p><a href="{back}">Back to the apps</a></p>',
                       m=message, back=p.url("/apps")), status=status)


def empty(what: str, next_step: str, command: str = "") -> Markup:
    """An empty list says what to do next."""
    cmd = render(" <code>{c}</code>", c=command) if command else Markup("")
    return render('<p class="empty">{what}: {step}{cmd}</p>', what=what, step=next_step, cmd=cmd)


def table(headers: tuple, rows: list, caption: str = "") -> Markup:
    head = join(render('<th scope="col">{h}</th>', h=h) for h in headers)
    body = join(render("<tr>{cells}</tr>", cells=join(render("<td>{c}</td>", c=c) for c in row)) for row in rows)
    cap = render("<caption>{c}</caption>", c=caption) if caption else Markup("")
    return render("<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
                  cap=cap, head=head, body=body)
