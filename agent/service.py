"""`tahobuddy agent install-service`: a systemd unit for the agent on a home server.

Why each choice:
- The agent reaches Docker through its socket, so the unit adds the `docker` group instead of
  running as root; everything else on the filesystem is read-only (`ProtectSystem=strict`)
  except the agent's workdir.
- The stop has two signals (the agent's own protocol, agent/worker.py): the first SIGTERM stops
  polling and lets the running deploy finish, so `TimeoutStopSec` is long and `KillMode=mixed`
  sends that first SIGTERM to the agent alone (not to its git/docker/ansible children, which
  would cut the deploy short). A second SIGTERM cancels the job and hands it back:
  `systemctl kill --kill-whom=main -s TERM tahobuddy-agent`. Only when TimeoutStopSec runs out
  does systemd SIGKILL the whole group.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = "/etc/systemd/system/tahobuddy-agent.service"
STOP_TIMEOUT = 1800  # seconds the first SIGTERM leaves a deploy to finish


class ServiceError(Exception):
    """The unit cannot be written as asked; the message says what to do."""


@dataclass(frozen=True)
class ServiceSpec:
    exec_start: str                       # the `tahobuddy` executable the service runs
    user: str = "tahobuddy"
    workdir: str = "/var/lib/tahobuddy"
    env_file: str = "/etc/tahobuddy/agent.env"   # TAHOBUDDY_AGENT_TOKEN and AWS keys: readable by root only
    config: str = "/etc/tahobuddy/agent.yml"     # api_url, pool, targets, proxy_admin ...
    stop_timeout: int = STOP_TIMEOUT


HARDENING = (
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictNamespaces", "yes"),
    ("LockPersonality", "yes"),
    ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),   # AF_UNIX: the docker socket
    ("SystemCallArchitectures", "native"),
    ("CapabilityBoundingSet", ""),
    ("UMask", "0027"),
)


def unit(spec: ServiceSpec) -> str:
    """The unit file's text (pure: the tests read it back with configparser and systemd-analyze)."""
    for name, value in (("user", spec.user), ("workdir", spec.workdir), ("env_file", spec.env_file),
                        ("config", spec.config), ("exec_start", spec.exec_start)):
        if not value or any(c in value for c in "\n\r\"'\\%$ "):
            raise ServiceError(f"{name} {value!r}: give a plain path or name without spaces, quotes or % signs")
    if not spec.exec_start.startswith("/"):
        raise ServiceError(f"exec_start {spec.exec_start!r} must be an absolute path (systemd needs one)")
    service = [
        ("Type", "simple"),
        ("User", spec.user),
        ("SupplementaryGroups", "docker"),
        ("WorkingDirectory", spec.workdir),
        ("Environment", f"TAHOBUDDY_WORKDIR={spec.workdir}"),
        ("Environment", f"HOME={spec.workdir}"),
        ("EnvironmentFile", spec.env_file),
        ("ExecStart", f"{spec.exec_start} agent --config {spec.config}"),
        ("Restart", "on-failure"),
        ("RestartSec", "5"),
        ("KillMode", "mixed"),
        ("KillSignal", "SIGTERM"),
        ("TimeoutStopSec", str(spec.stop_timeout)),
        ("ReadWritePaths", spec.workdir),
        *HARDENING,
    ]
    lines = [
        "# Written by `tahobuddy agent install-service`.",
        f"# Stop: the first SIGTERM lets the running deploy finish (up to {spec.stop_timeout} s);",
        "# cancel it and hand it back with a second one: systemctl kill --kill-whom=main -s TERM tahobuddy-agent",
        "[Unit]",
        "Description=Tahobuddy agent: deploys the jobs of its pool",
        "After=network-online.target docker.service",
        "Wants=network-online.target docker.service",
        "",
        "[Service]",
        *(f"{key}={value}" for key, value in service),
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def install(spec: ServiceSpec, path: str = DEFAULT_PATH, force: bool = False) -> Path:
    """Write the unit; an existing file is kept unless `force` (it may hold a user's edits)."""
    target = Path(path)
    if target.exists() and not force:
        raise ServiceError(f"{target} exists; pass --force to replace it (your edits to it would be lost)")
    text = unit(spec)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    except OSError as exc:
        raise ServiceError(f"cannot write {target}: {exc.strerror}; run as root or pass --path") from exc
    return target
