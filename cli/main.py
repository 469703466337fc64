"""tahobuddy: manage apps and deploy rules, see events, jobs and logs.

Start in a repository: `tahobuddy init` writes a tahobuddy.yaml, `tahobuddy validate`
checks it offline, `tahobuddy apply -f tahobuddy.yaml` sends it to the API. Then push a
tag, and follow it with `tahobuddy jobs` and `tahobuddy logs JOB -f`.

Settings come from flags, then TAHOBUDDY_* environment variables, then
.tahobuddy/dev.env (written by `make run`). Exit codes: 0 ok, 1 the API or a
check refused, 2 bad usage or missing settings. `tahobuddy COMMAND --help` explains each.
"""
from __future__ import annotations

import argparse
import sys
import time

import yaml

from . import app_logs, hook, phases, starter, validate
from contract.states import ENDED_VALUES

from .client import ApiError, Client, quote, setting
from .output import emit

JOB_COLUMNS = ["id", "app", "rule", "pool", "ref", "state", "attempts", "reason"]


def _client(args) -> Client:
    return Client(setting("TAHOBUDDY_API_URL", args.api_url), setting("TAHOBUDDY_TOKEN", args.token))


def cmd_apply(args) -> int:
    with open(args.file) if args.file != "-" else sys.stdin as fh:
        doc = yaml.safe_load(fh) or {}
    apps = doc.get("apps") if isinstance(doc, dict) else None
    if not isinstance(apps, list):
        raise ApiError(f"{args.file}: expected a top-level 'apps:' list")
    client = _client(args)
    for i, app in enumerate(apps):
        if not isinstance(app, dict) or not app.get("name"):
            raise ApiError(f"{args.file}: apps[{i}].name is required")
        try:
            saved = client.put(f"/apps/{quote(app['name'])}", app)
        except ApiError as exc:
            raise ApiError(f"{args.file}: apps[{i}] ({app['name']}): {exc}", exc.status) from exc
        print(f"applied app {app['name']} ({len(app.get('rules') or [])} rules)")
        for warning in saved.get("warnings", []):
            print(f"warning: apps[{i}] ({app['name']}): {warning}", file=sys.stderr)
    return 0


def _confirm(question: str) -> str:
    """The answer to a question asked on stderr (stdout stays the command's JSON)."""
    sys.stderr.write(question)
    sys.stderr.flush()
    return sys.stdin.readline().strip()


def cmd_apps(args) -> int:
    client = _client(args)
    if args.purge and not args.delete:
        raise ApiError("--purge goes with --delete NAME")
    if args.delete and args.purge:
        if not args.yes and _confirm(f"This removes {args.delete}'s volumes and database on its agents, for good. "
                                     f"Type the app's name to go on: ") != args.delete:
            print("not deleted", file=sys.stderr)
            return 1
        emit(client.delete(f"/apps/{quote(args.delete)}?purge=true"), True)
    elif args.delete:
        emit(client.delete(f"/apps/{quote(args.delete)}"), True)
    elif args.name:
        emit(client.get(f"/apps/{quote(args.name)}"), True)
    else:
        emit(client.get("/apps"), args.json, ["name", "repository", "hostname", "rules"], "apps")
    return 0


def cmd_events(args) -> int:
    client = _client(args)
    if args.id:
        emit(client.get(f"/events/{quote(args.id)}", payload="1" if args.payload else None), True)
        return 0
    data = client.get("/events", limit=args.limit)
    for e in data["events"]:
        e["ref"], e["jobs"] = e["summary"].get("ref"), [d.get("job_id") for d in e["decision"] if d.get("job_id")]
    emit(data, args.json, ["id", "event_type", "ref", "received_at", "jobs", "reason"], "events")
    return 0


def cmd_jobs(args) -> int:
    client, words = _client(args), args.words
    if words[:1] == ["cancel"]:
        if len(words) != 2:
            raise ApiError("usage: tahobuddy jobs cancel ID [--reason TEXT]")
        emit(client.post(f"/jobs/{quote(words[1])}/cancel", {"reason": args.reason}), True)
    elif len(words) == 1:
        job = client.get(f"/jobs/{quote(words[0])}")
        job["phase_seconds"] = phases.durations(job)  # where the time went, from the phase marks
        emit(job, True)
    elif words:
        raise ApiError("usage: tahobuddy jobs [ID | cancel ID]")
    else:
        data = client.get("/jobs", app=args.app, state=args.state, limit=args.limit)
        for job in data["jobs"]:  # a queued job says why it waits
            if not args.json and job.get("waiting"):
                job["reason"] = job["waiting"]
        emit(data, args.json, JOB_COLUMNS, "jobs")
    return 0


