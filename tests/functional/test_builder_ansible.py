"""The ansible target with `image:`: ansible-playbook in a builder container on a real dockerd.

No image with ansible can be pulled here, so the test makes one: the busybox base plus this
machine's own Python (binary, standard library, the shared libraries `ldd` names, glibc's C.UTF-8
locale) and the
ansible-core packages from the test's environment."""
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import docker
import pytest

from agent.config import AgentConfig
from agent.secrets import Secrets
from runners.ansible import AnsibleRunner
from runners.base import Cancel, JobSpec, Reason, RunContext, Status
from tests.helpers import unique
from tests.realparts import BASE_IMAGE

pytestmark = pytest.mark.functional
ANSIBLE_IMAGE = "tahobuddy-test/ansible:1"
PACKAGES = ("ansible", "ansible_core", "jinja2", "markupsafe", "yaml", "_yaml", "pyyaml", "cryptography", "cffi",
            "_cffi_backend", "pycparser", "packaging", "resolvelib")  # modules and their dist-info (metadata)
SECRET = "ans-s3cret-31337-token"
PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: write what was deployed
      copy:
        dest: /workspace/deployed.json
        content: "{{ {'app': tahobuddy_app, 'sha': tahobuddy_sha, 'tag': tahobuddy_tag} | to_json }}"
    - name: talk about the token
      debug:
        msg: "deploying with token {{ token }}"
    - name: check the release gate
      command: /bin/sh -c "exit {{ gate | default(0) }}"
"""


def _copy_into(root: Path, path: str) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(os.path.realpath(path), target)


def _shared_libraries(files: list[Path]) -> set[str]:
    libs: set[str] = set()
    for f in files:
        out = subprocess.run(["ldd", str(f)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) > parts.index("=>") + 1 and parts[parts.index("=>") + 1].startswith("/"):
                libs.add(parts[parts.index("=>") + 1])
            elif parts and parts[0].startswith("/"):
                libs.add(parts[0])
    return libs


@pytest.fixture(scope="module")
def ansible_image(docker_images, tmp_path_factory) -> str:
    ctx = tmp_path_factory.mktemp("ansible-image")
    root = ctx / "root"
    python = os.path.realpath(sys._base_executable)
    stdlib = Path(sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["stdlib"])
    shutil.copytree(stdlib, root / str(stdlib).lstrip("/"), symlinks=False, ignore=shutil.ignore_patterns(
        "test", "site-packages", "ensurepip", "idlelib", "tkinter", "turtledemo", "config-*"))
    _copy_into(root, python)
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if re.split(r"[-.]", entry.name)[0].lower() in PACKAGES:
            dest = root / "opt/ansible/site" / entry.name
            (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, dest)
    for lib in _shared_libraries([Path(python), *root.rglob("*.so")]):
        _copy_into(root, lib)
    shutil.copytree("/usr/lib/locale/C.utf8", root / "usr/lib/locale/C.utf8")  # ansible wants a UTF-8 locale
    scripts = root / "usr/local/bin"
    scripts.mkdir(parents=True, exist_ok=True)
    (scripts / "ansible-playbook").write_text(f"#!{python}\nfrom ansible.cli.playbook import main\nmain()\n")
    (scripts / "ansible-playbook").chmod(0o755)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                     f"agent:x:{os.getuid()}:{os.getgid()}::/tmp:/bin/sh\n")
    (root / "root").mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nCOPY root/ /\nRUN mkdir -p /tmp && chmod 1777 /tmp\n"
                                    "ENV PYTHONPATH=/opt/ansible/site LANG=C.UTF-8 "
                                    "PATH=/usr/local/bin:/usr/bin:/bin\n")
    docker.from_env(timeout=600).images.build(path=str(ctx), tag=ANSIBLE_IMAGE, rm=True)
    return ANSIBLE_IMAGE


def run_playbook(tmp_path: Path, image: str, gate: int = 0, **target):
    tree = tmp_path / "ops"
    (tree / "deploy").mkdir(parents=True, exist_ok=True)
    (tree / "deploy/site.yml").write_text(PLAYBOOK)
    (tree / "deploy/inventory.ini").write_text(
        'localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n')
    spec = JobSpec(job_id=unique("job"), app=unique("ans"), rule="play", repository="local", ref="refs/tags/v1.0",
                   sha="b" * 40, target={"type": "ansible", "name": "ansible", "image": image,
                                         "playbook": "deploy/site.yml", "inventory": "deploy/inventory.ini",
                                         "extra_vars": {"token": "secret:DEPLOY_TOKEN", "gate": str(gate)}, **target})
    secrets = Secrets(env={"DEPLOY_TOKEN": SECRET})
    ctx = RunContext(workdir=tmp_path / "agent", worktree=tree, cancel=Cancel(), settings=AgentConfig(),
                     secrets=secrets, timeout=120)
    runner, lines = AnsibleRunner(), []
    try:
        runner.prepare(spec, ctx)
        result = runner.run(spec, ctx, lines.append)
    finally:
        runner.cleanup(spec, ctx)
        runner.cleanup(spec, ctx)  # safe twice
    left = docker.from_env().containers.list(all=True, filters={"label": f"tahobuddy.job={spec.job_id}"})
    return spec, result, lines, secrets, tree, left


def test_the_playbook_runs_in_the_image_with_the_job_vars_and_a_secret_registered_for_masking(tmp_path,
                                                                                               ansible_image):
    spec, result, lines, secrets, tree, left = run_playbook(tmp_path, ansible_image, memory="512m")
    log = "\n".join(lines)
    assert result.status == Status.SUCCEEDED, log
    assert json.loads((tree / "deployed.json").read_text()) == {"app": spec.app, "sha": "b" * 40, "tag": "v1.0"}
    assert f"deploying with token {SECRET}" in log  # the runner's raw output; the agent's LogStream masks it:
    assert "deploying with token ***" in secrets.mask(log) and SECRET not in secrets.mask(log)
    assert not left and not (tmp_path / "agent" / "ansible" / spec.job_id).exists()


def test_a_failed_task_fails_the_job_naming_the_task(tmp_path, ansible_image):
    _, result, lines, _, _, left = run_playbook(tmp_path, ansible_image, gate=3)
    assert result.status == Status.FAILED and result.reason == Reason.NONE, "\n".join(lines)
    assert result.detail == "task 'check the release gate' failed in deploy/site.yml" and result.exit_code == 2
    assert not left
