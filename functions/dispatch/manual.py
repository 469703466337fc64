"""Deploys, rollbacks and promotions asked for by hand (the API, the CLI, the dashboard): which rules a ref
selects, checked input, and the jobs queued for them."""
from __future__ import annotations

from functions.dispatch import gate
from functions.domain import apps, previews, promotions, refs, rules
from functions.errors import InvalidInput
from functions.domain.events import Action, WebhookEvent
from functions.store import app_store, audit, jobs, releases


def deploy(name: str, body: dict) -> list[dict]:
    """Queue jobs for `body["ref"]`: every rule of the app that matches it, or the named `rule`.
    A bare name tries the rules of a tag first, then of a branch."""
    app = app_store.get(name)
    ref, sha = body.get("ref"), body.get("sha") or ""
    if not isinstance(ref, str) or not ref:
        raise InvalidInput("ref", "is required: a branch, a tag, or refs/heads/... or refs/tags/...")
    if sha and not refs.valid_sha(sha):
        raise InvalidInput("sha", "must be a full 40-hex commit SHA")
    if previews.pull_request_ref(ref):  # a pull request's code: the gate allows it only as its preview
        if not body.get("rule"):
            raise InvalidInput("rule", f"{ref!r} is a pull request's ref: name its pull_request rule")
        if not refs.valid_name(ref.split("/", 1)[-1]):
            raise InvalidInput("ref", f"{ref!r} is not a valid git ref")
        rule = apps.rule(app, body["rule"])
        return [jobs.to_dict(gate.by_hand(app, rule, ref, sha, now=_now(body)))]
    candidates = [refs.split(ref)] if ref.startswith("refs/") else [("tag", ref), ("branch", ref)]
    if not all(ref_type and refs.valid_name(n) for ref_type, n in candidates):
        raise InvalidInput("ref", f"{ref!r} is not a valid git ref")
    chosen = []
    for ref_type, ref_name in candidates:
        event = WebhookEvent("manual", Action.TAG_MOVED if ref_type == "tag" else Action.BRANCH_PUSH,
                             ref_type=ref_type, ref_name=ref_name, sha=sha)
        chosen = [(r, event.ref) for r in app["rules"]
                  if (r["name"] == body["rule"] if body.get("rule") else rules.evaluate(r, event))]
        if chosen:
            break
    if not chosen:
        raise InvalidInput("ref", f"no rule of app {name} matches {ref!r}; name one with \"rule\"")
    now, override = _now(body), body.get("override_freeze", False)
    if not isinstance(override, bool) or (override and not now):
        raise InvalidInput("override_freeze", "must be true or false, and true only with \"now\": true")
    made = [jobs.to_dict(gate.by_hand(app, r, full_ref, sha, now=now, override_freeze=override))
            for r, full_ref in chosen]
    if override:
        audit.record("override_freeze", f"app/{name}", {"ref": ref, "jobs": [j["id"] for j in made],
                                                         "rule": ", ".join(j["rule"] for j in made)})
    return made


def _now(body: dict) -> bool:
    now = body.get("now", False)
    if not isinstance(now, bool):
        raise InvalidInput("now", "must be true or false (true skips the targets' quiet period)")
    return now


def rollback(name: str, body: dict, kept_only: bool = False) -> list[dict]:
    """Queue a rollback of the app's (first, or named) docker rule to `to` (default: the one before live).
    `kept_only` (the dashboard, which offers the kept images as a list) refuses a `to` that is not one of them."""
    app = app_store.get(name)
    to = body.get("to") or ""
    if not isinstance(to, str) or (to and not refs.valid_name(to.split("/", 2)[-1])):
        raise InvalidInput("to", "must be a tag, branch or commit the app was deployed at")
    if kept_only and not any(to and to in (r["sha"], r["ref"]) for r in releases.history(name)):
        raise InvalidInput("to", f"{to!r} is not a kept image of app {name}; choose one from the list")
    docker_rules = [r for r in app["rules"] if r["target"]["type"] == "docker"
                    and (r["name"] == body["rule"] if body.get("rule") else not previews.is_preview_rule(r))]
    if not docker_rules:
        raise InvalidInput("rule", f"app {name} has no docker rule to roll back")
    return [jobs.to_dict(gate.by_hand(app, docker_rules[0], to, "", trigger="rollback"))]