def cmd_logs(args) -> int:
    if bool(args.app) == bool(args.job):
        raise ApiError("usage: tahobuddy logs JOB [-f], or tahobuddy logs --app APP [-f] [--since 10m] [--preview N]")
    if args.app:
        return app_logs.show(_client(args), args)
    if args.since or args.preview:
        raise ApiError("--since and --preview go with --app: a job's log is read whole")
    client, after, deadline = _client(args), 0, time.monotonic() + args.timeout
    while True:
        data = client.get(f"/jobs/{quote(args.job)}/logs", after=after)
        if data.get("dropped"):  # the API keeps a job's last TAHOBUDDY_LOG_MAX_LINES lines
            print(f"[tahobuddy: {data['dropped']:,} earlier line{'s' if data['dropped'] != 1 else ''} dropped]",
                  flush=True)
        for row in data["lines"]:
            print(row["line"], flush=True)
            after = row["seq"]
        if not args.follow or (data["state"] in ENDED_VALUES and not data["lines"]):
            return 0
        if time.monotonic() > deadline:
            print(f"tahobuddy: stopped following after {args.timeout}s", file=sys.stderr)
            return 1
        if not data["lines"]:
            time.sleep(1.0)


def cmd_deploy(args) -> int:
    body = {"ref": args.ref, "sha": args.sha, "rule": args.rule, "now": args.now,
            "override_freeze": args.override_freeze}
    data = _client(args).post(f"/apps/{quote(args.app)}/deploy", {k: v for k, v in body.items() if v})
    emit(data, args.json, JOB_COLUMNS, "jobs")
    return 0


def cmd_run(args) -> int:
    """Queue the command, then print its output as it comes; exit 0 when it succeeded, 1 otherwise."""
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise ApiError("usage: tahobuddy run APP -- COMMAND [ARG...]")
    body = {"argv": argv, "rule": args.rule, "timeout": args.timeout}
    client = _client(args)
    job = client.post(f"/apps/{quote(args.app)}/run", {k: v for k, v in body.items() if v})["jobs"][0]
    print(f"tahobuddy: job {job['id']} queued", file=sys.stderr)
    after = 0
    while True:
        data = client.get(f"/jobs/{quote(job['id'])}/logs", after=after)
        for row in data["lines"]:
            print(row["line"], flush=True)
            after = row["seq"]
        if data["state"] in ENDED_VALUES and not data["lines"]:
            ended = client.get(f"/jobs/{quote(job['id'])}")
            if ended["state"] != "succeeded":
                print(f"tahobuddy: {ended['state']}: {ended.get('reason', '')}", file=sys.stderr)
            return 0 if ended["state"] == "succeeded" else 1
        if not data["lines"]:
            time.sleep(0.5)


def cmd_agent(args) -> int:
    from agent.main import run
    return run(args.config)


def cmd_rollback(args) -> int:
    body = {"to": args.to, "rule": args.rule}
    data = _client(args).post(f"/apps/{quote(args.app)}/rollback", {k: v for k, v in body.items() if v})
    emit(data, args.json, JOB_COLUMNS, "jobs")
    return 0


def cmd_promote(args) -> int:
    data = _client(args).post(f"/apps/{quote(args.app)}/promote", {"from": args.from_rule, "to": args.to_rule})
    emit(data, args.json, JOB_COLUMNS, "jobs")
    return 0


def cmd_token(args) -> int:
    client, words = _client(args), args.words
    if words == ["list"]:
        emit(client.get("/tokens"), args.json, ["id", "name", "role", "pool", "created_at", "expires_at", "expired"],
             "tokens")
    elif words[:1] == ["revoke"] and len(words) == 2:
        emit(client.delete(f"/tokens/{quote(words[1])}"), True)
    elif words:
        raise ApiError("usage: tahobuddy token [--role R --pool P --name N --expires-in 30d | list | revoke ID]")
    else:
        body = {"role": args.role, "name": args.name, "expires_in": args.expires_in, "pool": args.pool}
        emit(client.post("/tokens", {k: v for k, v in body.items() if v}), True)
    return 0


