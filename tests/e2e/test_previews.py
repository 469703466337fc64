"""Pull-request previews for real: GitHub's own pull_request example payloads (@octokit/webhooks-examples)
pointed at a local repository, the API under chalice local, an agent process, dockerd and Caddy."""
import copy
import json
from pathlib import Path

import docker
import pytest
import requests

from functions.providers.github import sign
from tests.e2e.test_tag_to_serving import DOCKERFILE, Loop, deploy
from tests.helpers import deliver, jobs_of, unique
from tests.realparts import (AgentProcess, GitRepo, db_env, job_log, remove_app_resources, wait_for,
                             wait_job)

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / ".tahobuddy" / "npm" / "node_modules" / "@octokit" / \
    "webhooks-examples" / "api.github.com" / "index.json"


@pytest.fixture(scope="module")
def examples():
    if not EXAMPLES.is_file():
        pytest.fail("GitHub's example payloads are missing: run local/fixtures.sh (make test does)")
    found = next(e for e in json.loads(EXAMPLES.read_text()) if e["name"] == "pull_request")["examples"]
    return {action: next(e for e in found if e["action"] == action)
            for action in ("opened", "synchronize", "closed", "reopened")}


class Site:
    """One app with a release rule and a preview rule, its repository, and the pull requests made on it."""

    def __init__(self, api, examples, tmp_path, caddy=None, database=False, forge="", **preview):
        self.api, self.examples, self.caddy = api, examples, caddy
        self.repo, self.name = GitRepo(tmp_path / "site"), unique("pr")
        self.host = f"{self.name}.localhost"
        doc = {"name": self.name, "repository": str(self.repo.origin), "hostname": self.host, "port": 8080,
               "rules": [{"name": "release", "match": {"tag": "release-*"},
                          "target": {"type": "docker", "health_path": "/", "drain_seconds": 1}},
                         {"name": "previews", "match": {"pull_request": {"base": "mai*"}}, "preview": preview,
                          "target": {"type": "docker", "health_path": "/", "drain_seconds": 1}}]}
        if database:
            doc["database"] = {"kind": "postgres"}  # the agent's db_images: a real server (tests/conftest.py)
        if forge:  # a local origin is github's unless the app names its forge
            doc["forge"] = forge
        r = requests.put(f"{api.url}/api/v1/apps/{self.name}", headers=api.headers(), timeout=30, json=doc)
        assert r.status_code == 201, r.text
        self.warnings = r.json().get("warnings", [])

    def push(self, number: int, text: str, branch: str = "feature", files: dict | None = None) -> str:
        """Commit `text` as the page (or `files`) on the PR's branch; push it there and to refs/pull/N/head, as
        GitHub keeps it."""
        self.repo.write(files or {"Dockerfile": DOCKERFILE, "www/index.html": text + "\n"})
        sha = self.repo.commit_and_tag(text, branch=branch)
        self.repo.git("push", "-q", "-f", "origin", f"HEAD:refs/pull/{number}/head")
        return sha

    def event(self, action: str, number: int, sha: str, fork: bool = False, association: str = "OWNER") -> dict:
        doc = copy.deepcopy(self.examples[action])
        doc["number"] = number
        pr = doc["pull_request"]
        pr.update(number=number, author_association=association)
        pr["head"].update(sha=sha, ref="feature")
        pr["head"]["repo"].update(full_name="someone/site" if fork else "local/site", fork=fork)
        pr["base"]["ref"] = "main"
        doc["repository"].update(full_name="local/site", clone_url=str(self.repo.origin))
        return doc

    def send(self, action: str, number: int, sha: str, delivery: str | None = None, **kw) -> dict:
        r = deliver(self.api, "pull_request", self.event(action, number, sha, **kw), delivery=delivery)
        assert r.status_code == 200, r.text
        return r.json()

    def previews(self) -> dict[int, dict]:
        r = requests.get(f"{self.api.url}/api/v1/previews", params={"app": self.name, "closed": "1"},
                         headers=self.api.headers(), timeout=10)
        assert r.status_code == 200, r.text
        return {p["number"]: p for p in r.json()["previews"]}

    def served(self, number: int) -> str:
        return self.caddy.get(f"pr-{number}.{self.host}").text.strip()

    def things(self, number: int) -> dict[str, list]:
        client, labels = docker.from_env(), {"label": [f"tahobuddy.app={self.name}", f"tahobuddy.preview={number}"]}
        return {"containers": client.containers.list(all=True, filters=labels),
                "images": client.images.list(filters=labels), "volumes": client.volumes.list(filters=labels),
                "networks": client.networks.list(names=[f"tahobuddy-{self.name}.pr-{number}"])}

    def route_ids(self) -> list[str]:
        routes = requests.get(f"{self.caddy.admin}/config/apps/http/servers/tahobuddy/routes", timeout=10).json()
        return [r.get("@id") for r in routes or []]


