"""What the dashboard changes: cancel, approve, reject, redeploy and roll back, through the same calls as
the API's routes (functions/dispatch/: the dashboard owns no deploy or rollback logic; never HTTP to
itself). Each answers with a redirect to the page that shows the result (post/redirect/get), or with a
page that says why not."""
from __future__ import annotations

from functions.store import jobs
from functions.dispatch import approvals, gate, manual
from functions.errors import Forbidden, InvalidInput, Refused, TahobuddyError
from functions.dashboard import gates, layout, web


@gates.mutating
def cancel(p: web.Page, form: dict, job_id: str):
    try:
        jobs.cancel(job_id, f"canceled from the dashboard by {p.session.name}")
    except TahobuddyError as exc:
        return layout.problem(p, 409, str(exc))
    return web.redirect(p.url(f"/jobs/{job_id}"))


@gates.mutating
def approve(p: web.Page, form: dict, job_id: str):
    """POST /api/v1/jobs/{id}/approve, as the signed-in token (audited; its rule's approvers apply)."""
    try:
        approvals.approve(job_id)
    except Forbidden as exc:
        return layout.problem(p, 403, str(exc))
    except TahobuddyError as exc:
        return layout.problem(p, 409, str(exc))
    return web.redirect(p.url(f"/jobs/{job_id}"))


@gates.mutating
def reject(p: web.Page, form: dict, job_id: str):
    """POST /api/v1/jobs/{id}/reject with the form's reason (required)."""
    reason = (form.get("reason") or "").strip()
    if not reason:
        return layout.problem(p, 400, "Say why it must not deploy: the reason is required, and the job keeps it.")
    try:
        approvals.reject(job_id, reason[:500])
    except Forbidden as exc:
        return layout.problem(p, 403, str(exc))
    except TahobuddyError as exc:
        return layout.problem(p, 409, str(exc))
    return web.redirect(p.url(f"/jobs/{job_id}"))


@gates.mutating
def redeploy(p: web.Page, form: dict, job_id: str):
    """A new job for the same app, rule, ref and commit, through the gate every way in passes."""
    try:
        new = gate.again(jobs.get(job_id), "redeploy")  # a preview's stays a preview, or is refused
    except Refused as exc:
        return layout.problem(p, 403, f"Not redeployed: {exc}")
    except TahobuddyError as exc:
        return layout.problem(p, 409, str(exc))
    return web.redirect(p.url(f"/jobs/{new.id}"))


@gates.mutating
def rollback(p: web.Page, form: dict, name: str):
    """Queue a rollback to a kept image (POST /api/v1/apps/{name}/rollback), chosen by commit or ref: the API's
    own checks and choice of rule, through the gate; `kept_only`, as the page offers only the kept images."""
    try:
        [job] = manual.rollback(name, {"to": form.get("to", "")}, kept_only=True)
    except InvalidInput as exc:
        return layout.problem(p, 400, f"App {name}: {exc}")
    except TahobuddyError as exc:
        return layout.problem(p, 409, str(exc))
    return web.redirect(p.url(f"/jobs/{job['id']}"))
