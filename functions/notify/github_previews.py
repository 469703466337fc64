"""What a pull request's preview tells GitHub beyond the commit status: one comment on the pull
request, updated in place at every change (queued, deploying, live at URL, failed, refused,
removed), and the `inactive` deployment status that shows its transient environment as destroyed.

Pure builders over a `change` (outbox.snapshot of a preview or teardown job), like github.py.
Whatever came from the pull request's side (a branch name inside a refusal, a build's error) is
shown inside a code span with backticks and line breaks taken out, so it can mention nobody and
inject no markdown or HTML into a comment the bot signs.
"""
from __future__ import annotations

import re

from contract.states import JobState, Reason

from functions.notify.github import Settings, job_url

MARKER = "<!-- tahobuddy:preview app={app} -->"  # says which app's comment this is, to people and tools
USER_TEXT_LIMIT = 300
_URL = re.compile(r"^https://[a-z0-9.-]+(:[0-9]+)?/$")
_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_UNSAFE = re.compile(r"[`\x00-\x1f\x7f\u2028\u2029]+")


def code(text: str, limit: int = USER_TEXT_LIMIT) -> str:
    """`text` as an inline code span that renders as itself: no backticks (they would close the span),
    no line breaks (a blank line would end it), and bounded."""
    flat = " ".join(_UNSAFE.sub(" ", str(text or "")).split())
    if len(flat) > limit:
        flat = flat[:limit - 3] + "..."
    return f"`{flat}`" if flat else ""


def owes_comment(change: dict) -> bool:
    """A superseded job says nothing: the newer job of the same pull request speaks for the preview."""
    return bool(change.get("preview")) and change.get("state") != JobState.SUPERSEDED.value


def headline(change: dict) -> tuple[str, str]:
    """(the state in words, the reason given with it, '' if none)."""
    state, reason = change["state"], change.get("reason") or ""
    if change.get("teardown"):
        if state in (JobState.QUEUED.value, JobState.RUNNING.value):
            return "being removed", ""
        return ("removed", "") if state == JobState.SUCCEEDED.value else ("removal failed", reason)
    if state == JobState.QUEUED.value:
        return "queued", ""
    if state == JobState.RUNNING.value:
        return "deploying", ""
    if state == JobState.SUCCEEDED.value:
        return "live", ""
    if change.get("reason_code") == Reason.REFUSED.value:
        return "refused", reason.removeprefix("refused: ")
    return state, reason.removeprefix(f"{state}: ")


def comment_body(s: Settings, change: dict, still_served: bool = False) -> str:
    """The comment's markdown: the marker, the app and its state, the URL when live, the reason when
    there is one, the commit and the job. `still_served`: an earlier push of this pull request is live
    and keeps serving after this one failed (the runner swaps only a healthy container in)."""
    app = _NAME.sub("", change["app"])
    words, why = headline(change)
    url = change.get("environment_url") or ""
    shown = url if _URL.match(url) else code(url)
    lines = [MARKER.format(app=app), f"**Preview of {code(app)}: {words}**"]
    if words == "live":
        lines.append(f"\nServed at {shown}")
    if why:
        lines.append(f"\n{'Why' if words == 'refused' else 'Reason'}: {code(why)}")
    if still_served and change["state"] != JobState.SUCCEEDED.value and not change.get("teardown"):
        lines.append(f"\nThe previous push still serves at {shown}")
    link = job_url(s, change["job_id"])
    job = f"[{code(change['job_id'])}]({link})" if link.startswith(("https://", "http://")) else code(change["job_id"])
    lines.append(f"\nCommit {code((change.get('sha') or '')[:12]) or '-'} · job {job} · "
                 "this comment is updated at every push and when the pull request closes")
    return "\n".join(lines) + "\n"


def create_comment(change: dict, body: str) -> tuple[str, str, dict]:
    return "POST", f"/repos/{change['repo']}/issues/{int(change['preview'])}/comments", {"body": body}


def update_comment(change: dict, comment_id: int, body: str) -> tuple[str, str, dict]:
    return "PATCH", f"/repos/{change['repo']}/issues/comments/{int(comment_id)}", {"body": body}


def inactive_status(s: Settings, change: dict, deployment_id: int) -> tuple[str, str, dict]:
    """What a finished teardown posts to each Deployment of the preview: GitHub then shows the
    transient environment as destroyed (and stops linking the URL that no longer serves)."""
    body = {"state": "inactive", "description": "preview removed", "environment": change["environment"]}
    if job_url(s, change["job_id"]):
        body["log_url"] = job_url(s, change["job_id"])
    return "POST", f"/repos/{change['repo']}/deployments/{int(deployment_id)}/statuses", body
