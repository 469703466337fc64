"""Small helpers shared by the functional and end-to-end tests."""
from __future__ import annotations

import json
import uuid

import requests

from functions.providers.github import sign

SHA1 = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
SHA2 = "b" * 40


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def deliver(api, event: str, payload, *, delivery: str | None = None, hook: str = "1", secret: str | None = None,
            content_type: str = "application/json", signature: str | None = None) -> requests.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": content_type, "X-GitHub-Event": event, "X-GitHub-Hook-ID": hook,
               "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "X-Hub-Signature-256": signature if signature is not None else sign(secret or api.secret, body)}
    return requests.post(f"{api.url}/api/v1/hooks/github", data=body, headers=headers, timeout=60)


def repo(name: str) -> dict:
    return {"name": name, "full_name": f"tests/{name}", "clone_url": f"https://github.com/tests/{name}.git",
            "ssh_url": f"git@github.com:tests/{name}.git", "html_url": f"https://github.com/tests/{name}"}


def push(name: str, ref: str, sha: str = SHA1, **kw) -> dict:
    return {"ref": ref, "before": "0" * 40, "after": sha, "created": False, "deleted": False, "forced": False,
            "base_ref": None, "repository": repo(name), **kw}


def create(name: str, tag: str) -> dict:
    return {"ref": tag, "ref_type": "tag", "master_branch": "main", "repository": repo(name)}


def put_app(api, spec: dict) -> dict:
    r = requests.put(f"{api.url}/api/v1/apps/{spec['name']}", json=spec, headers=api.headers(), timeout=30)
    assert r.status_code in (200, 201), r.text
    return r.json()


def jobs_of(api, app: str) -> list[dict]:
    r = requests.get(f"{api.url}/api/v1/jobs", params={"app": app}, headers=api.headers(), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["jobs"]


def docker_app(name: str, rules: list[dict] | None = None, **kw) -> dict:
    return {"name": name, "repository": f"https://github.com/tests/{name}.git", **kw,
            "rules": rules if rules is not None else [
                {"name": "dev", "match": {"branch": "development"}, "target": {"type": "docker"}},
                {"name": "release", "match": {"tag": "release-*"}, "target": {"type": "docker"}}]}


def push_to(api, repo, ref: str, sha: str, created: bool = False, delivery: str | None = None,
            full_name: str = "local/x") -> requests.Response:
    """A signed GitHub push of `ref` at `sha` for `repo`: a local test repository (its origin is the clone
    URL) or a clone URL."""
    if not ref.startswith("refs/"):
        ref = f"refs/heads/{ref}"
    return deliver(api, "push", {"ref": ref, "after": sha, "created": created, "deleted": False,
                                 "repository": {"full_name": full_name, "clone_url": str(getattr(repo, "origin", repo))}},
                   delivery=delivery)


def shell_app(api, repo, commands=None, *, name: str | None = None, prefix: str = "sh", rule: str = "run",
              match: dict | None = None, pool: str | None = None, timeout: int = 120, forge: str | None = None) -> str:
    """Save an app with one shell rule (`run` on branch main unless told otherwise) for `repo` (a GitRepo,
    whose origin is the repository, or a repository URL); returns its name."""
    name = name or unique(prefix)
    target = {"type": "shell", "commands": commands or [["true"]], "timeout": timeout, **({"pool": pool} if pool else {})}
    put_app(api, {"name": name, "repository": str(getattr(repo, "origin", repo)), **({"forge": forge} if forge else {}),
                  "rules": [{"name": rule, "match": match or {"branch": "main"}, "target": target}]})
    return name


def push_jobs(api, repo, ref: str, sha: str, **kw) -> list[str]:
    """A signed push (push_to) that the API accepted: the ids of the jobs it queued."""
    r = push_to(api, repo, ref, sha, **kw)
    assert r.status_code == 200, r.text
    return r.json()["jobs"]


def push_job(api, repo, ref: str, sha: str, **kw) -> str:
    """A signed push (push_to) that queued exactly one job: its id."""
    jobs = push_jobs(api, repo, ref, sha, **kw)
    assert len(jobs) == 1, jobs
    return jobs[0]
