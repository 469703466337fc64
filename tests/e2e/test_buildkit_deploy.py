"""A Dockerfile as people write them today (a dependency stage with a BuildKit cache mount, a build
secret) deployed from a git tag through the API, the agent and Caddy; then `tahobuddy jobs ID` tells
where the time went."""
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import docker
import pytest
import requests

from tests.e2e.test_tag_to_serving import deploy
from tests.helpers import unique
from tests.realparts import BASE_IMAGE, AgentProcess, GitRepo, job_log, remove_app_resources

pytestmark = pytest.mark.e2e


def dockerfile(cache_id: str, token_sha256: str) -> str:
    # deps.txt changes bust the dependency layer; the cache mount keeps what earlier builds put in it
    return f"""FROM {BASE_IMAGE} AS deps
COPY deps.txt /deps.txt
RUN --mount=type=cache,id={cache_id},target=/root/.cache sh -c 'cat /deps.txt >> /root/.cache/fetched && mkdir -p /deps && wc -l < /root/.cache/fetched > /deps/builds-seen-by-cache'
FROM {BASE_IMAGE}
RUN --mount=type=secret,id=token sh -c 'test "$(sha256sum < /run/secrets/token | cut -c1-64)" = {token_sha256}'
COPY --from=deps /deps /www/deps
COPY www /www
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


def test_a_cache_mount_and_secret_dockerfile_deploys_and_reports_its_phases(api, agent_token, caddy, tmp_path,
                                                                          docker_images, empty_queue):
    repo, name = GitRepo(tmp_path / "modern"), unique("modern")
    host, token = f"{name}.localhost", f"tok-{uuid.uuid4().hex}"
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "hostname": host, "port": 8080,
        "rules": [{"name": "release", "match": {"tag": "release-*"},
                   "target": {"type": "docker", "health_path": "/", "drain_seconds": 1, "watch_seconds": 0,
                              "build_secrets": {"token": "secret:BUILD_TOKEN"}}}]})
    assert r.status_code == 201, r.text
    agent = AgentProcess(api, agent_token, tmp_path, caddy, name="modern", extra={"BUILD_TOKEN": token})
    try:
        repo.write({"Dockerfile": dockerfile(name, hashlib.sha256(token.encode()).hexdigest()),
                    "deps.txt": "left-pad==1\n", "www/index.html": "v1\n"})
        first = deploy(api, repo, "release-1", repo.commit_and_tag("v1", "release-1"))
        assert first["state"] == "succeeded", job_log(api, first["id"])
        assert caddy.get(host).text.strip() == "v1" and caddy.get(host, "/deps/builds-seen-by-cache").text.strip() == "1"

        repo.write({"deps.txt": "left-pad==2\n", "www/index.html": "v2\n"})
        second = deploy(api, repo, "release-2", repo.commit_and_tag("v2", "release-2"))
        log = job_log(api, second["id"])
        assert second["state"] == "succeeded", log
        assert caddy.get(host).text.strip() == "v2"
        assert caddy.get(host, "/deps/builds-seen-by-cache").text.strip() == "2"  # the cache mount was kept
        assert "with BuildKit" in log and "CACHED" in log  # plain progress; the secret step's layer reused
        assert token not in log and token not in json.dumps(second)
        history = docker.APIClient().history(f"tahobuddy/{name}:release-2")
        assert token not in json.dumps(history) and not any("LABEL" in (h.get("CreatedBy") or "") for h in history)

        marks = second["phases"]
        order = ["fetch_started", "fetched", "build_started", "built", "container_started", "healthy",
                 "route_switched", "old_retired"]
        assert [marks[k] for k in order] == sorted(marks[k] for k in order), marks
        env = {**os.environ, "TAHOBUDDY_API_URL": api.url, "TAHOBUDDY_TOKEN": api.token}
        shown = subprocess.run([str(Path(sys.executable).parent / "tahobuddy"), "jobs", second["id"]], env=env,
                               capture_output=True, text=True, timeout=60)
        seconds = json.loads(shown.stdout)["phase_seconds"]
        assert set(seconds) == {"queued->claimed", "fetch", "build", "container start", "healthy",
                                "route switched", "old retired"}, shown
        assert all(v >= 0 for v in seconds.values()) and seconds["old retired"] >= 1  # drain_seconds: 1
    finally:
        agent.stop()
        remove_app_resources(name)