def opened(site: Site, number: int, text: str) -> dict:
    body = site.send("opened", number, site.push(number, text))
    assert [d["outcome"] for d in body["decision"]] == ["queued"], body
    return wait_job(site.api, body["jobs"][0])


@pytest.fixture
def site(api, examples, tmp_path, caddy, docker_images, empty_queue):
    made = []

    def make(**kw):
        made.append(Site(api, examples, tmp_path / f"s{len(made)}", caddy, **kw))
        return made[-1]
    yield make
    for s in made:
        remove_app_resources(s.name)


def test_an_opened_pr_is_served_at_its_hostname_and_the_main_app_is_untouched(api, agent_token, caddy, site,
                                                                              tmp_path):
    s = site(memory="256m", pids=100)  # the rule sets two limits; the CPUs keep the preview default
    agent = AgentProcess(api, agent_token, tmp_path, caddy)
    s.repo.write({"Dockerfile": DOCKERFILE, "www/index.html": "v-main\n"})
    assert deploy(api, s.repo, "release-1", s.repo.commit_and_tag("main", "release-1"))["state"] == "succeeded"
    main = docker.from_env().containers.list(filters={"label": f"tahobuddy.app={s.name}"})
    job = opened(s, 7, "v-pr7")
    assert (job["state"], job["trigger"], job["preview"]) == ("succeeded", "preview", 7), job_log(api, job["id"])
    assert "no secret is resolved" in job_log(api, job["id"])
    assert s.served(7) == "v-pr7" and caddy.get(s.host).text.strip() == "v-main"
    now = docker.from_env().containers.list(filters={"label": f"tahobuddy.app={s.name}"})
    assert {c.id for c in main} < {c.id for c in now} and len(now) == 2  # the app's container kept running
    [shown] = [c for c in now if c.labels.get("tahobuddy.preview") == "7"]
    limits = docker.APIClient().inspect_container(shown.id)["HostConfig"]  # what dockerd really enforces
    assert (limits["NanoCpus"], limits["Memory"], limits["MemorySwap"], limits["PidsLimit"]) == \
        (1_000_000_000, 256 * 1024 ** 2, 256 * 1024 ** 2, 100), limits
    production = docker.APIClient().inspect_container(main[0].id)["HostConfig"]
    assert not production["NanoCpus"] and not production["Memory"] and not production["PidsLimit"]
    preview = s.previews()[7]
    assert (preview["state"], preview["hostname"], preview["sha"]) == ("live", f"pr-7.{s.host}", job["sha"])
    assert ["cookie tossing" in w and "TAHOBUDDY_PREVIEW_DOMAIN" in w for w in s.warnings] == [True]  # under production
    from functions.store import releases
    assert [r["ref"] for r in releases.history(s.name)] == ["refs/tags/release-1"]  # not rollback history
    assert agent.stop() == 0


def test_a_push_to_the_pr_updates_its_preview_with_zero_failed_requests(api, agent_token, caddy, site, tmp_path):
    s = site()
    agent = AgentProcess(api, agent_token, tmp_path, caddy)
    assert opened(s, 3, "v1")["state"] == "succeeded"
    with Loop(caddy, f"pr-3.{s.host}") as loop:
        wait_for(lambda: loop.counts["v1"] >= 20, "the loop to be served by the first preview",
                 seen=lambda: (dict(loop.counts), loop.failures[-3:]))
        body = s.send("synchronize", 3, s.push(3, "v2"))
        job = wait_job(api, body["jobs"][0])
        after = loop.counts["v2"]
        wait_for(lambda: loop.counts["v2"] >= after + 30, "the loop to be served by the updated preview",
                 seen=lambda: (dict(loop.counts), loop.failures[-3:]))
    assert job["state"] == "succeeded", job_log(api, job["id"])
    assert loop.failures == [], (loop.failures[:5], loop.counts)
    assert len(s.things(3)["containers"]) == 1 and s.previews()[3]["sha"] == job["sha"]
    assert agent.stop() == 0


