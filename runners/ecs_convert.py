"""JobSpec + the service's current task definition -> the next revision, as plain functions."""
from __future__ import annotations

import base64
import urllib.parse

from .base import Reason, RunnerError

# what register_task_definition accepts back from describe_task_definition
CARRIED = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "volumes",
           "placementConstraints", "requiresCompatibilities", "cpu", "memory", "pidMode", "ipcMode",
           "proxyConfiguration", "inferenceAccelerators", "ephemeralStorage", "runtimePlatform")


def next_revision(current: dict, image: str, container: str | None, labels: dict) -> dict:
    """register_task_definition kwargs: the current definition with `container`'s image replaced."""
    kwargs = {k: current[k] for k in CARRIED if current.get(k) not in (None, [], {})}
    defs = [dict(d) for d in current["containerDefinitions"]]
    names = [d["name"] for d in defs]
    name = container or names[0]
    if name not in names:
        raise RunnerError(f"target.container {name!r} is not in task definition {current['family']} "
                          f"(it has {', '.join(names)})", reason=Reason.REFUSED)
    for d in defs:
        if d["name"] == name:
            d["image"] = image
            d["dockerLabels"] = {**(d.get("dockerLabels") or {}), **labels}
    kwargs["containerDefinitions"] = defs
    return kwargs


def registry_auth(authorization: dict, override: str = "") -> tuple[str, dict]:
    """(registry host, docker auth_config) from ECR's get_authorization_token answer."""
    user, password = base64.b64decode(authorization["authorizationToken"]).decode().split(":", 1)
    host = override or urllib.parse.urlparse(authorization["proxyEndpoint"]).netloc
    return host, {"username": user, "password": password}


def stable(service: dict, task_definition: str) -> bool:
    """The service runs the new revision with every task up and one finished deployment."""
    deployments = service.get("deployments") or []
    return (service.get("taskDefinition") == task_definition
            and service.get("runningCount", 0) >= service.get("desiredCount", 1)
            and len(deployments) == 1 and deployments[0].get("rolloutState", "COMPLETED") == "COMPLETED")
