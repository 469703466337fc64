"""The job's code: one bare mirror per repository, and a clean worktree at the exact commit.

A job fetches only the ref it deploys (a branch, a tag, a pull/merge request's head), never the
mirror's every ref, and its commit must be that ref's tip or reachable from it: a commit that
only a fork's `refs/pull/N/head` brought into the mirror is not `main`. Ref names only ever
travel as argv elements."""
from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

from runners.base import Log

SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


class FetchError(Exception):
    pass


class Refused(FetchError):
    """The job's commit is not on the ref it names: the job ends `refused`, never built."""


class Stale(FetchError):
    """A branch push older than what the app serves, and no longer the branch's tip: a replayed or
    late delivery. The job ends without deploying it."""


class Source:
    def __init__(self, workdir: Path, git_token: str = "", git_ssh_key: str = ""):
        self.workdir = workdir
        self.mirrors = workdir / "mirrors"
        self.worktrees = workdir / "worktrees"
        self.token, self.ssh_key = git_token, git_ssh_key
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _git(self, *args: str, cwd: Path | None = None, timeout: float = 600) -> str:
        run = self._run(*args, cwd=cwd, timeout=timeout)
        if run.returncode != 0:
            message = run.stderr.strip().replace(self.token, "***") if self.token else run.stderr.strip()
            if "No space left on device" in message:  # say which disk, and what to do, before git's words
                raise FetchError(f"no space left in the agent's workdir {self.workdir}: free space there or move "
                                 f"TAHOBUDDY_WORKDIR to a larger disk (git {args[0]}: {message.splitlines()[-1][-300:]})")
            raise FetchError(f"git {args[0]} failed: {message[-500:]}")
        return run.stdout.strip()

    def _run(self, *args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        argv = ["git"]
        if self.token:  # never in the URL, so never in a log line or `git remote -v`
            basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
            argv += ["-c", f"http.extraHeader=Authorization: Basic {basic}"]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        if self.ssh_key:
            env["GIT_SSH_COMMAND"] = f"ssh -i {self.ssh_key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new"
        return subprocess.run(argv + list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)

    def _fetch(self, repository: str, ref: str, log: Log) -> tuple[Path, str]:
        """Fetch `ref` alone into the repository's bare mirror, under the same name; (mirror, its tip).
        Mirrors made by an older agent (`clone --mirror`) keep their other refs, which nothing trusts."""
        if not ref.startswith("refs/") or "*" in ref or self._run("check-ref-format", ref).returncode != 0:
            raise Refused(f"{ref!r} is not a full ref name (refs/heads/..., refs/tags/..., refs/pull/N/head): "
                          "there is no ref to check the commit against")
        path = self._mirror(repository)
        new = not path.is_dir()
        log(f"fetching {ref} of {repository} ({'new bare mirror' if new else 'incremental'})")
        try:
            if new:
                self.mirrors.mkdir(parents=True, exist_ok=True)
                self._git("init", "--bare", "--quiet", str(path))
            self._git("-C", str(path), "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--", repository,
                      f"+{ref}:{ref}")
        except FetchError:
            if new:  # as `git clone` does: a first fetch that failed (a full disk) leaves no half mirror behind
                shutil.rmtree(path, ignore_errors=True)
            raise
        return path, self._git("-C", str(path), "rev-parse", "--verify", "--quiet", "--end-of-options",
                               f"{ref}^{{commit}}")

    def _is_ancestor(self, mirror: Path, older: str, newer: str) -> bool | None:
        """`older` is `newer` or one of its ancestors; None when git cannot tell (a commit unknown here)."""
        run = self._run("-C", str(mirror), "merge-base", "--is-ancestor", "--end-of-options", older, newer)
        return {0: True, 1: False}.get(run.returncode)

    def checkout(self, repository: str, ref: str, sha: str, name: str, log: Log,
                 serving: str = "") -> tuple[Path, str]:
        """A clean worktree of `repository` at `sha`, which must be `ref`'s tip or reachable from it
        (Refused otherwise); at `ref`'s tip when sha is unknown. `serving`, for a branch push: the
        commit the app serves now; a `sha` that is it or its ancestor, while the branch has moved on
        from `sha`, raises Stale (a force push that rewinds the branch points it at `sha`, and deploys)."""
        with self._guard:
            lock = self._locks.setdefault(repository, threading.Lock())
        with lock:
            mirror, tip = self._fetch(repository, ref, log)
            target = sha or tip
            try:
                commit = self._git("-C", str(mirror), "rev-parse", "--verify", "--quiet", "--end-of-options",
                                   f"{target}^{{commit}}")
            except FetchError as exc:
                raise Refused(f"commit {target} is not on {ref} (its tip is {tip}, and fetching {ref} brought no "
                              f"such commit): refusing to deploy it as {ref} of {repository}") from exc
            if commit != tip and not self._is_ancestor(mirror, commit, tip):
                raise Refused(f"commit {commit} is not on {ref} (its tip is {tip}, and {commit[:12]} is not reachable "
                              f"from it): refusing to deploy it as {ref} of {repository}")
            older = self._is_ancestor(mirror, commit, serving) if serving and commit != tip else False
            if older is None:
                log(f"the app serves {serving[:40]!r}, which this mirror does not hold: cannot tell whether "
                    f"{commit[:12]} is older; deploying it")
            if older:
                raise Stale(f"a replayed or late push, not deployed: the app serves {serving}, and commit {commit} "
                            f"is it or an ancestor of it, while {ref} has moved on to {tip} (deploy an older commit "
                            "by hand, or roll back)")
            dest = self.worktrees / name
            if dest.exists():
                self.remove(dest)
            self.worktrees.mkdir(parents=True, exist_ok=True)
            self._git("-C", str(mirror), "worktree", "add", "--detach", "--force", "--", str(dest), commit)
        log(f"checked out {ref} at {commit}")
        return dest, commit

    def changed_since(self, repository: str, commit: str, log: Log, serving: str = "",
                      base_ref: str = "") -> tuple[str, list[str] | None]:
        """(base, the paths that differ between base and `commit`), by `git diff --name-only` in the mirror.
        The base is `serving` (the commit the target serves now), or, for a pull request, where `commit`
        forks from `base_ref`. (why, None) when the base is unknown: nothing serves yet, a force push (the
        served commit is not an ancestor), or a base this mirror cannot get."""
        with self._guard:
            lock = self._locks.setdefault(repository, threading.Lock())
        with lock:
            mirror = self._mirror(repository)
            if base_ref:
                try:
                    _, tip = self._fetch(repository, base_ref, log)
                    serving = self._git("-C", str(mirror), "merge-base", "--end-of-options", tip, commit)
                except FetchError as exc:
                    return f"the base {base_ref} cannot be compared ({exc})", None
            if not serving:
                return "nothing is deployed yet (a first deploy)", None
            if not SHA.match(serving):
                return f"the served commit {serving[:40]!r} is not a commit id", None
            if not self._has_commit(mirror, serving):  # it came from another ref: ask for that commit alone
                self._run("-C", str(mirror), "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--",
                          repository, serving, timeout=120)
                if not self._has_commit(mirror, serving):
                    return f"the served commit {serving[:12]} is not in the mirror and could not be fetched", None
            if not self._is_ancestor(mirror, serving, commit):
                return f"the served commit {serving[:12]} is not an ancestor of {commit[:12]} (a force push)", None
            names = self._git("-C", str(mirror), "diff", "--name-only", "--no-renames", "-z", "--end-of-options",
                              serving, commit)
            return serving, [n for n in names.split("\0") if n]

    def _mirror(self, repository: str) -> Path:
        return self.mirrors / (hashlib.sha256(repository.encode()).hexdigest()[:24] + ".git")

    def _has_commit(self, mirror: Path, sha: str) -> bool:
        return self._run("-C", str(mirror), "cat-file", "-e", "--end-of-options", f"{sha}^{{commit}}").returncode == 0

    def remove(self, worktree: Path | None) -> None:
        if worktree is None or not worktree.exists():
            return
        try:
            common = self._git("-C", str(worktree), "rev-parse", "--git-common-dir")
            self._git("-C", common, "worktree", "remove", "--force", str(worktree))
        except FetchError:
            import shutil
            shutil.rmtree(worktree, ignore_errors=True)
