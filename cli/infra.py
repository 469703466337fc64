"""The production commands: `doctor`, `agent install-service`, `infra deploy|destroy`.

Registered on the main parser by `add_commands`, so cli/main.py gains one block.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path


def cmd_doctor(args) -> int:
    from . import doctor
    return doctor.main(args.config)


def cmd_agent(args) -> int:
    """`tahobuddy agent` runs the agent; `tahobuddy agent install-service` writes its systemd unit."""
    if args.action != "install-service":
        from agent.main import run
        return run(args.config)
    from agent.service import DEFAULT_PATH, ServiceError, ServiceSpec, install, unit
    exe = args.exec_start or shutil.which("tahobuddy") or str(Path(sys.executable).parent / "tahobuddy")
    spec = ServiceSpec(exec_start=os.path.abspath(exe), user=args.user, workdir=args.workdir,
                       env_file=args.env_file, config=args.config or "/etc/tahobuddy/agent.yml")
    try:
        if args.path == "-":  # the unit on stdout: Ansible's copy writes it only when it differs
            print(unit(spec), end="")
            return 0
        path = install(spec, args.path or DEFAULT_PATH, force=args.force)
    except ServiceError as exc:
        print(f"tahobuddy: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}\n  next: systemctl daemon-reload && systemctl enable --now {path.stem}\n"
          f"  stop: systemctl stop {path.stem} (the running deploy finishes); to cancel it, send a second "
          f"SIGTERM: systemctl kill --kill-whom=main -s TERM {path.stem}")
    return 0


def cmd_infra(args) -> int:
    from infra import deploy
    stack = args.stack_name or deploy.default_stack(args.stage)
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    plan = deploy.Plan(stage=args.stage, stack=stack, region=region, bucket=args.bucket or "",
                       webhook_secret=args.webhook_secret or os.environ.get("TAHOBUDDY_WEBHOOK_SECRET", ""))
    log = (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        if args.action == "destroy":
            print(deploy.destroy(plan, say=log))
            return 0
        out = deploy.deploy(plan, template_file=args.template, say=log)
    except deploy.DeployError as exc:
        print(f"tahobuddy: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            if isinstance(value, dict):
                for pool, url in value.items():
                    print(f"{'queue ' + pool:<18}{url}")
            else:
                print(f"{key:<18}{value or '-'}")
    return 0


def add_commands(sub, add) -> None:
    agent = sub.choices["agent"]
    agent.set_defaults(func=cmd_agent)
    agent.add_argument("action", nargs="?", choices=["install-service"],
                       help="install-service: write a hardened systemd unit for this agent (does not start it)")
    agent.add_argument("--user", default="tahobuddy", help="with install-service: the user the agent runs as")
    agent.add_argument("--path", help="with install-service: where to write the unit "
                                      "(default /etc/systemd/system/tahobuddy-agent.service; '-' prints it)")
    agent.add_argument("--workdir", default="/var/lib/tahobuddy", help="with install-service: the only writable path")
    agent.add_argument("--env-file", default="/etc/tahobuddy/agent.env",
                       help="with install-service: TAHOBUDDY_AGENT_TOKEN and AWS keys (mode 0600)")
    agent.add_argument("--exec-start", help="with install-service: the tahobuddy executable (default: this one)")
    agent.add_argument("--force", action="store_true", help="with install-service: replace an existing unit")

    sp = add("doctor", cmd_doctor, "check this agent's setup: API, token, its pool's queue, Docker, Caddy, disk, "
             "clock; one line each with the fix (exit 1 on any failure)")
    sp.add_argument("--config", help="the agent's YAML settings (as `tahobuddy agent --config`)")

    sp = add("infra", cmd_infra, "deploy the AWS side in one command (chalice package, S3, CloudFormation), "
             "or destroy it")
    sp.add_argument("action", choices=["deploy", "destroy"],
                    help="deploy: create or update the stack; destroy: delete it (tables and the payload bucket stay)")
    sp.add_argument("--stage", default="prod", help="the chalice stage (.chalice/config.json)")
    sp.add_argument("--stack-name", help="default tahobuddy-STAGE")
    sp.add_argument("--region", help="default AWS_REGION / AWS_DEFAULT_REGION")
    sp.add_argument("--bucket", help="artifact bucket (default tahobuddy-artifacts-ACCOUNT-REGION, made if missing)")
    sp.add_argument("--webhook-secret", help="default TAHOBUDDY_WEBHOOK_SECRET; on create a new one is printed")
    sp.add_argument("--template", help="deploy this CloudFormation JSON instead of packaging the functions")
    sp.add_argument("--json", action="store_true", help="print the stack's outputs as JSON")
