"""The web dashboard in a real browser: Debian's chromium driven by Playwright (no browser
download), against chalice local on moto server, with real agents running the jobs it shows.
Each screen is saved as a PNG: under the test's own folder, or to docs/screenshots/ (the dashboard guide shows them)
when TAHOBUDDY_SCREENSHOTS names that folder (`TAHOBUDDY_SCREENSHOTS=docs/screenshots make test`),
so an ordinary run leaves the work tree clean."""
import functools
import os
import re
import tempfile
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests import helpers
from tests.helpers import deliver, push_job, unique
from tests.realparts import AgentProcess, GitRepo, wait_for, wait_job

pytestmark = pytest.mark.functional

SHOTS = Path(os.environ["TAHOBUDDY_SCREENSHOTS"]).resolve() if os.environ.get("TAHOBUDDY_SCREENSHOTS") else \
    Path(tempfile.mkdtemp(prefix="tahobuddy-screens-"))
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
XSS_TAG = "<script>alert(1)</script>"
shell_app = functools.partial(helpers.shell_app, prefix="dash")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, api):
    """A fresh browser context (no cookies), with every dialog recorded: none may ever open."""
    context = browser.new_context(base_url=api.url, viewport={"width": 1100, "height": 720})
    tab = context.new_page()
    tab.dialogs = []
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    tab.set_default_timeout(15000)
    yield tab
    context.close()
    assert tab.dialogs == [], f"a dialog opened: {tab.dialogs}"


def sign_in(page, token):
    page.goto("/login")
    page.fill("#token", token)
    page.press("#token", "Enter")   # the keyboard is enough


@pytest.fixture
def admin(page, api):
    sign_in(page, api.token)
    page.wait_for_url(re.compile(r"/apps$"))
    return page


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    assert (SHOTS / f"{name}.png").stat().st_size > 1000  # a real picture of the screen


@pytest.fixture
def agent(start_agent):
    return start_agent("shell", name="dash")


def test_sign_in_sets_a_strict_httponly_cookie_and_sign_out_clears_it(page, api):
    page.goto("/jobs")
    page.wait_for_url(re.compile(r"/login\?next=%2Fjobs$"))
    shot(page, "sign-in")
    page.fill("#token", api.token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/jobs$"))      # back where the visitor was going
    cookie, = [c for c in page.context.cookies() if c["name"] == "tahobuddy_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]  # http on loopback
    assert api.token not in cookie["value"]         # the cookie names the token, it does not hold it
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login$"))
    assert [c for c in page.context.cookies() if c["name"] == "tahobuddy_session"] == []
    page.goto("/apps")
    page.wait_for_url(re.compile(r"/login"))


@pytest.mark.parametrize("target", ["/%09/evil.example", "/%5C/evil.example", "%2F%2Fevil.example",
                                    "https%3A%2F%2Fevil.example", "/%0A/evil.example"])
def test_sign_in_never_sends_the_visitor_to_another_site(api, target):
    """`next=/%09/evil.example` arrives as `/<tab>/evil.example`, which a browser reads as `//evil.example`."""
    r = requests.post(f"{api.url}/login", data=f"token={api.token}&next={target}", allow_redirects=False,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
    assert r.status_code == 303 and r.headers["Location"] == "/", r.headers
    assert "tahobuddy_session=" in r.headers["Set-Cookie"]  # signed in, and sent home
    kept = requests.post(f"{api.url}/login", data={"token": api.token, "next": "/jobs?state=failed"},
                         allow_redirects=False, timeout=30)
    assert kept.headers["Location"] == "/jobs?state=failed"


def test_a_bad_token_an_agent_token_and_a_forged_cookie_do_not_sign_in(page, agent_token):
    sign_in(page, "tb_admin_not-a-real-token")
    assert page.get_by_role("alert").inner_text() == "Not signed in: unknown token."
    sign_in(page, agent_token)
    assert "a agent token cannot do this (needs admin)" in page.get_by_role("alert").inner_text()
    page.context.add_cookies([{"name": "tahobuddy_session", "value": "v1.000000000000.9999999999.00",
                               "url": page.url}])
    page.goto("/apps")
    page.wait_for_url(re.compile(r"/login"))


def test_apps_screen_shows_rules_and_what_each_serves(admin, api, repo, agent):
    sha = repo.commit_and_tag("served")
    name = shell_app(api, repo, [["echo", "hi"]])
    job = wait_job(api, push_job(api, repo, "refs/heads/main", sha))
    assert job["state"] == "succeeded"
    admin.goto("/apps")
    section = admin.locator(f"section:has(h2:text-is('{name}'))")
    row = section.locator("tr", has_text="run")
    assert "branch main" in row.inner_text() and "shell" in row.inner_text()
    assert "refs/heads/main" in row.inner_text() and sha[:10] in row.inner_text()
    assert row.locator("time").get_attribute("datetime") == job["finished_at"]
    row.get_by_role("link", name="job").click()
    admin.wait_for_url(re.compile(f"/jobs/{job['id']}$"))
    admin.goto("/apps")
    admin.locator(f"#app-{name}").scroll_into_view_if_needed()
    shot(admin, "apps")


def test_apps_screen_says_when_each_rule_deploys(admin, api, repo):
    """Schedules, approval gates, freeze windows and path filters are on the app's page, beside its rules."""
    name = unique("dash-when")
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin),
        "freeze": [{"days": ["fri"], "from": "16:00", "to": "08:00", "timezone": "Europe/Berlin"}],
        "rules": [
            {"name": "nightly", "match": {"branch": "main"}, "paths": ["api/**"],
             "schedule": {"cron": "0 3 * * *", "timezone": "Europe/Berlin"},
             "target": {"type": "shell", "commands": [["true"]]}},
            {"name": "prod", "match": {"tag": "v*"}, "approval": {"required": True, "approvers": ["release-bot"]},
             "target": {"type": "shell", "name": "prod", "commands": [["true"]]}}]})
    assert r.status_code == 201, r.text
    admin.goto("/apps")
    section = admin.locator(f"section:has(h2:text-is('{name}'))")
    nightly = section.locator("tr", has_text="nightly").inner_text()
    assert "redeploys on 0 3 * * * (Europe/Berlin): next" in nightly and "03:00 CE" in nightly, nightly
    assert "1 freeze window(s)" in nightly and "only when api/** change" in nightly, nightly
    prod = section.locator("tr", has_text="prod").inner_text()
    assert "needs approval by release-bot" in prod, prod


