"""`tahobuddy init` and `tahobuddy validate`, run as a user runs them: in real git repositories, on
real files, and `validate` beside the running API, whose refusal it must word the same way."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import unique

pytestmark = pytest.mark.functional
CLI = str(Path(sys.executable).parent / "tahobuddy")
ROOT = Path(__file__).resolve().parents[2]


def tahobuddy(*args, cwd, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAHOBUDDY_")}
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=cwd, env={**env, **(env_extra or {})},
                          timeout=120)


def git_repo(path: Path, remote: str | None = None) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    if remote:
        subprocess.run(["git", "-C", str(path), "remote", "add", "origin", remote], check=True)
    return path


def test_init_with_a_dockerfile_writes_a_docker_app_on_its_exposed_port(tmp_path):
    repo = git_repo(tmp_path / "My Shop", remote="git@github.com:me/shop.git")
    (repo / "Dockerfile").write_text("FROM scratch AS build\nEXPOSE 9000\nFROM scratch\nexpose 3000/tcp\n")
    r = tahobuddy("init", cwd=repo)
    assert r.returncode == 0, r.stderr
    text = (repo / "tahobuddy.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    app = yaml.safe_load(text)["apps"][0]
    assert app["name"] == "my-shop" and app["repository"] == "git@github.com:me/shop.git" and app["port"] == 3000
    assert app["rules"] == [{"name": "release", "match": {"tag": "release-*"},
                             "target": {"type": "docker", "health_path": "/"}}]
    assert "#   match: {pull_request: {base: \"main\"}}" in text  # the preview rule, commented out
    v = tahobuddy("validate", cwd=repo)
    assert v.returncode == 0 and "tahobuddy.yaml: 1 app valid" in v.stdout, v.stderr


def test_init_without_a_dockerfile_or_remote_writes_a_shell_app_that_validates(tmp_path):
    repo = git_repo(tmp_path / "tools")
    r = tahobuddy("init", cwd=repo)
    assert r.returncode == 0, r.stderr
    app = yaml.safe_load((repo / "tahobuddy.yaml").read_text())["apps"][0]
    assert app["name"] == "tools" and app["repository"] == str(repo.resolve()) and "port" not in app
    assert app["rules"][0]["target"] == {"type": "shell", "commands": [["make", "deploy"]]}
    assert tahobuddy("validate", "-f", "tahobuddy.yaml", cwd=repo).returncode == 0


def test_init_never_overwrites_a_file_and_refuses_outside_a_repository(tmp_path):
    repo = git_repo(tmp_path / "site", remote="https://gitlab.example.com/team/site.git")
    (repo / "tahobuddy.yaml").write_text("mine\n")
    r = tahobuddy("init", cwd=repo)
    assert r.returncode == 1 and "exists already" in r.stderr and "never overwrites" in r.stderr
    assert (repo / "tahobuddy.yaml").read_text() == "mine\n"
    r = tahobuddy("init", "-f", "other.yaml", cwd=repo)
    assert r.returncode == 0 and "gitlab.example.com/team/site.git" in (repo / "other.yaml").read_text()
    plain = tmp_path / "plain"
    plain.mkdir()
    r = tahobuddy("init", cwd=plain)
    assert r.returncode == 1 and "not a git repository" in r.stderr and not (plain / "tahobuddy.yaml").exists()


def test_validate_words_a_refusal_as_the_api_does(api, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"apps:\n  - name: {unique('ok')}\n    repository: me/ok\n"
                   f"  - name: {unique('broken')}\n    repository: me/x\n    rules:\n"
                   "      - match: {tag: 'v*'}\n      - match: {tag: 'v*'}\n"
                   "        target: {type: heroku, api_key: 'secret:K'}\n")
    env = {"TAHOBUDDY_API_URL": api.url, "TAHOBUDDY_TOKEN": api.token}
    applied = tahobuddy("apply", "-f", str(bad), cwd=tmp_path, env_extra=env)
    assert applied.returncode == 1
    api_says = applied.stderr.strip().rsplit(": ", 2)[-2:]   # "... (400): rules[0].target.type: is required ..."
    checked = tahobuddy("validate", "-f", str(bad), cwd=tmp_path)
    assert checked.returncode == 1 and checked.stdout == ""
    lines = checked.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{bad}: apps[1] (broken-"), lines
    assert lines[0].rsplit(": ", 2)[-2:] == api_says, (lines, applied.stderr)


def test_validate_checks_pools_as_the_api_declares_them(tmp_path):
    doc = tmp_path / "tahobuddy.yaml"
    doc.write_text((ROOT / "examples" / "pools.yaml").read_text())
    r = tahobuddy("validate", cwd=tmp_path)
    assert r.returncode == 1 and "rules[0].target.pool: unknown pool 'home' (known: default)" in r.stderr
    assert tahobuddy("validate", "--pools", "home,remote", cwd=tmp_path).returncode == 0
    assert tahobuddy("validate", cwd=tmp_path, env_extra={"TAHOBUDDY_POOLS": "home,remote"}).returncode == 0


def test_validate_says_what_is_wrong_with_a_file_that_is_no_tahobuddy_yaml(tmp_path):
    (tmp_path / "a.yaml").write_text("apps: [\n")
    r = tahobuddy("validate", "-f", "a.yaml", cwd=tmp_path)
    assert r.returncode == 2 and '"a.yaml", line 2' in r.stderr, r.stderr
    (tmp_path / "b.yaml").write_text("name: blog\n")
    r = tahobuddy("validate", "-f", "b.yaml", cwd=tmp_path)
    assert r.returncode == 1 and "b.yaml: expected a top-level 'apps:' list" in r.stderr
    r = tahobuddy("validate", "-f", "missing.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "missing.yaml" in r.stderr
