"""Images that travel (issue 25), two ratios in one run, on bench/realistic.py's multi-stage app.

(a) A fresh agent's first deploy of a one-line change, with the registry's inline cache, against a warm
agent's, and against a fresh agent without a registry (push -> new version answering through Caddy).
    warm            the agent that deployed the version before, its engine holding every layer and BuildKit
                    cache record of the app
    fresh+registry  a new agent (new workdir, so a new clone) on an engine with none of the app: its
                    containers and images removed and the BuildKit cache records made since the bench began
                    pruned by id; it builds with `--cache-from` the app's last pushed digest and each stage's
                    cache image (`cache-deps`, `cache-build`: runners/build_cache.py), all inline cache
    fresh           the same fresh engine, an agent with no registry: everything is built, every package
                    downloaded into an empty cache mount
    Each row records whether the deps install step was CACHED, and the time the agent spent after the swap
    building and pushing the stage cache images (the `cache images pushed` phase: not in push -> answering).
    Why not an empty Docker data root: dockerd is shared with other work on this machine, and a second dockerd
    would need its own bridge and iptables chains beside the first. Pruning by id removes only the records this
    bench's builds made (and any another build on the engine made in the same minutes, which then only builds
    again), never the whole cache.
(b) Promotion of the digest the `staging` rule serves to a second docker target (`prod`, on the same agent
    and engine) against a rebuild of the same commit for `prod` (a `release-N` tag at that commit). Before the
    rebuild, the cache records the staging build of that commit made are pruned, so the rebuild is what a
    second host, warm from the release before, would do (a one-line change build), not a no-op. The promotion
    pulls from the same registry; its layers are already on this engine, as on a host that ran the release
    before except for the one changed layer. Both are timed from the request (the promote call; the signed
    webhook of the tag) to the job's end as the API reports it (polled every 50 ms).

Every daemon started here (moto, the API, Caddy, docker-registry, the agents) is stopped by its pid.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
import uuid

import docker
import requests

from harness import WORK, Daemons
from deploy import start_stack
from realistic import AppState, check_case, downloads, tahobuddy_deploy
from tests.realparts import build_cache_ids as cache_ids, forget_app, prune_build_cache as prune

ROUNDS = 3


def wait_end(api, job_id: str, t0: float, timeout: float = 300) -> tuple[float, dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(f"{api.url}/api/v1/jobs/{job_id}", headers=api.headers(), timeout=10).json()
        if job["state"] in ("succeeded", "failed", "canceled", "superseded", "skipped"):
            if job["state"] != "succeeded":
                raise RuntimeError(f"job {job_id} ended {job['state']}: {job.get('reason')}")
            return time.monotonic() - t0, job
        time.sleep(0.05)
    raise RuntimeError(f"job {job_id} did not end within {timeout}s: {job}")


def main() -> int:
    from functions.store import tokens
    from tests.helpers import deliver
    from tests.realparts import AgentProcess, GitRepo, Registry, job_log
    daemons, run = Daemons(), uuid.uuid4().hex[:6]
    name = f"bench-img-{run}"
    host, caddy, registry, agents = f"{name}.localhost", None, None, []
    rows = {"warm": [], "fresh+registry": [], "fresh": [], "promote": [], "rebuild": []}
    client = docker.from_env()
    try:
        api, caddy, first = start_stack(daemons)
        first.stop()
        registry = Registry(WORK / "registry")
        token = tokens.issue("agent", "bench-images")

        def agent(label: str, with_registry: bool) -> AgentProcess:
            for a in agents:
                a.stop()
            extra = {"TAHOBUDDY_REGISTRY": registry.host} if with_registry else {}
            agents.append(AgentProcess(api, token, WORK, caddy, targets="docker", name=label, extra=extra))
            return agents[-1]

        since = cache_ids(client)
        repo, state = GitRepo(WORK / "images-app"), AppState(run)
        repo.write(state.files("tahobuddy"))
        repo.commit_and_tag("first deploy")
        target = {"type": "docker", "health_path": "/", "drain_seconds": 0, "watch_seconds": 0}
        requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
            "name": name, "repository": str(repo.origin), "hostname": host, "port": 8080, "rules": [
                {"name": "staging", "match": {"branch": "main"}, "target": target},
                {"name": "prod", "match": {"tag": "release-*"}, "target": {**target, "name": "prod"}}]}
                     ).raise_for_status()
        agent("warm", True)
        tahobuddy_deploy(api, caddy, host, repo, "first deploy, again", "/", state.page())  # fills the cache

        print("(a) one-line change: warm agent, fresh agent with the registry, fresh agent without", flush=True)
        for round_ in range(ROUNDS):
            for label, with_registry, fresh in (("warm", True, False), ("fresh+registry", True, True),
                                                ("fresh", False, True)):
                pruned = forget_app(name, since) if fresh else 0
                agent(f"{label.replace('+', '-')}-{round_}" if fresh else "warm", with_registry)
                path, body = state.change("code", round_)
                repo.write(state.files("tahobuddy"))
                row = tahobuddy_deploy(api, caddy, host, repo, f"{label} {round_}", path, body)
                log = row.pop("log")
                if label == "warm":
                    check_case("code", label, log)   # the deps step was reused
                elif label == "fresh" and "downloading" not in log:
                    raise RuntimeError("the fresh agent without a registry reused the deps step:\n" + log[-3000:])
                row.update(pruned=pruned, cache_from="importing cache manifest from" in log,
                           downloaded="downloading " in log, deps_cached=downloads(log) is None,
                           cache_push=row["phases"].get("cache images pushed", 0.0))
                rows[label].append(row)
                print(f"  round {round_ + 1} {label}: {row['seconds']:.2f} s (build {row['phases'].get('build', 0):.2f}"
                      f" s{', cache records pruned: ' + str(pruned) if fresh else ''}"
                      f", deps step {'CACHED' if row['deps_cached'] else 'run'}"
                      f"{', deps downloaded' if row['downloaded'] else ''}"
                      f"{', then stage cache images pushed in %.2f s' % row['cache_push'] if row['cache_push'] else ''})",
                      flush=True)

        print("(b) the serving digest promoted to a second docker target, against a rebuild of that commit",
              flush=True)
        agent("warm", True)
        for round_ in range(ROUNDS):
            before = cache_ids(client)
            path, body = state.change("code", round_)
            repo.write(state.files("tahobuddy"))
            staged = tahobuddy_deploy(api, caddy, host, repo, f"staging {round_}", path, body)
            if f"pushed {registry.host}/{name}@" not in staged["log"]:
                raise RuntimeError("the staging build was not pushed:\n" + staged["log"][-3000:])
            sha = repo.git("rev-parse", "HEAD")
            t0 = time.monotonic()
            r = requests.post(f"{api.url}/api/v1/apps/{name}/promote", json={"from": "staging", "to": "prod"},
                              headers=api.headers(), timeout=30)
            r.raise_for_status()
            seconds, job = wait_end(api, r.json()["jobs"][0]["id"], t0)
            if "building" in job_log(api, job["id"]) or "promoted from staging" not in job["reason"]:
                raise RuntimeError(f"the promotion built, or does not say so: {job}")
            rows["promote"].append({"seconds": round(seconds, 2)})
            pruned = prune(cache_ids(client) - before)   # the staging build's records: prod's host never had them
            tag = f"release-{run}-{round_}"
            repo.git("tag", tag, sha)
            repo.git("push", "-q", "origin", tag)
            t0 = time.monotonic()
            job_id = deliver(api, "push", {"ref": f"refs/tags/{tag}", "after": sha, "created": True,
                                           "deleted": False, "repository": {"full_name": "bench/images",
                                                                            "clone_url": str(repo.origin)}}
                             ).json()["jobs"][0]
            seconds, job = wait_end(api, job_id, t0)
            rebuilt = job_log(api, job_id)
            check_case("code", "rebuild", rebuilt)
            rows["rebuild"].append({"seconds": round(seconds, 2), "pruned": pruned})
            print(f"  round {round_ + 1}: promotion {rows['promote'][-1]['seconds']:.2f} s, rebuild "
                  f"{seconds:.2f} s (cache records of the staging build pruned: {pruned})", flush=True)
    finally:
        for a in agents:
            a.stop()
        if caddy:
            caddy.stop()
        if registry:
            registry.stop()
        daemons.stop_all()
        from tests.realparts import remove_app_resources
        remove_app_resources(name)
    print_report(rows)
    return 0


def print_report(rows: dict) -> None:
    med = {k: statistics.median(x["seconds"] for x in v) for k, v in rows.items() if v}
    print(f"Images that travel, median of {ROUNDS} rounds:")
    print(f"  (a) one-line change, push -> new version answering: warm {med['warm']:.2f} s, fresh agent with the "
          f"registry {med['fresh+registry']:.2f} s, fresh without {med['fresh']:.2f} s")
    print(f"      fresh with registry / warm = {med['fresh+registry'] / med['warm']:.2f}x (aim <= 1.3); "
          f"fresh without / warm = {med['fresh'] / med['warm']:.2f}x")
    builds = {k: statistics.median(x["phases"].get("build", 0) for x in rows[k]) for k in ("warm", "fresh+registry",
                                                                                          "fresh")}
    pushes = {k: statistics.median(x["cache_push"] for x in rows[k]) for k in ("warm", "fresh+registry")}
    cached = sum(x["deps_cached"] for x in rows["fresh+registry"])
    print(f"      build phase: warm {builds['warm']:.2f} s, fresh with registry {builds['fresh+registry']:.2f} s "
          f"(deps step CACHED in {cached} of {len(rows['fresh+registry'])} rounds), fresh without "
          f"{builds['fresh']:.2f} s; after the swap, stage cache images pushed in {pushes['warm']:.2f} s (warm), "
          f"{pushes['fresh+registry']:.2f} s (fresh with registry)")
    print(f"  (b) request -> job ended: promotion {med['promote']:.2f} s, rebuild of the same commit "
          f"{med['rebuild']:.2f} s; promotion / rebuild = {med['promote'] / med['rebuild']:.2f}x (aim <= 0.3)")
    print(json.dumps({k: [{kk: vv for kk, vv in x.items() if kk not in ("failures", "cpu")} for x in v]
                      for k, v in rows.items()}))


if __name__ == "__main__":
    sys.exit(main())