def test_closing_the_pr_removes_container_route_images_and_database_volume(api, agent_token, caddy, site,
                                                                            tmp_path, db_images):
    s = site(database=True, seed=["sh", "-c", 'echo "seeded ${DATABASE_URL##*@}"'])
    agent = AgentProcess(api, agent_token, tmp_path, caddy, extra=db_env(db_images))
    job = opened(s, 5, "v-db")
    assert job["state"] == "succeeded", job_log(api, job["id"])
    assert f"[seed] seeded tahobuddy-{s.name}.pr-5-db:5432/{s.name}" in job_log(api, job["id"])
    things = s.things(5)
    assert len(things["containers"]) == 2 and things["images"] and things["volumes"] and things["networks"]
    assert f"tahobuddy-{s.name}.pr-5" in s.route_ids() and s.served(5) == "v-db"
    body = s.send("closed", 5, job["sha"])
    teardown = wait_job(api, body["jobs"][0])
    assert (teardown["state"], teardown["trigger"]) == ("succeeded", "teardown"), job_log(api, teardown["id"])
    assert f"removed volume tahobuddy-{s.name}.pr-5-db-data" in job_log(api, teardown["id"])
    assert s.things(5) == {"containers": [], "images": [], "volumes": [], "networks": []}
    assert f"tahobuddy-{s.name}.pr-5" not in s.route_ids()
    assert s.previews()[5]["state"] == "closed"
    assert agent.stop() == 0


def test_fork_and_outside_author_prs_are_refused_with_a_job_that_says_so(api, site):
    s = site()
    sha = s.push(11, "v-fork")
    body = s.send("opened", 11, sha, fork=True)
    assert body["decision"][0]["outcome"] == "refused" and "fork" in body["decision"][0]["reason"], body
    job = wait_job(api, body["jobs"][0])
    assert (job["state"], job["reason_code"], job["preview"]) == ("failed", "refused", 11), job
    assert "allow_forks" in job["reason"]
    body = s.send("opened", 12, sha, association="CONTRIBUTOR")
    assert body["decision"][0]["outcome"] == "refused" and "CONTRIBUTOR" in body["decision"][0]["reason"]
    assert s.previews() == {} and s.things(11)["containers"] == []


def test_max_previews_refuses_more_until_one_closes(api, site):
    s = site(max_previews=1)
    sha = s.push(1, "v-one")
    assert s.send("opened", 1, sha)["decision"][0]["outcome"] == "queued"
    body = s.send("opened", 2, sha)
    assert body["decision"][0]["outcome"] == "refused" and "max_previews of 1" in body["decision"][0]["reason"]
    assert wait_job(api, body["jobs"][0])["reason_code"] == "refused"
    assert s.send("closed", 1, sha)["decision"][0]["outcome"].startswith("teardown queued")
    assert s.send("reopened", 2, sha)["decision"][0]["outcome"] == "queued"
    assert {n: p["state"] for n, p in s.previews().items()} == {1: "closing", 2: "queued"}


def test_an_idle_preview_expires_through_the_sweeper(api, agent_token, caddy, site, tmp_path):
    s = site(expire_after_days=2)
    agent = AgentProcess(api, agent_token, tmp_path, caddy)
    assert opened(s, 4, "v-old")["state"] == "succeeded" and s.things(4)["containers"]
    from functions.clock import now
    from functions.store.models import PreviewModel
    row = PreviewModel.get(s.name, 4)
    row.update(actions=[PreviewModel.deployed_at.set(now() - 3 * 86400)])  # its last push, three days ago
    report = requests.post(f"{api.url}/api/v1/sweep", headers=api.headers(), timeout=30).json()
    mine = {j["id"] for j in jobs_of(api, s.name)}
    ours = [j for j in report["expired"] if j in mine]
    assert len(ours) == 1, report
    teardown = wait_job(api, ours[0])
    assert (teardown["state"], teardown["trigger"], teardown["preview"]) == ("succeeded", "teardown", 4), teardown
    assert s.things(4)["containers"] == [] and s.previews()[4]["state"] == "closed"
    assert agent.stop() == 0


