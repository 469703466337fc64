"""The job's code: one bare mirror per repository, fetched incrementally, and a clean
worktree at the exact commit. Ref names only ever travel as argv elements."""
from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import threading
from pathlib import Path

from runners.base import Log


class FetchError(Exception):
    pass


class Source:
    def __init__(self, workdir: Path, git_token: str = "", git_ssh_key: str = ""):
        self.workdir = workdir
        self.mirrors = workdir / "mirrors"
        self.worktrees = workdir / "worktrees"
        self.token, self.ssh_key = git_token, git_ssh_key
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _git(self, *args: str, cwd: Path | None = None, timeout: float = 600) -> str:
        argv = ["git"]
        if self.token:  # never in the URL, so never in a log line or `git remote -v`
            basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
            argv += ["-c", f"http.extraHeader=Authorization: Basic {basic}"]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        if self.ssh_key:
            env["GIT_SSH_COMMAND"] = f"ssh -i {self.ssh_key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new"
        run = subprocess.run(argv + list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        if run.returncode != 0:
            message = run.stderr.strip().replace(self.token, "***") if self.token else run.stderr.strip()
            if "No space left on device" in message:  # say which disk, and what to do, before git's words
                raise FetchError(f"no space left in the agent's workdir {self.workdir}: free space there or move "
                                 f"TAHOBUDDY_WORKDIR to a larger disk (git {args[0]}: {message.splitlines()[-1][-300:]})")
            raise FetchError(f"git {args[0]} failed: {message[-500:]}")
        return run.stdout.strip()

    def _mirror(self, repository: str, log: Log) -> Path:
        path = self.mirrors / (hashlib.sha256(repository.encode()).hexdigest()[:24] + ".git")
        if path.is_dir():
            log(f"fetching {repository} (incremental)")
            self._git("-C", str(path), "remote", "update", "--prune")
        else:
            log(f"cloning {repository} (bare mirror)")
            self.mirrors.mkdir(parents=True, exist_ok=True)
            self._git("clone", "--mirror", "--quiet", "--", repository, str(path))
        return path

    def checkout(self, repository: str, ref: str, sha: str, name: str, log: Log) -> tuple[Path, str]:
        """A clean worktree of `repository` at `sha` (or at what `ref` points to when sha is unknown)."""
        with self._guard:
            lock = self._locks.setdefault(repository, threading.Lock())
        with lock:
            mirror = self._mirror(repository, log)
            target = sha or ref
            try:
                commit = self._git("-C", str(mirror), "rev-parse", "--verify", "--quiet", "--end-of-options",
                                   f"{target}^{{commit}}")
            except FetchError as exc:
                raise FetchError(f"{target} is not a commit in {repository}") from exc
            dest = self.worktrees / name
            if dest.exists():
                self.remove(dest)
            self.worktrees.mkdir(parents=True, exist_ok=True)
            self._git("-C", str(mirror), "worktree", "add", "--detach", "--force", "--", str(dest), commit)
        log(f"checked out {ref} at {commit}")
        return dest, commit

    def remove(self, worktree: Path | None) -> None:
        if worktree is None or not worktree.exists():
            return
        try:
            common = self._git("-C", str(worktree), "rev-parse", "--git-common-dir")
            self._git("-C", common, "worktree", "remove", "--force", str(worktree))
        except FetchError:
            import shutil
            shutil.rmtree(worktree, ignore_errors=True)