PROMOTES_TO = ("docker", "heroku", "aws-ecs")


def promote(name: str, body: dict) -> list[dict]:
    """Queue a deploy to rule `to`'s target of exactly the digest rule `from` serves: no build. A docker target's
    agent pulls it (skopeo copies it to its own registry first when that is another one); a heroku target's
    copies it to Heroku's registry and releases it; an aws-ecs target's copies it to ECR and registers a task
    definition revision naming it."""
    app = app_store.get(name)
    by_name = {r["name"]: r for r in app["rules"]}
    for field in ("from", "to"):
        if not isinstance(body.get(field), str) or body[field] not in by_name:
            raise InvalidInput(field, f"must name a rule of app {name} ({', '.join(sorted(by_name)) or 'none'})")
    if body["from"] == body["to"]:
        raise InvalidInput("to", "must be another rule than from")
    rule = by_name[body["to"]]
    if previews.is_preview_rule(rule):
        raise InvalidInput("to", f"rule {body['to']} makes pull-request previews: promote to a deploying rule")
    target_type = rule["target"]["type"]
    if target_type not in PROMOTES_TO:
        raise InvalidInput("to", f"rule {body['to']} deploys with {target_type}: promotion goes to a "
                                 f"{', '.join(PROMOTES_TO)} target")
    if target_type == "heroku" and rule["target"].get("method", "build") != "container":
        raise InvalidInput("to", f"rule {body['to']} deploys to Heroku with method build: a promotion releases an "
                                 "image, which needs method: container (an app on Heroku's container stack)")
    serving = next((e for e in reversed(releases.history(name)) if e.get("rule") == body["from"]), None)
    if serving is None:
        raise InvalidInput("from", f"rule {body['from']} of app {name} serves nothing yet")
    if not serving.get("digest"):
        raise InvalidInput("from", f"the image rule {body['from']} serves ({serving['image'][:19]}) is in no registry "
                                   "(its agent had no TAHOBUDDY_REGISTRY, or the push failed): deploy it again first")
    target = {**rule["target"], "image": serving["digest"],
              "promoted_from": promotions.origin(body["from"], serving["job"], serving["digest"])}
    if target_type == "docker":
        target["image_wait"] = 0
    return [jobs.to_dict(gate.by_hand(app, {**rule, "target": target}, serving["ref"], serving["sha"],
                                      trigger="promote", now=True))]


def purge(name: str) -> list[dict]:
    """Queue the removal of everything the app's docker targets made on their agents (containers, route,
    volumes, database, images, network): one `purge` job per docker target. The app is deleted right
    after; its claim is let through without it (functions/dispatch/agent_api.py)."""
    app, seen, out = app_store.get(name), set(), []
    for r in app["rules"]:
        key = (r["target"]["name"], r["target"].get("pool"))
        if r["target"]["type"] != "docker" or previews.is_preview_rule(r) or key in seen:
            continue
        seen.add(key)
        out.append(jobs.to_dict(gate.by_hand(app, r, "", "", trigger="purge")))
    return out


MAX_RUN_SECONDS = 24 * 3600


def run(name: str, body: dict) -> list[dict]:
    """Queue a `run` job: `argv` in a new container of the image the app's (first, or named) docker rule
    serves, with its environment, network and volumes; `timeout` seconds at most (default: the target's)."""
    app = app_store.get(name)
    argv, timeout = body.get("argv"), body.get("timeout")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and a for a in argv):
        raise InvalidInput("argv", 'is required: an argv list like ["./manage.py", "shell"]; never a shell string')
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int)
                                or not 1 <= timeout <= MAX_RUN_SECONDS):
        raise InvalidInput("timeout", f"must be a whole number of seconds from 1 to {MAX_RUN_SECONDS}")
    docker_rules = [r for r in app["rules"] if r["target"]["type"] == "docker"
                    and (r["name"] == body["rule"] if body.get("rule") else not previews.is_preview_rule(r))]
    if not docker_rules:
        raise InvalidInput("rule", f"app {name} has no docker rule to run a command in")
    rule = docker_rules[0]
    target = {**rule["target"], "run_command": list(argv)}
    if timeout is not None:
        target["timeout"] = timeout
    return [jobs.to_dict(gate.by_hand(app, {**rule, "target": target}, "", "", trigger="run", now=True))]