def orphan(app: str, number: int, installation: str | None, racing: bool = False) -> None:
    """A preview's database volume, network and container made behind the agent's back (by another
    installation, by an older Tahobuddy without the installation label, or by hand). `racing`: a running
    reconciler may remove the first ones while the later ones are made (then there is nothing left to make)."""
    from tests.realparts import BASE_IMAGE
    client, name = docker.from_env(), f"tahobuddy-{app}-pr-{number}"
    labels = {"tahobuddy.app": app, "tahobuddy.preview": str(number)}
    if installation is not None:
        labels["tahobuddy.installation"] = installation
    client.volumes.create(f"{name}-db-data", labels=labels)
    try:
        client.api.create_network(name, driver="bridge", labels=labels)
        client.containers.run(BASE_IMAGE, ["sleep", "300"], detach=True, labels=labels, name=name, network=name)
    except docker.errors.NotFound:
        if not racing:
            raise


def test_the_reconciler_removes_an_orphan_made_behind_its_back(api, agent_token, caddy, site, tmp_path):
    from agent.config import AgentConfig
    s = site()
    agent = AgentProcess(api, agent_token, tmp_path, caddy, extra={"TAHOBUDDY_PREVIEW_RECONCILE": "1"})
    assert opened(s, 8, "v-kept")["state"] == "succeeded"
    assert s.things(8)["containers"][0].labels["tahobuddy.installation"] == AgentConfig(
        api_url=api.url).resolved_installation()                      # the default: a digest of the API URL
    orphan(s.name, 99, AgentConfig(api_url=api.url).resolved_installation(), racing=True)
    wait_for(lambda: not any(s.things(99).values()), "the reconciler to remove #99", timeout=30,
             seen=lambda: s.things(99))
    wait_for(lambda: f"reconciler removed {s.name} #99: volume" in agent.output(), "the reconciler's log line",
             seen=lambda: agent.output()[-2000:])
    assert s.served(8) == "v-kept" and len(s.things(8)["containers"]) == 1  # what the store keeps stays
    assert agent.stop() == 0


def test_the_reconciler_leaves_another_installations_previews_and_unlabelled_ones_alone(api, agent_token, site,
                                                                                         tmp_path):
    """Two installations on one Docker Engine: this agent's store knows none of these pull requests, yet only
    its own installation's orphan goes; the other's (#98) and one made before the label existed (#96) stay."""
    s = site()
    orphan(s.name, 98, "another-one")
    orphan(s.name, 96, None)
    orphan(s.name, 97, "this-one")
    agent = AgentProcess(api, agent_token, tmp_path, extra={"TAHOBUDDY_PREVIEW_RECONCILE": "1",
                                                            "TAHOBUDDY_INSTALLATION": "this-one"})
    wait_for(lambda: not any(s.things(97).values()), "the reconciler to remove its own #97", timeout=30,
             seen=lambda: s.things(97))
    wait_for(lambda: f"reconciler removed {s.name} #97: network" in agent.output(), "the reconciler's log line",
             seen=lambda: agent.output()[-2000:])
    wait_for(lambda: f"reconciler left alone {s.name} #96: container tahobuddy-{s.name}-pr-96" in agent.output(),
             "the reconciler to name the unlabelled #96")
    # the round that removed #97 looked at #96 and #98 too, and passed over them
    for number in (98, 96):
        things = s.things(number)
        assert [len(things[k]) for k in ("containers", "volumes", "networks")] == [1, 1, 1], (number, things)
        assert things["containers"][0].status == "running"
    assert "it may be another installation's" in agent.output() and f"{s.name} #98" not in agent.output()
    wait_for(lambda: agent.output().count("previews: reconciled") >= 3, "two more reconciler rounds", timeout=30,
             seen=lambda: agent.output()[-2000:])
    assert agent.output().count(f"reconciler left alone {s.name} #96") == 1  # named once, not every round
    assert all(len(s.things(n)["containers"]) == 1 for n in (98, 96))
    assert agent.stop() == 0


def test_redelivered_pr_events_make_one_job(api, site):
    s = site()
    sha = s.push(6, "v-once")
    first = s.send("opened", 6, sha, delivery="pr-6-opened")
    again = s.send("opened", 6, sha, delivery="pr-6-opened")            # GitHub's "Redeliver"
    other_hook = s.send("synchronize", 6, sha)                          # the same commit, another delivery
    assert again["status"] == "duplicate" and other_hook["decision"][0]["outcome"] == "duplicate"
    assert first["jobs"] == again["jobs"] == other_hook["jobs"] and len(first["jobs"]) == 1
    closes = [s.send("closed", 6, sha)["jobs"] for _ in range(2)]
    assert closes[0] == closes[1] and len(closes[0]) == 1
    assert sorted(j["trigger"] for j in jobs_of(api, s.name)) == ["preview", "teardown"]