def test_a_deploy_is_followed_live_then_redeployed(admin, api, repo, agent):
    sha = repo.commit_and_tag("live")
    name = shell_app(api, repo, [["sh", "-c", "echo start; for i in 1 2 3 4; do sleep 1; echo tick $i; done"]])
    job_id = push_job(api, repo, "refs/heads/main", sha)
    admin.goto(f"/jobs/{job_id}")
    log = admin.locator("#log")
    first = log.locator("li").count()
    assert first < 5                                   # the page opened before the job ended
    admin.wait_for_selector("#log li:text-is('tick 4')", timeout=30000)
    assert log.locator("li").count() > first           # lines arrived by polling, not by reloading
    admin.wait_for_selector("#log[data-ended=succeeded]", timeout=15000)   # reloaded once it ended
    assert "following" not in admin.locator("#log-status").inner_text()
    assert admin.get_by_role("button", name="Cancel").count() == 0 and "tick 4" in log.inner_text()
    shot(admin, "job")
    admin.get_by_role("button", name="Redeploy").click()
    admin.wait_for_url(re.compile(r"/jobs/\d+[0-9a-f]+$"))
    new_id = admin.url.rsplit("/", 1)[1]
    assert new_id != job_id
    again = wait_job(api, new_id)
    assert (again["app"], again["ref"], again["sha"], again["trigger"]) == (name, "refs/heads/main", sha, "manual")


def test_cancel_from_the_job_page_stops_the_running_job(admin, api, repo, agent):
    sha = repo.commit_and_tag("long")
    shell_app(api, repo, [["sh", "-c", "echo started; sleep 120"]])
    job_id = push_job(api, repo, "refs/heads/main", sha)
    admin.goto(f"/jobs/{job_id}")
    admin.wait_for_selector("#log li:text-is('started')", timeout=30000)
    admin.get_by_role("button", name="Cancel").click()
    admin.wait_for_url(re.compile(f"/jobs/{job_id}$"))
    job = wait_job(api, job_id, timeout=30)
    assert job["state"] == "canceled" and "canceled from the dashboard by tests" in job["reason"]
    # the page itself reloads once it sees the job end (no reload of the test's, which raced the page's own):
    # what a user then sees is the ended job and no Cancel button; `expect` waits across that reload
    expect(admin.locator("#job-state .state-canceled")).to_have_count(1, timeout=30000)
    expect(admin.get_by_role("button", name="Cancel")).to_have_count(0, timeout=30000)


