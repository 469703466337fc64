"""The OpenAPI document matches the routes Chalice registered, is served, and the running API keeps
to it under schemathesis (bounded: a fixed number of examples per operation, derandomized)."""
from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from functions.api import openapi

pytestmark = pytest.mark.functional

V1 = openapi.V1


def _documented() -> set[tuple[str, str]]:
    doc = openapi.document()
    return {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}


def _routed() -> set[tuple[str, str]]:
    from functions.app import app
    return {(path, method) for path, entries in app.routes.items() if path.startswith(V1 + "/")
            for method in entries}


def test_every_api_v1_route_is_documented_and_nothing_more():
    missing, extra = sorted(_routed() - _documented()), sorted(_documented() - _routed())
    assert not missing, "routes with no entry in functions/api/openapi.py OPERATIONS (document them there): " + \
        ", ".join(f"{m} {p}" for p, m in missing)
    assert not extra, "functions/api/openapi.py documents routes functions/api/ does not have: " + \
        ", ".join(f"{m} {p}" for p, m in extra)


def test_the_document_is_served_without_a_token_and_is_the_built_one(api):
    r = requests.get(api.url + openapi.OPENAPI_PATH, timeout=10)
    assert r.status_code == 200, r.text
    served = r.json()
    assert served == openapi.document()
    assert served["openapi"].startswith("3.1")
    for name in ("App", "Rule", "Target", "Job", "Event", "Agent", "Pool", "DeadLetter", "Token", "Audit",
                 "Error", "AgentHello", "AgentSession", "ClaimAnswer", "JobBeatAnswer", "LogBatch", "Finish"):
        assert name in served["components"]["schemas"], name


def test_a_wire_message_schema_follows_its_dataclass():
    finish = openapi.schemas()["Finish"]
    assert finish["required"] == ["state"]
    assert finish["properties"]["exit_code"] == {"type": ["integer", "null"]}
    assert openapi.schemas()["AgentHello"]["required"] == ["agent_id", "pool", "targets"]


# ---- schemathesis against chalice local ------------------------------------------------------
schema = schemathesis.openapi.from_dict(openapi.document())
schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
                                deterministic=True)
# Revoking tokens by id could revoke the suite's admin token; everything else is safe to fuzz.
schema = schema.exclude(method="DELETE", path=f"{V1}/tokens/{{token_id}}")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_document(case, api):
    if case.method.upper() != case.operation.method.upper():
        return  # an unsupported method is answered by the server in front (chalice local, API Gateway)
    case.call_and_validate(base_url=api.url, headers=api.headers(), checks=CHECKS, timeout=30)


def test_every_kind_of_stored_app_conforms_whatever_ran_before(api):
    """schemathesis only sees the apps earlier tests left; this one stores every block an app can
    hold (a preview rule, a deployment environment, notifications, a builder target) and checks it."""
    import jsonschema
    from tests.helpers import unique
    name = unique("shape")
    app = {"name": name, "repository": f"https://github.com/tests/{name}.git", "hostname": f"{name}.example.com",
           "database": {"kind": "postgres"}, "env": {"A": "1"},
           "notify": [{"type": "slack", "url": "secret:SLACK_URL", "states": ["failed"]}],
           "rules": [{"name": "pr", "match": {"pull_request": {"base": "main"}}, "target": {"type": "docker"},
                      "preview": {"allow_forks": False, "max_previews": 2}},
                     {"name": "rel", "match": {"tag": "v*"}, "environment": "prod", "production_environment": True,
                      "target": {"type": "shell", "commands": [["true"]], "image": "x:1", "cpus": 0.5,
                                 "memory": "64m", "quiet_period": 5}}]}
    r = requests.put(f"{api.url}{V1}/apps/{name}", json=app, headers=api.headers(), timeout=30)
    assert r.status_code == 201, r.text
    doc = openapi.document()
    schema = {**doc["components"]["schemas"]["App"], "components": doc["components"]}
    jsonschema.validate(r.json(), schema)
    listed = requests.get(f"{api.url}{V1}/apps", headers=api.headers(), timeout=30).json()["apps"]
    jsonschema.validate(next(a for a in listed if a["name"] == name), schema)
