"""Agent settings: a YAML file (`tahobuddy agent --config FILE`) overridden by TAHOBUDDY_* variables."""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from contract.queues import DEFAULT_POOL, POOL_NAME
from contract.wire import SECRET_REF
from runners import registry

INSTALLATION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass
class AgentConfig:
    api_url: str = ""
    token: str = ""                              # an agent token (tahobuddy token --role agent)
    pool: str = DEFAULT_POOL                     # the only queue this agent polls: its pool's
    queue_url: str = ""                          # default: the pool's queue by name at the AWS endpoint
    aws_endpoint: str = ""                       # an emulator; empty for real AWS
    region: str = "us-east-1"
    prefix: str = "tahobuddy-dev"
    workdir: str = ".tahobuddy/agent"
    agent_id: str = ""                           # default: hostname + a random suffix kept in workdir
    concurrency: int = 1
    targets: list = field(default_factory=registry.names)
    poll_wait: int = 20                          # SQS long-poll seconds
    proxy_admin: str = ""                        # Caddy admin API, e.g. http://127.0.0.1:2019
    proxy_server: str = "tahobuddy"              # the Caddy server whose routes the agent owns
    proxy_listen: list = field(default_factory=lambda: [":80", ":443"])
    proxy_https: bool = True                     # automatic HTTPS for real hostnames
    secrets_file: str = ""                       # YAML map NAME: value
    secrets_ssm_path: str = ""                   # e.g. /tahobuddy/: secret:NAME -> parameter /tahobuddy/NAME
    secrets_manager: bool = False                # secret:NAME -> Secrets Manager secret NAME
    git_token: str = ""                          # HTTPS token for private repositories
    git_ssh_key: str = ""                        # deploy key path for ssh:// and git@ URLs
    ecr_registry: str = ""                       # push here instead of ECR's endpoint (a registry standing in)
    registry: str = ""                           # push every docker build here (host:port[/path]); "" keeps
    #                                              images on this engine only (rollback elsewhere is refused)
    registry_username: str = ""                  # for that registry and prebuilt `image:` pulls
    registry_password: str = ""                  # a secret:NAME reference the agent resolves
    keep_images: int = 3
    preview_reconcile: int = 600                 # seconds between preview reconciliations (and at start); 0: off
    installation: str = ""                       # default: a digest of api_url; see resolved_installation
    db_images: dict = field(default_factory=lambda: {"postgres": "postgres:16", "mysql": "mysql:8",
                                                     "redis": "redis:7"})

    @classmethod
    def load(cls, path: str | None = None, env: dict | None = None) -> "AgentConfig":
        env = os.environ if env is None else env
        doc = yaml.safe_load(Path(path).read_text()) or {} if path else {}
        cfg = cls()
        for f in fields(cls):
            # the token only from TAHOBUDDY_AGENT_TOKEN: TAHOBUDDY_TOKEN is the admin token a shell may
            # have loaded (.tahobuddy/dev.env), and an agent that sent it would be refused and stop
            variable = "TAHOBUDDY_AGENT_TOKEN" if f.name == "token" else f"TAHOBUDDY_{f.name.upper()}"
            raw = env.get(variable, doc.get(f.name))
            if raw is None and f.name == "aws_endpoint":
                raw = env.get("TAHOBUDDY_AWS_ENDPOINT")
            if raw is None:
                continue
            setattr(cfg, f.name, _coerce(getattr(cfg, f.name), raw, f.name))
        return cfg

    def check(self) -> list[str]:
        """What is missing or wrong, in words a user can act on."""
        problems = []
        if not self.api_url:
            problems.append("TAHOBUDDY_API_URL (api_url) is not set")
        if not self.token:
            problems.append("TAHOBUDDY_AGENT_TOKEN (token) is not set: create one with `tahobuddy token --role agent`")
        unknown = sorted(set(self.targets) - set(registry.names()))
        if unknown:
            problems.append(f"targets: unknown {', '.join(unknown)} (known: {', '.join(registry.names())})")
        if not POOL_NAME.match(self.pool):
            problems.append(f"pool {self.pool!r}: lower-case letters, digits and '-' (TAHOBUDDY_POOL)")
        if self.concurrency < 1:
            problems.append("concurrency must be at least 1")
        if self.registry_password and not SECRET_REF.match(self.registry_password):
            problems.append("registry_password must be a secret:NAME reference, never the password itself "
                            "(TAHOBUDDY_REGISTRY_PASSWORD)")
        if self.installation and not INSTALLATION_NAME.match(self.installation):
            problems.append(f"installation {self.installation!r}: 1-63 of A-Z a-z 0-9 _ . -, starting with a letter "
                            "or digit (TAHOBUDDY_INSTALLATION)")
        return problems

    def resolved_installation(self) -> str:
        """Which Tahobuddy installation this agent belongs to: TAHOBUDDY_INSTALLATION, or by default the
        first 12 hex digits of the SHA-256 of the API URL (without a trailing '/'), which is stable across
        restarts and the same for every agent of one API. It is stamped as the `tahobuddy.installation`
        label on everything a pull-request preview makes, and the preview reconciler removes only what
        carries its own: a staging and a production stack sharing one Docker Engine never remove each
        other's previews. Set it by hand only when one installation's agents reach its API by
        different URLs (they must agree), or two installations share one URL."""
        if self.installation:
            return self.installation
        return hashlib.sha256(self.api_url.strip().rstrip("/").encode()).hexdigest()[:12]

    def resolved_agent_id(self) -> str:
        if self.agent_id:
            return self.agent_id
        path = Path(self.workdir) / "agent-id"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{socket.gethostname()}-{secrets.token_hex(3)}")
        self.agent_id = path.read_text().strip()
        return self.agent_id


def _coerce(current, raw, name: str):
    if isinstance(current, bool):
        return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, list):
        return raw if isinstance(raw, list) else [x.strip() for x in str(raw).split(",") if x.strip()]
    if isinstance(current, dict):
        if isinstance(raw, dict):
            return {**current, **raw}
        pairs = (item.split("=", 1) for item in str(raw).split(",") if "=" in item)
        return {**current, **{k.strip(): v.strip() for k, v in pairs}}
    return str(raw)