def test_a_form_without_the_csrf_token_is_refused(admin, api, repo):
    name = shell_app(api, repo, [["true"]])
    job_id = push_job(api, repo, "refs/heads/main", repo.commit_and_tag("queued"))
    # the browser's own cookie, but no token: what a forged cross-site form would send
    r = admin.request.post(f"/jobs/{job_id}/cancel", form={"reason": "x"}, max_redirects=0)
    assert r.status == 403 and "CSRF" in r.text()
    r = admin.request.post(f"/jobs/{job_id}/cancel", form={"csrf": "0" * 64}, max_redirects=0)
    assert r.status == 403
    assert requests.get(f"{api.url}/api/v1/jobs/{job_id}", headers=api.headers(), timeout=10).json()["state"] == "queued"
    r = admin.request.post(f"/jobs/{job_id}/cancel", form={"csrf": admin.locator("input[name=csrf]").first
                                                          .get_attribute("value")}, max_redirects=0)
    assert r.status == 303                             # with the session's token the same form works
    assert requests.get(f"{api.url}/api/v1/jobs/{job_id}", headers=api.headers(), timeout=10).json()["state"] == \
        "canceled", name


def test_rollback_of_a_shell_app_is_refused_visibly(admin, api, repo):
    name = shell_app(api, repo, [["true"]])
    job_id = push_job(api, repo, "refs/heads/main", repo.commit_and_tag("one"))
    admin.goto(f"/jobs/{job_id}")
    assert f"No kept image for app {name}" in admin.locator("main").inner_text()
    assert admin.get_by_role("button", name="Roll back").count() == 0
    csrf = admin.locator("input[name=csrf]").first.get_attribute("value")
    r = admin.request.post(f"/apps/{name}/rollback", form={"csrf": csrf, "to": "main"}, max_redirects=0)
    assert r.status == 400 and "is not a kept image of app" in r.text()


def test_events_show_each_decision_with_its_reason_and_the_payload(admin, api, repo):
    nobody = deliver(api, "push", {"ref": "refs/heads/main", "after": "a" * 40, "created": False, "deleted": False,
                                   "repository": {"full_name": f"local/{unique('nobody')}",
                                                  "clone_url": "https://example.invalid/nobody.git"}})
    assert nobody.status_code == 200
    name = shell_app(api, repo, [["true"]])
    sha = repo.commit_and_tag("event")
    job_id = push_job(api, repo, "refs/heads/main", sha)
    admin.goto("/events")
    matched = admin.locator("tr", has=admin.locator(f"a[href='/jobs/{job_id}']"))
    assert f"{name} / run: queued" in matched.inner_text() and "1 rule(s) matched" in matched.inner_text()
    refused = admin.locator("tr", has_text="no app uses repository").first
    assert "example.invalid" in refused.inner_text() or "nobody" in refused.inner_text()
    shot(admin, "events")
    matched.get_by_role("link", name=re.compile("view")).click()
    admin.wait_for_selector("pre.payload")
    assert sha in admin.locator("pre.payload").inner_text()
    assert f"job {job_id}" in admin.locator(".decision").inner_text()


def test_a_tag_shaped_like_a_script_is_shown_as_text(admin, api, repo):
    sha = repo.commit_and_tag("xss", XSS_TAG)
    name = shell_app(api, repo, [["true"]], match={"tag": "*"})
    job_id = push_job(api, repo, f"refs/tags/{XSS_TAG}", sha, created=True)
    for path in (f"/jobs/{job_id}", f"/jobs?app={name}", "/events"):
        admin.goto(path)
        assert f"refs/tags/{XSS_TAG}" in admin.locator("main").inner_text()
        assert admin.locator("main script").count() == 0
    assert admin.dialogs == []