def cmd_agents(args) -> int:
    emit(_client(args).get("/agents", pool=args.pool), args.json,
         ["id", "pool", "status", "targets", "jobs", "host", "version", "last_seen"], "agents")
    return 0


def cmd_previews(args) -> int:
    params = {"app": args.app, "closed": "1" if args.closed else None}
    emit(_client(args).get("/previews", **{k: v for k, v in params.items() if v}), args.json,
         ["app", "number", "hostname", "sha", "state", "since"], "previews")
    return 0


def cmd_schedules(args) -> int:
    """Every rule with a schedule: its next run, and what its last tick did."""
    emit(_client(args).get("/schedules"), args.json,
         ["app", "rule", "cron", "timezone", "next_run_local", "last_tick", "last_outcome", "last_job", "last_note"],
         "schedules")
    return 0


def cmd_approve(args) -> int:
    """Approve a job awaiting approval: it is queued for its agent."""
    emit(_client(args).post(f"/jobs/{quote(args.job)}/approve", {}), True)
    return 0


def cmd_reject(args) -> int:
    """Reject a job awaiting approval: it ends canceled with the reason."""
    emit(_client(args).post(f"/jobs/{quote(args.job)}/reject", {"reason": args.reason}), True)
    return 0


def cmd_pools(args) -> int:
    emit(_client(args).get("/pools"), args.json,
         ["name", "live_agents", "agents", "waiting", "in_flight", "dead_letters"], "pools")
    return 0


def cmd_dlq(args) -> int:
    client, words = _client(args), args.words or ["list"]
    if words == ["list"]:
        emit(client.get("/dlq", pool=args.pool), args.json,
             ["pool", "job_id", "app", "ref", "state", "reason"], "dead_letters")
    elif words[:1] == ["replay"] and len(words) == 2:
        emit(client.post(f"/dlq/{quote(words[1])}/replay", {}), True)
    else:
        raise ApiError("usage: tahobuddy dlq [list [--pool P] | replay JOB_ID]")
    return 0


def cmd_sweep(args) -> int:
    emit(_client(args).post("/sweep", {}), True)
    return 0


def cmd_audit(args) -> int:
    data = _client(args).get("/audit", limit=args.limit)
    for row in data["audit"]:
        row["by"] = f"{row['token']['name'] or '-'} ({row['token']['id'] or 'no token'})"
    emit(data, args.json, ["at", "by", "action", "subject", "summary"], "audit")
    return 0


def cmd_bootstrap(args) -> int:
    """The first admin token, written straight to DynamoDB (no API token exists yet)."""
    try:
        from functions.store import tokens
    except ModuleNotFoundError as exc:  # the agent package has no pynamodb
        raise ApiError(f"bootstrap-token writes to DynamoDB and needs {exc.name}: pip install 'tahobuddy[api]'") from exc
    print(tokens.issue(args.role, args.name, pool=args.pool if args.role == "agent" else None))
    print("(shown once: only its SHA-256 digest is stored)", file=sys.stderr)
    return 0


def cmd_hook_send(args) -> int:
    secret = setting("TAHOBUDDY_WEBHOOK_SECRET", args.secret)
    if not secret:
        raise ApiError("no webhook secret: set TAHOBUDDY_WEBHOOK_SECRET or pass --secret")
    ref = hook.full_ref(args.ref, args.kind)  # `--kind`: the flag users type; a ref type
    try:
        sha = args.sha or hook.resolve_sha(args.repo, ref)
    except ValueError as exc:
        raise ApiError(str(exc)) from exc
    resp = hook.send(setting("TAHOBUDDY_API_URL", args.api_url), secret, "push",
                     hook.push_payload(args.repo, ref, sha, created=not args.update))
    print(resp.text)
    return 0 if resp.ok else 1


# ---- GitHub webhook set-up and repair (functions/notify/github_webhooks.py) ---------------------------------------
def _github(args):
    from functions.notify import github
    settings = github.settings()
    if not settings.enabled:
        raise ApiError("no GitHub credentials: set TAHOBUDDY_GITHUB_TOKEN (or TAHOBUDDY_GITHUB_APP_ID and "
                       "TAHOBUDDY_GITHUB_APP_KEY_FILE); see docs/guides/github.md")
    url = args.url or (setting("TAHOBUDDY_API_URL", args.api_url).rstrip("/") + "/api/v1/hooks/github")
    return github.Client(settings), url


