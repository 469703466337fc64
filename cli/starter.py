"""`tahobuddy init`: a starting tahobuddy.yaml for the repository you are in.

What it reads: the app name from the directory's name, the repository from `git remote get-url`
(origin, else the first remote, else the directory itself), and a Dockerfile's `EXPOSE` for the
port. With a Dockerfile the release rule deploys a docker target; without one it is a shell target
to edit. A pull-request preview rule is written commented out. It never overwrites a file.
"""
from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

from .client import ApiError

SCHEMA_URL = "https://raw.githubusercontent.com/tahobuddy/tahobuddy/main/schema/tahobuddy.schema.json"
HELP = "write a starting tahobuddy.yaml for the git repository in this directory (never overwrites)"
DESCRIPTION = HELP + """.

It names the app after the directory, takes the repository from `git remote` (origin first), and
writes a release rule for tags `release-*`: a docker target when there is a Dockerfile (its EXPOSEd
port becomes the app's port and the health check), a shell target to fill in otherwise. A preview
rule for pull requests is included, commented out. Check the result with `tahobuddy validate`,
then send it with `tahobuddy apply -f tahobuddy.yaml`.
Exit codes: 0 written, 1 the file exists already or this is no git repository."""
_EXPOSE = re.compile(r"^\s*EXPOSE\s+(\d+)", re.IGNORECASE | re.MULTILINE)


def add_command(sub, add) -> None:
    sp = add("init", cmd_init, HELP, description=DESCRIPTION,
             formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("-f", "--file", default="tahobuddy.yaml", help="where to write it (default: tahobuddy.yaml)")
    sp.add_argument("-C", "--directory", default=".", help="the repository (default: the current directory)")


def app_name(directory: Path) -> str:
    """The directory's name as an app name: lower case, runs of other characters as one '-'."""
    name = re.sub(r"[^a-z0-9]+", "-", directory.name.lower()).strip("-")[:63].strip("-")
    return name or "app"


def exposed_port(dockerfile: Path) -> int | None:
    """The first port a Dockerfile EXPOSEs (the last stage's, when several stages expose one)."""
    ports = _EXPOSE.findall(dockerfile.read_text(errors="replace"))
    return int(ports[-1]) if ports else None


def repository(directory: Path) -> str:
    def git(*argv: str) -> str:
        r = subprocess.run(["git", "-C", str(directory), *argv], capture_output=True, text=True, timeout=30)
        return r.stdout.strip() if r.returncode == 0 else ""
    if git("rev-parse", "--is-inside-work-tree") != "true":
        raise ApiError(f"{directory} is not a git repository: run tahobuddy init inside one (or git init first)")
    remotes = git("remote").split()
    remote = "origin" if "origin" in remotes else (remotes[0] if remotes else "")
    return (git("remote", "get-url", remote) if remote else "") or str(directory)


def starter(name: str, repo: str, port: int | None, dockerfile: bool) -> str:
    """The file's text: comments say what each part does and what to change."""
    lines = [f"# yaml-language-server: $schema={SCHEMA_URL}",
             "# Made by `tahobuddy init`. Check it with `tahobuddy validate`, send it with `tahobuddy apply -f "
             "tahobuddy.yaml`.",
             "apps:",
             f"  - name: {name}",
             f"    repository: {repo}",
             f"    hostname: {name}.example.com          # where Caddy serves it: change to your domain"]
    if port:
        lines.append(f"    port: {port}                        # from the Dockerfile's EXPOSE")
    lines += ["    rules:",
              "      - name: release",
              '        match: {tag: "release-*"}            # git tag release-1 && git push --tags deploys it']
    if dockerfile:
        lines.append("        target: {type: docker, health_path: /}")
    else:
        lines += ["        # no Dockerfile here: a shell target runs commands on the agent's host; edit them",
                  '        target: {type: shell, commands: [["make", "deploy"]]}']
    lines += ["      # A preview of every pull request into main, at pr-N.<hostname> (docker targets only):",
              "      # - name: previews",
              '      #   match: {pull_request: {base: "main"}}',
              "      #   preview: {max_previews: 3, expire_after_days: 7}",
              "      #   target: {type: docker, health_path: /}"]
    return "\n".join(lines) + "\n"


def cmd_init(args) -> int:
    directory = Path(args.directory).resolve()
    out = Path(args.file) if Path(args.file).is_absolute() else directory / args.file
    if out.exists():
        raise ApiError(f"{out} exists already; init never overwrites a file: edit it, or pass -f OTHER.yaml")
    repo = repository(directory)
    dockerfile = directory / "Dockerfile"
    port = exposed_port(dockerfile) if dockerfile.is_file() else None
    text = starter(app_name(directory), repo, port, dockerfile.is_file())
    with open(out, "x") as fh:  # "x": a file made meanwhile is not overwritten either
        fh.write(text)
    target = f"docker target, port {port}" if port else "docker target" if dockerfile.is_file() else "shell target"
    print(f"wrote {out} (app {app_name(directory)}, {repo}, {target})")
    return 0