def test_every_page_sends_a_csp_and_has_no_inline_script_or_style(admin, api):
    for path in ("/apps", "/jobs", "/events", "/agents", "/login"):
        r = admin.goto(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
        assert admin.locator("script:not([src])").count() == 0 and admin.locator("style, [style]").count() == 0
    js = admin.request.get("/assets/dashboard.js")
    assert js.status == 200 and js.headers["content-type"].startswith("text/javascript")
    assert admin.request.get("/assets/..%2Fsession.py").status == 404


def test_agents_screen_lists_pools_agents_and_dead_letters(admin, api, agent):
    admin.goto("/agents")
    row = admin.locator("tr", has_text=agent.proc.args[0] and "dash-")
    wait_for(lambda: row.count() >= 1, "the agent in the list", 10)
    assert "shell" in admin.locator("tr", has_text="dash-").first.inner_text()
    pools = admin.locator("section:has(h2:text-is('Pools')) tbody tr")
    declared = os.environ["TAHOBUDDY_POOLS"].split(",")  # every declared pool has a row, default first
    assert pools.count() == len(declared) and pools.first.locator("td").first.inner_text() == "default"
    assert admin.get_by_role("heading", name="Dead letters").count() == 1
    shot(admin, "agents")


DOCKERFILE = """FROM {base}
COPY www /www
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


def test_rollback_to_a_kept_image_chosen_on_the_job_page(admin, api, agent_token, caddy, docker_images, tmp_path,
                                                         empty_queue):
    from tests.realparts import BASE_IMAGE, remove_app_resources
    repo, name = GitRepo(tmp_path / "site"), unique("dsite")
    host = f"{name}.localhost"
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "hostname": host, "port": 8080,
        "rules": [{"name": "release", "match": {"tag": "release-*"},
                   "target": {"type": "docker", "health_path": "/", "health_timeout": 30, "drain_seconds": 0, "watch_seconds": 0}}]})
    assert r.status_code == 201, r.text
    docker_agent = AgentProcess(api, agent_token, tmp_path, caddy, targets="docker", name="dash-docker")
    try:
        repo.write({"Dockerfile": DOCKERFILE.format(base=BASE_IMAGE), "www/index.html": "v1\n"})
        shas = {}
        for n in (1, 2):
            repo.write({"www/index.html": f"v{n}\n"})
            sha = shas[n] = repo.commit_and_tag(f"v{n}", f"release-{n}")
            job = wait_job(api, push_job(api, repo, f"refs/tags/release-{n}", sha, created=True))
            assert job["state"] == "succeeded", job
        assert caddy.get(host).text.strip() == "v2"
        admin.goto(f"/jobs/{job['id']}")
        choice = admin.get_by_label(f"Roll back {name} to")
        assert "refs/tags/release-1" in choice.locator(f"option[value='{shas[1]}']").inner_text()
        choice.select_option(value=shas[1])
        admin.get_by_role("button", name="Roll back").click()
        admin.wait_for_selector("#log[data-ended]", timeout=60000)
        assert admin.locator("#log").get_attribute("data-ended") == "succeeded", admin.locator("main").inner_text()
        assert "rolling back" in admin.locator("#log").inner_text()
        assert caddy.get(host).text.strip() == "v1"
    finally:
        assert docker_agent.stop() == 0, docker_agent.output()
        remove_app_resources(name)


def test_a_job_awaiting_approval_is_approved_or_rejected_on_its_page(admin, api, repo, agent):
    name = unique("dash-gated")
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin),
        "rules": [{"name": "prod", "match": {"branch": "main"}, "approval": {"required": True},
                   "target": {"type": "shell", "commands": [["echo", "approved and ran"]], "timeout": 60}}]})
    assert r.status_code == 201, r.text
    job_id = push_job(api, repo, "refs/heads/main", repo.commit_and_tag("gated"))
    admin.goto(f"/jobs/{job_id}")
    assert f"approve with tahobuddy approve {job_id}" in admin.locator("dl.facts").inner_text()
    forged = admin.request.post(f"/jobs/{job_id}/approve", form={}, max_redirects=0)   # a cross-site form
    assert forged.status == 403 and "CSRF" in forged.text()
    shot(admin, "job-awaiting-approval")
    admin.get_by_role("button", name="Approve").click()
    admin.wait_for_url(re.compile(f"/jobs/{job_id}$"))
    assert wait_job(api, job_id)["state"] == "succeeded"
    audit = requests.get(f"{api.url}/api/v1/audit", headers=api.headers(), timeout=10).json()["audit"]
    assert [a["token"]["name"] for a in audit if a["subject"] == f"job/{job_id}"] == ["tests"]

    second = push_job(api, repo, "refs/heads/main", repo.commit_and_tag("gated again"))
    admin.goto(f"/jobs/{second}")
    admin.fill("input[name=reason]", "release freeze")
    admin.get_by_role("button", name="Reject").click()
    admin.wait_for_url(re.compile(f"/jobs/{second}$"))
    job = requests.get(f"{api.url}/api/v1/jobs/{second}", headers=api.headers(), timeout=10).json()
    assert (job["state"], job["reason"]) == ("canceled", "canceled: rejected by tests: release freeze"), job
    assert admin.get_by_role("button", name="Approve").count() == 0


def _ship_output(api, agent_tokens, name: str, lines: list[str]) -> None:
    """What an agent of the app's pool sends (agent/output.py): its session POSTs the printed lines."""
    r = requests.post(f"{api.url}/api/v1/agents/register", timeout=30, json={
        "agent_id": unique("dash-out"), "pool": "default", "targets": ["docker"]},
        headers={"Authorization": f"Bearer {agent_tokens('default')}"})
    assert r.status_code == 201, r.text
    r = requests.post(f"{api.url}/api/v1/agent/apps/{name}/output", json={"lines": lines}, timeout=30,
                      headers={"Authorization": f"Bearer {r.json()['session']}"})
    assert r.status_code == 200, r.text


def test_the_app_page_follows_the_app_output_live_as_text(admin, api, agent_tokens):
    name = unique("dash-out")
    helpers.put_app(api, helpers.docker_app(name))
    _ship_output(api, agent_tokens, name, ["listening on :8080", XSS_TAG])
    admin.goto("/apps")
    admin.locator(f"section:has(h2:text-is('{name}'))").get_by_role("link", name="its output, run a command").click()
    admin.wait_for_url(re.compile(f"/apps/{name}$"))
    panel = admin.locator("#output")
    expect(panel.locator("li")).to_have_text(["listening on :8080", XSS_TAG])  # shown as text, never run
    _ship_output(api, agent_tokens, name, ["GET / 200"])   # printed while the page is open
    expect(panel.locator("li").last).to_have_text("GET / 200", timeout=5000)
    assert admin.locator("#output-status").inner_text() == "what the serving container prints, live"
    r = admin.goto(f"/apps/{name}")
    assert "unsafe-inline" not in r.headers["content-security-policy"]
    assert admin.locator("script:not([src])").count() == 0


def test_the_run_form_queues_a_run_job_as_tahobuddy_run_does(admin, api):
    name = unique("dash-run")
    helpers.put_app(api, helpers.docker_app(name))
    admin.goto(f"/apps/{name}")
    form = admin.locator("#run-form")
    form.get_by_label("Command").fill("sh -c 'echo hello from the dashboard'")
    form.get_by_label("Rule").select_option("release")
    form.get_by_label("Timeout (s)").fill("30")
    form.get_by_role("button", name="Run").click()
    admin.wait_for_url(re.compile(r"/jobs/[0-9a-f]+$"))
    job_id = admin.url.rsplit("/", 1)[1]
    job = requests.get(f"{api.url}/api/v1/jobs/{job_id}", headers=api.headers(), timeout=10).json()
    assert (job["app"], job["rule"], job["trigger"]) == (name, "release", "run"), job
    assert job["target"]["run_command"] == ["sh", "-c", "echo hello from the dashboard"]
    assert job["target"]["timeout"] == 30
    requests.post(f"{api.url}/api/v1/jobs/{job_id}/cancel", json={"reason": "test done"}, headers=api.headers(),
                  timeout=10).raise_for_status()
    # without the session's CSRF token, nothing is queued
    before = len(helpers.jobs_of(api, name))
    r = admin.request.post(f"/apps/{name}/run", form={"command": "true"}, max_redirects=0)
    assert r.status == 403 and "CSRF" in r.text()
    assert len(helpers.jobs_of(api, name)) == before