def cmd_hook_github(args) -> int:
    from functions.notify import github_webhooks
    from functions.notify.github import GitHubError
    client, url = _github(args)
    try:
        if args.hook_command == "install":
            secret = setting("TAHOBUDDY_WEBHOOK_SECRET", args.secret)
            if not secret:
                raise ApiError("no webhook secret: set TAHOBUDDY_WEBHOOK_SECRET or pass --secret")
            made, created = github_webhooks.install(client, args.repo, url, secret)
            print(f"{'created' if created else 'updated'} webhook {made['id']} on {args.repo}: {url} "
                  f"({', '.join(made['events'])})")
        elif args.hook_command == "deliveries":
            rows = github_webhooks.deliveries(client, args.repo, url, args.hook_id, args.limit)
            emit({"deliveries": rows}, args.json,
                 ["id", "guid", "event", "status_code", "status", "redelivery", "delivered_at"], "deliveries")
        else:
            ids = github_webhooks.redeliver(client, args.repo, url, args.hook_id, args.id or None)
            print(f"redelivery asked for {len(ids)}: {' '.join(map(str, ids))}" if ids else "no failed deliveries")
    except GitHubError as exc:
        raise ApiError(str(exc)) from exc
    return 0


def _github_hook_parsers(hk) -> None:
    for name, text in (("install", "create or update REPO's webhook to this API (push, create, delete, "
                                   "pull_request; JSON; the webhook secret)"),
                       ("deliveries", "recent deliveries of REPO's webhook and GitHub's answer to each"),
                       ("redeliver", "ask GitHub to send failed deliveries again (all failed ones, or --id)")):
        sp = hk.add_parser(name, help=text, description=text + ". Uses TAHOBUDDY_GITHUB_TOKEN or the GitHub App "
                           "settings, and TAHOBUDDY_GITHUB_API_URL for GitHub Enterprise.")
        sp.set_defaults(func=cmd_hook_github)
        sp.add_argument("--repo", required=True, help="owner/name on GitHub")
        sp.add_argument("--url", help="the webhook URL (default: TAHOBUDDY_API_URL + /api/v1/hooks/github)")
        if name == "install":
            sp.add_argument("--secret", help="webhook secret (env TAHOBUDDY_WEBHOOK_SECRET)")
        else:
            sp.add_argument("--hook-id", type=int, help="the webhook (default: the one to --url)")
        if name == "deliveries":
            sp.add_argument("--limit", type=int, default=30, help="at most this many, newest first")
            sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
        if name == "redeliver":
            sp.add_argument("--id", type=int, action="append", help="a delivery id (repeatable)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tahobuddy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--api-url", help="API base URL (env TAHOBUDDY_API_URL)")
    p.add_argument("--token", help="bearer token (env TAHOBUDDY_TOKEN)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_text, **kw):
        kw.setdefault("description", help_text)
        sp = sub.add_parser(name, help=help_text, **kw)
        sp.set_defaults(func=func)
        return sp

    starter.add_command(sub, add)
    validate.add_command(sub, add)
    sp = add("apply", cmd_apply, "create or replace the apps and rules of a tahobuddy.yaml")
    sp.add_argument("-f", "--file", required=True, help="YAML file with a top-level 'apps:' list ('-' for stdin)")
    sp = add("apps", cmd_apps, "list apps, show one, or delete one")
    sp.add_argument("name", nargs="?", help="show this app in full")
    sp.add_argument("--delete", metavar="NAME", help="delete this app (its jobs and events stay)")
    sp.add_argument("--purge", action="store_true",
                    help="with --delete: also remove its volumes, database and containers on its agents")
    sp.add_argument("--yes", action="store_true", help="with --purge: do not ask for confirmation")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp = add("events", cmd_events, "webhook deliveries and what was decided for each")
    sp.add_argument("id", nargs="?", help="show one event (HOOK:DELIVERY) with its decision")
    sp.add_argument("--payload", action="store_true", help="with ID: include the raw payload")
    sp.add_argument("--limit", type=int, default=50, help="at most this many, newest first")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp = add("jobs", cmd_jobs, "list jobs, show one, or `jobs cancel ID`")
    sp.add_argument("words", nargs="*", metavar="ID | cancel ID", help="show one job, or cancel it")
    sp.add_argument("--app", help="only this app's jobs")
    sp.add_argument("--state", help="only jobs in this state (awaiting_approval, frozen, queued, running, succeeded, "
                                          "failed, canceled, superseded, skipped)")
    sp.add_argument("--limit", type=int, default=50, help="at most this many, newest first")
    sp.add_argument("--reason", default="canceled from the CLI", help="with cancel: why")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp = add("logs", cmd_logs, "print a job's log, or with --app what the app's serving container prints; "
                               "-f follows it")
    sp.add_argument("job", nargs="?", help="the job's id (from tahobuddy jobs)")
    sp.add_argument("--app", help="instead of a job's log: what this app's serving container printed (its agent "
                                  "ships it; an app keeps its last lines for a few days)")
    sp.add_argument("--since", help="with --app: only lines printed this long ago or later (30s, 10m, 2h, 1d)")
    sp.add_argument("--preview", type=int, default=0, metavar="N", help="with --app: pull request N's preview")
    sp.add_argument("--lines", type=int, default=1000, help="with --app: print at most this many of the newest lines")
    sp.add_argument("-f", "--follow", action="store_true",
                    help="keep printing new lines: until the job ends, or with --app until --timeout")
    sp.add_argument("--timeout", type=int, default=3600, help="stop following after this many seconds")
    sp = add("deploy", cmd_deploy, "queue a deploy of REF (branch or tag) for APP by hand")
    sp.add_argument("app", help="the app's name")
    sp.add_argument("ref", help="a tag or branch name, or a full refs/... name")
    sp.add_argument("--sha", help="exact commit (default: what REF points at when the agent fetches)")
    sp.add_argument("--rule", help="use this rule even if its match does not cover REF")
    sp.add_argument("--now", action="store_true", help="skip the target's quiet period")
    sp.add_argument("--override-freeze", action="store_true",
                    help="with --now: deploy inside a freeze window (admin only; audited)")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp = add("agent", cmd_agent, "run the runner agent: long-poll the job queue, deploy, report back",
             epilog="Settings: TAHOBUDDY_API_URL, TAHOBUDDY_AGENT_TOKEN, TAHOBUDDY_POOL (the only queue it polls), "
                    "TAHOBUDDY_QUEUE_URL or TAHOBUDDY_PREFIX, "
                    "TAHOBUDDY_AWS_ENDPOINT, TAHOBUDDY_WORKDIR, TAHOBUDDY_CONCURRENCY, TAHOBUDDY_TARGETS, "
                    "TAHOBUDDY_PROXY_ADMIN, TAHOBUDDY_INSTALLATION (labels this installation's previews on a Docker "
                    "Engine others may share; default: a digest of the API URL) ... (docs/reference/agent.md). "
                    "First SIGTERM: finish the running job "
                    "and stop; second: cancel it and hand it back.")
    sp.add_argument("--config", help="YAML file of agent settings (environment variables override it)")
    sp = add("run", cmd_run, "run a one-off command in a new container of APP's serving image; prints its output")
    sp.add_argument("app", help="the app's name")
    sp.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]",
                    help="the command and its arguments, after --")
    sp.add_argument("--rule", help="the docker rule whose serving image runs it (default: the first)")
    sp.add_argument("--timeout", type=int, help="seconds before it is stopped (default: the target's timeout)")
    sp = add("schedules", cmd_schedules, "rules with a schedule: the next run, and what the last tick did")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp = add("approve", cmd_approve, "approve a job awaiting approval (its rule's approval): it is queued")
    sp.add_argument("job", help="the job's id (tahobuddy jobs --state awaiting_approval)")
    sp = add("reject", cmd_reject, "reject a job awaiting approval: it ends canceled with the reason")
    sp.add_argument("job", help="the job's id (tahobuddy jobs --state awaiting_approval)")
    sp.add_argument("--reason", required=True, help="why it must not deploy (the job's reason says it)")
    sp = add("rollback", cmd_rollback, "bring back an image the agent kept, without building")
    sp.add_argument("app", help="the app's name")
    sp.add_argument("--to", help="tag, branch or commit to go back to (default: the version before the live one)")
    sp.add_argument("--rule", help="the docker rule whose target to roll back (default: the first)")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp = add("promote", cmd_promote, "deploy to one rule's target (docker, heroku, aws-ecs) exactly the image another rule serves")
    sp.add_argument("app", help="the app's name")
    sp.add_argument("--from", dest="from_rule", required=True, help="the rule whose serving image (by digest) goes")
    sp.add_argument("--to", dest="to_rule", required=True, help="the rule whose target (docker, heroku, aws-ecs) receives it")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp = add("token", cmd_token, "create an API token (shown once), `token list`, or `token revoke ID`")
    sp.add_argument("words", nargs="*", metavar="list | revoke ID", help="list tokens by id, or revoke one")
    sp.add_argument("--role", choices=["admin", "agent"], default="agent",
                    help="admin: people and scripts; agent: only to register an agent")
    sp.add_argument("--pool", help="agent tokens: the one pool its agents may register in (default: default)")
    sp.add_argument("--name", default="agent", help="a name to tell the token apart in token list and the audit log")
    sp.add_argument("--expires-in", metavar="DURATION", help="e.g. 30d, 12h, 45m (default: never)")
    sp.add_argument("--json", action="store_true", help="with list: JSON")
    sp = add("agents", cmd_agents, "registered agents: pool, targets, idle/busy/stopping/lost, current jobs")
    sp.add_argument("--pool", help="only this pool")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp = add("previews", cmd_previews, "pull-request previews: number, hostname, commit, state, since")
    sp.add_argument("app", nargs="?", help="only this app's")
    sp.add_argument("--closed", action="store_true", help="closed ones too")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp = add("pools", cmd_pools, "pools: live agents, messages waiting and in flight, dead letters")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp = add("dlq", cmd_dlq, "dead letters: `dlq list` shows them, `dlq replay JOB_ID` queues the job again")
    sp.add_argument("words", nargs="*", metavar="list | replay JOB_ID",
                    help="list the dead letters (the default), or queue a new job for JOB_ID's commit")
    sp.add_argument("--pool", help="with list: only this pool")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add("sweep", cmd_sweep, "run the sweeper now: end dead-lettered jobs, re-send lost messages "
        "(the API runs it every minute on AWS; `make run` every 30 s)")
    sp = add("audit", cmd_audit, "who changed which app or token, when, and what changed (newest first)")
    sp.add_argument("--limit", type=int, default=50, help="at most this many, newest first")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp = add("bootstrap-token", cmd_bootstrap, "create a token directly in DynamoDB with your AWS credentials "
             "(for the first admin token after deploying to AWS)",
             epilog="Uses TAHOBUDDY_PREFIX (e.g. tahobuddy-prod), AWS_REGION and the usual AWS credentials; "
                    "TAHOBUDDY_AWS_ENDPOINT for an emulator.")
    sp.add_argument("--role", choices=["admin", "agent"], default="admin", help="the token's role")
    sp.add_argument("--name", default="bootstrap", help="a name to tell the token apart")
    sp.add_argument("--pool", help="with --role agent: the pool its agents register in (default: default)")
    hk = add("hook", None, "webhook helpers").add_subparsers(dest="hook_command", required=True, metavar="SUB")
    sp = hk.add_parser("send", help="send a signed GitHub push for REPO and REF to the API",
                       description="Send a GitHub-format push, signed like GitHub signs it, to try your rules.")
    sp.set_defaults(func=cmd_hook_send)
    sp.add_argument("--repo", required=True, help="repository URL as the app names it")
    sp.add_argument("--ref", required=True, help="tag or branch name, or a full refs/... name")
    sp.add_argument("--kind", choices=["tag", "branch"], default="tag", help="what a short REF is")
    sp.add_argument("--sha", help="commit (default: resolved with git ls-remote)")
    sp.add_argument("--update", action="store_true", help="an existing ref moved (created: false)")
    sp.add_argument("--secret", help="webhook secret (env TAHOBUDDY_WEBHOOK_SECRET)")
    # production: `doctor`, `agent install-service`, `infra deploy|destroy` (cli/infra.py)
    from . import db, infra
    infra.add_commands(sub, add)
    db.add_commands(add)
    _github_hook_parsers(hk)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ApiError as exc:
        print(f"tahobuddy: {exc}", file=sys.stderr)
        return 2 if exc.status == 0 and "no API URL" in str(exc) else 1
    except (OSError, yaml.YAMLError) as exc:
        print(f"tahobuddy: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
