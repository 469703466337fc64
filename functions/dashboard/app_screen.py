"""One app's page: its rules and what each serves, the "Run a command" form, and the "App output" panel,
which follows what the serving container prints live.

The panel is rendered up to now on the server; assets/dashboard.js then polls /apps/{name}/output?after=N
(the API's /api/v1/apps/{name}/output answer, authenticated by the session cookie), as a job's page
follows its log. The form queues a `run` job through functions/dispatch/manual.run, the call behind
POST /api/v1/apps/{name}/run and `tahobuddy run APP -- ARGV`: the dashboard owns no logic of its own.
"""
from __future__ import annotations

import shlex

from functions.dispatch import manual
from functions.domain import previews
from functions.errors import InvalidInput, NotFound, TahobuddyError
from functions.store import app_store, output
from functions.dashboard import apps_screen, gates, layout, web
from functions.dashboard.markup import Markup, join, render

OUTPUT_PAGE = 200   # lines the page shows when it opens; the script appends what comes after


def _run_form(p: web.Page, app: dict) -> Markup:
    rules = [r["name"] for r in app["rules"] if r["target"]["type"] == "docker" and not previews.is_preview_rule(r)]
    if not rules:
        return render('<p class="hint" id="no-run">No docker rule: a command runs in the image a docker rule '
                      'serves.</p>')
    choices = join(render('<option value="{r}">{r}</option>', r=r) for r in rules)
    return render('<form method="post" action="{a}" class="action" id="run-form"><input type="hidden" name="csrf" '
                  'value="{c}"><label>Command <input name="command" required maxlength="2000" '
                  'placeholder="./manage.py migrate --check"></label> <label>Rule <select name="rule">{choices}'
                  '</select></label> <label>Timeout (s) <input name="timeout" inputmode="numeric" size="6"></label> '
                  '<button type="submit">Run</button> <span class="hint">in a new container of the serving image, '
                  'with the app\'s environment, network and volumes (as <code>tahobuddy run</code>); split into '
                  'words as a shell would, but no shell runs it</span></form>',
                  a=p.url(f"/apps/{app['name']}/run"), c=p.session.csrf, choices=choices)


def _panel(p: web.Page, name: str) -> Markup:
    lines = output.read(name, 0, None, OUTPUT_PAGE)
    items = join(render('<li data-seq="{seq}" title="{at}">{line}</li>', seq=x["seq"], at=x["at"], line=x["line"])
                 for x in lines)
    after = max([0] + [x["seq"] for x in lines])  # the newest written: the panel goes on from there
    return render('<section aria-labelledby="output-h"><h2 id="output-h">App output</h2>'
                  '<p id="output-status" role="status">{status}</p>'
                  '<ol id="output" class="log" data-src="{src}" data-after="{after}">{items}</ol></section>',
                  src=p.url(f"/apps/{name}/output"), after=after, items=items,
                  status="what the serving container prints, live" if lines else
                  "nothing printed yet (its agent sends what the serving container prints)")


@gates.signed_in
def show(p: web.Page, name: str):
    try:
        app = app_store.get(name)
    except NotFound:
        return layout.problem(p, 404, f"No app {name}. See the apps list.")
    body = render('{app}<section aria-labelledby="run-h"><h2 id="run-h">Run a command</h2>{form}</section>{panel}',
                  app=apps_screen.section(p, app), form=_run_form(p, app), panel=_panel(p, name))
    return layout.page(p, f"App {name}", body, "/apps")


def output_since(p: web.Page, name: str):
    """JSON for the live panel: lines after `after`, as GET /api/v1/apps/{name}/output answers."""
    return web.polled(p, lambda after: output.page(name, 0, after))


@gates.mutating
def run(p: web.Page, form: dict, name: str):
    """Queue a `run` job as POST /api/v1/apps/{name}/run does (the same call, through the same gate)."""
    try:
        argv = shlex.split(form.get("command", ""))
    except ValueError as exc:
        return layout.problem(p, 400, f"App {name}: the command cannot be split into words ({exc}).")
    timeout = (form.get("timeout") or "").strip()
    if timeout and not timeout.isdigit():
        return layout.problem(p, 400, f"App {name}: the timeout is a whole number of seconds.")
    body = {"argv": argv, "rule": form.get("rule") or None, **({"timeout": int(timeout)} if timeout else {})}
    try:
        [job] = manual.run(name, body)
    except InvalidInput as exc:
        return layout.problem(p, 400, f"App {name}: {exc}")
    except TahobuddyError as exc:
        return layout.problem(p, 409, str(exc))
    return web.redirect(p.url(f"/jobs/{job['id']}"))
