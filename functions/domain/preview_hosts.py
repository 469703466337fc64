"""Where a pull-request preview is served, and the limits its containers get.

With `TAHOBUDDY_PREVIEW_DOMAIN` set (say `preview.example.net`), a preview of app `blog` for pull
request 7 is served at `blog-pr-7.preview.example.net`: one DNS label per preview under a domain of
its own. The name is unambiguous: the last `-pr-<digits>` is the pull request, the rest is the app.

Without it, the old default stays: `pr-7.<the app's hostname>`, a subdomain of production. That is
risky: a preview runs a pull request's code, and a page on `pr-7.blog.example.com` may set cookies
for `.blog.example.com`, which the production site then receives (cookie tossing: a session fixed,
a CSRF token replaced). Saving such an app answers with a warning that says so. A rule's own
`preview.hostname` template is used as written, with either setting.
"""
from __future__ import annotations

from functions.domain.fields import Field

DEFAULT_TEMPLATE = "pr-{number}.{hostname}"   # the default without a preview domain
MAX_LABEL = 63                                # a DNS label; `<app>-pr-<number>` is one
# the agent's defaults when the rule sets none (runners/docker_convert.py PREVIEW_LIMITS)
LIMIT_FIELDS = (
    Field("cpus", "cpus", doc="CPUs each preview container may use (default 1)"),
    Field("memory", "memory", doc="memory of each preview container, swap included (default 512m)"),
    Field("pids", "int", doc="processes each preview container may run (default 256)"),
)


def own_template(rule: dict) -> str:
    """The rule's own hostname template, "" when it keeps the default."""
    template = (rule.get("preview") or {}).get("hostname") or ""
    return "" if template == DEFAULT_TEMPLATE else template


def hostname(app: dict, rule: dict, number: int, preview_domain: str = "") -> str:
    if preview_domain and not own_template(rule):
        return f"{app['name']}-pr-{number}.{preview_domain}".lower()
    template = own_template(rule) or DEFAULT_TEMPLATE
    return template.format(number=number, hostname=app.get("hostname") or "").lower()


def warnings(app: dict, preview_domain: str = "") -> list[str]:
    """A warning per preview rule whose previews are served under the app's own hostname."""
    out = []
    for i, rule in enumerate(app.get("rules", [])):
        if "preview" not in rule or not app.get("hostname"):
            continue
        host = hostname(app, rule, 1, preview_domain)
        if host.endswith("." + app["hostname"].lower()):
            out.append(f"rules[{i}].preview: previews are served under the app's hostname ({host}): a pull "
                       f"request's code there can set cookies for {app['hostname']} (cookie tossing). Set "
                       "TAHOBUDDY_PREVIEW_DOMAIN to a domain of their own, like preview.example.net")
    return out


def long_name(app: dict, preview_domain: str = "") -> str:
    """Why previews of this app cannot be named under the preview domain ("" when they can)."""
    if not preview_domain or not any("preview" in r and not own_template(r) for r in app.get("rules", [])):
        return ""
    if len(f"{app['name']}-pr-999999") > MAX_LABEL:
        return (f"previews are served at {app['name']}-pr-N.{preview_domain}, and that label would pass "
                f"{MAX_LABEL} characters: use an app name of at most {MAX_LABEL - len('-pr-999999')}")
    return ""
