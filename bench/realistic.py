"""Deploy figures for an app shaped like real ones: a multi-stage Dockerfile with a dependency layer.

The app (made here from the local busybox base; nothing can be pulled):
  deps   copies a `requirements.txt` and "installs" it with a RUN step whose download cache is a
         `RUN --mount=type=cache`, as pip, npm or go modules are cached: a package missing from the
         cache is "downloaded" (made deterministically: ~2.4 MB of text, gzip -9), then every
         package is unpacked into the site folder (~12 MB for five packages)
  build  copies `src/` and "bundles" it (a compressed file made from the source), independent of
         deps, so BuildKit runs the two stages at the same time
  final  copies the site from deps and the web root from build, and serves it with `httpd`

Three cases, each measured ROUNDS times in one run, for Tahobuddy (push -> signed webhook -> API ->
SQS -> agent -> BuildKit build -> health -> Caddy route -> new version answering) against the raw
`DOCKER_BUILDKIT=1 /usr/bin/docker build` + `docker run` of the same Dockerfile until it answers:
  code   a one-line change in `src/index.html` (deps layer cached)
  deps   one package's version changes in `requirements.txt` (deps layer rebuilt, the others'
         downloads come from the cache mount)
  cold   nothing cached: a new cache namespace (a file every stage copies first, so every later
         step's cache key changes, and the cache mount's id) plus a code change. The base image
         stays local, as a pulled base would on a host that deployed before. `docker builder prune`
         is not used: dockerd is shared with other work.

Both sides share dockerd, so each builds its own copy of the Dockerfile whose only difference is
the cache namespace (`tahobuddy-RUN-N` or `raw-RUN-N`): neither side can reuse the other's layers, and both
do the same work. The bench checks each build's plain progress output: the deps step is CACHED in
the code case, and the install downloads one package in the deps case and all of them when cold.
A request loop on the serving app runs through every Tahobuddy swap and counts failures, and runs
during each raw build too, so both sides share the machine with the same load.
"""
from __future__ import annotations

import json
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

import requests

from harness import WORK, CpuMeter, Daemons
from deploy import Loop, load_average, raw_build_and_start, start_stack, until

ROUNDS = 3
CASES = ("code", "deps", "cold")
PACKAGES = ("alpha", "beta", "gamma", "delta", "epsilon")

DOCKERFILE = """FROM {base} AS deps
COPY cache-namespace /etc/cache-namespace
WORKDIR /deps
COPY requirements.txt install-deps.sh ./
RUN --mount=type=cache,id=bench-deps-{namespace},target=/cache sh install-deps.sh requirements.txt /cache /deps/site

FROM {base} AS build
COPY cache-namespace /etc/cache-namespace
COPY src /src
RUN sh /src/build.sh /src /out/www

FROM {base}
COPY cache-namespace /etc/cache-namespace
COPY --from=deps /deps/site /app/site
COPY --from=build /out/www /www
COPY --from=deps /deps/site/installed.txt /www/deps.txt
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""

INSTALL_DEPS = """#!/bin/sh
# pip with a wheel cache, in busybox: a package missing from the cache is "downloaded" (made), then
# every package is unpacked into the site folder. Deterministic: the same line gives the same bytes.
set -eu
requirements=$1 cache=$2 site=$3
mkdir -p "$site"
: > "$site/installed.txt"
while read -r line; do
  [ -n "$line" ] || continue
  name=${line%%==*}
  version=${line#*==}
  archive="$cache/$name-$version.gz"
  if [ ! -f "$archive" ]; then
    echo "downloading $name $version"
    seq 1 150000 | sed "s/^/$name-$version /" | gzip -9 > "$archive.part"
    mv "$archive.part" "$archive"
  fi
  mkdir -p "$site/$name"
  gunzip -c "$archive" > "$site/$name/lib.txt"
  echo "$line" >> "$site/installed.txt"
done < "$requirements"
"""

BUILD = """#!/bin/sh
# The app's build: the page as written, and a compressed bundle as a JS bundler would make.
set -eu
mkdir -p "$2"
cp "$1/index.html" "$2/index.html"
seq 1 60000 | sed "s/^/export const m/" | gzip -6 > "$2/bundle.js.gz"
"""


class AppState:
    """What the repository holds: the code line, the pinned packages and the cache namespace."""

    def __init__(self, run: str):
        self.run, self.code, self.versions, self.epoch = run, 0, {name: "1.0" for name in PACKAGES}, 0

    def files(self, side: str) -> dict[str, str]:
        from tests.realparts import BASE_IMAGE
        namespace = f"{side}-{self.run}-{self.epoch}"  # unique per run: a second run starts cold too
        return {"Dockerfile": DOCKERFILE.format(base=BASE_IMAGE, namespace=namespace),
                "cache-namespace": namespace + "\n",
                "install-deps.sh": INSTALL_DEPS, "src/build.sh": BUILD, "src/index.html": self.page() + "\n",
                "requirements.txt": self.requirements()}

    def page(self) -> str:
        return f"code {self.code}"

    def requirements(self) -> str:
        return "".join(f"{name}=={version}\n" for name, version in self.versions.items())

    def change(self, case: str, round_: int) -> tuple[str, str]:
        """Apply `case`; returns the path and body that prove the new version serves."""
        if case == "deps":
            name = PACKAGES[round_ % len(PACKAGES)]
            self.versions[name] = f"1.{round_ + 1}"
            return "/deps.txt", self.requirements().strip()
        if case == "cold":
            self.epoch += 1
        self.code += 1
        return "/", self.page()


EXPECTED_DOWNLOADS = {"code": None, "deps": 1, "cold": len(PACKAGES)}  # None: the deps step is CACHED


def downloads(build_output: str) -> int | None:
    """Packages the deps step downloaded, or None when BuildKit reused the step (`#N CACHED`)."""
    step = re.search(r"^#(\d+) \[deps \d+/\d+\] RUN .*install-deps\.sh", build_output, re.MULTILINE)
    if not step:
        raise RuntimeError("the build output names no deps install step:\n" + build_output[-2000:])
    if re.search(rf"^#{step.group(1)} CACHED", build_output, re.MULTILINE):
        return None
    return len(re.findall(rf"^#{step.group(1)} .*downloading ", build_output, re.MULTILINE))


def check_case(case: str, side: str, build_output: str) -> None:
    """The case did what it says (else the figures would measure something else)."""
    bases = set(re.findall(r"^#(\d+) \[[^\]]+\] FROM ", build_output, re.MULTILINE))  # the local base image
    if case == "cold" and set(re.findall(r"^#(\d+) CACHED", build_output, re.MULTILINE)) - bases:
        raise RuntimeError(f"{side} cold build reused a cached step:\n" + build_output[-3000:])
    got = downloads(build_output)
    if got != EXPECTED_DOWNLOADS[case]:
        raise RuntimeError(f"{side} {case} build: deps step downloaded {got} packages (None = cached), "
                           f"expected {EXPECTED_DOWNLOADS[case]}:\n" + build_output[-3000:])


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def tahobuddy_deploy(api, caddy, host: str, repo, message: str, path: str, body: str, meter=None) -> dict:
    """Push, deliver the signed webhook, wait for `path` to answer `body` through Caddy; a request loop
    on `/` runs until the job (old container retired included) has finished. `meter` (harness.CpuMeter)
    counts the CPU the stack's own processes used until the new version answered."""
    from cli.phases import durations
    from tests.helpers import deliver
    from tests.realparts import job_log, wait_job
    sha = repo.commit_and_tag(message)
    loop = Loop(caddy.url + "/", host)
    loop.start()
    try:
        if meter:
            meter.start()
        t0 = time.monotonic()
        job_id = deliver(api, "push", {"ref": "refs/heads/main", "after": sha, "created": False, "deleted": False,
                                       "repository": {"full_name": "bench/realistic",
                                                      "clone_url": str(repo.origin)}}).json()["jobs"][0]
        until(caddy.url + path, body, host, timeout=300)
        seconds = time.monotonic() - t0
        cpu = meter.stop() if meter else {}
        job = wait_job(api, job_id, timeout=300)
    finally:
        loop.halt.set()
        loop.join()
    if job["state"] != "succeeded":
        raise RuntimeError(f"job {job_id} ended {job['state']}: {job.get('reason')}")
    event = requests.get(f"{api.url}/api/v1/events/{job['event_id']}", headers=api.headers(), timeout=10).json()
    return {"seconds": round(seconds, 2), "failed_requests": loop.failed, "ok_requests": loop.ok,
            "failures": loop.failures,
            "phases": durations(job, event), "cpu": cpu, "log": job_log(api, job_id)}


def raw_deploy(caddy, host: str, context: Path, path: str, body: str, tag: str) -> tuple[float, str, float]:
    """The raw build + start, with the same request loop running against the app Tahobuddy serves."""
    loop = Loop(caddy.url + "/", host)
    loop.start()
    try:
        return raw_build_and_start(context, body, path, tag=tag)
    finally:
        loop.halt.set()
        loop.join()


def main() -> int:
    from tests.realparts import GitRepo, remove_app_resources
    daemons, rows = Daemons(), []
    report = {"load_average": {"start": load_average()}, "rows": rows}
    run = uuid.uuid4().hex[:6]
    name = f"bench-real-{run}"
    host, raw_tag, caddy, agent = f"{name}.localhost", f"bench-realistic-raw-{name}:latest", None, None
    try:
        api, caddy, agent = start_stack(daemons)
        meter = CpuMeter({"API": daemons.names["api"], "moto": daemons.names["moto"], "agent": agent.proc.pid,
                          "Caddy": caddy.proc.pid})
        repo, raw_context, state = GitRepo(WORK / "realistic"), WORK / "realistic-raw", AppState(run)
        repo.write(state.files("tahobuddy"))
        repo.commit_and_tag("first deploy")
        requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
            "name": name, "repository": str(repo.origin), "hostname": host, "port": 8080, "rules": [
                {"name": "main", "match": {"branch": "main"},
                 "target": {"type": "docker", "health_path": "/", "drain_seconds": 1, "watch_seconds": 0}}]}).raise_for_status()
        # the first deploy of each side fills its cache; it is not measured
        tahobuddy_deploy(api, caddy, host, repo, "first deploy, again", "/", state.page())
        write(raw_context, state.files("raw"))
        raw_build_and_start(raw_context, state.page(), tag=raw_tag)
        for round_ in range(ROUNDS):
            for case in CASES:
                path, body = state.change(case, round_)
                repo.write(state.files("tahobuddy"))
                row = {"round": round_ + 1, "case": case,
                       **tahobuddy_deploy(api, caddy, host, repo, f"{case} {round_}", path, body, meter)}
                check_case(case, "Tahobuddy", row.pop("log"))
                write(raw_context, state.files("raw"))
                seconds, output, build = raw_deploy(caddy, host, raw_context, path, body, raw_tag)
                check_case(case, "raw", output)
                row["raw_seconds"], row["raw_build_seconds"] = round(seconds, 2), round(build, 3)
                rows.append(row)
                print(f"  round {row['round']} {case}: Tahobuddy {row['seconds']:.2f} s, "
                      f"raw {row['raw_seconds']:.2f} s", flush=True)
        report["load_average"]["end"] = load_average()
    finally:
        if agent:
            agent.stop()
        if caddy:
            caddy.stop()
        daemons.stop_all()
        remove_app_resources(name)
        import docker
        try:
            docker.from_env().images.remove(raw_tag, force=True)
        except docker.errors.APIError:
            pass
    print_report(report)
    return 0


def print_report(r: dict) -> None:
    from cli.phases import STEPS
    rows = r["rows"]
    print(f"Load average (1, 5, 15 min) at the start: {r['load_average']['start']}, "
          f"at the end: {r['load_average']['end']}")
    print(f"Multi-stage app with a dependency layer, median of {ROUNDS} rounds per case "
          "(push -> new version answering; raw = BuildKit build + docker run until it answers):")
    print("  case   Tahobuddy      raw   overhead   ratio   failed requests during swaps")
    labels = [label for label, _, _ in STEPS]
    medians = {}
    for case in CASES:
        mine = [x for x in rows if x["case"] == case]
        t, raw = statistics.median(x["seconds"] for x in mine), statistics.median(x["raw_seconds"] for x in mine)
        failed, total = sum(x["failed_requests"] for x in mine), sum(x["failed_requests"] + x["ok_requests"]
                                                                      for x in mine)
        medians[case] = {label: statistics.median(x["phases"].get(label, 0.0) for x in mine) for label in labels}
        print(f"  {case:<6}{t:>9.2f} s{raw:>7.2f} s{t - raw:>+9.2f} s{t / raw:>7.2f}x   {failed} of {total}")
    for row in rows:
        for what in row.get("failures", []):
            print(f"    failed during round {row['round']} {row['case']}: {what}")
    print("  where Tahobuddy's time went (seconds, median per case):")
    print("  case   " + "".join(label.rjust(17) for label in labels))
    for case in CASES:
        print(f"  {case:<7}" + "".join(f"{medians[case][label]:.3f}".rjust(17) for label in labels))
    print("  CPU seconds the stack's own processes used per deploy, until the new version answered (median; "
          "the build shares the cores with them, which on AWS the API and DynamoDB would not):")
    for case in CASES:
        mine = [x for x in rows if x["case"] == case]
        names = list(mine[0]["cpu"])
        print(f"  {case:<7}" + "   ".join(f"{n} {statistics.median(x['cpu'][n] for x in mine):.3f}" for n in names))
    print("  the build alone, median per case: the agent's build phase against raw's `docker build`:")
    for case in CASES:
        mine = [x for x in rows if x["case"] == case]
        raw_build = statistics.median(x["raw_build_seconds"] for x in mine)
        print(f"  {case:<7}agent {medians[case]['build']:.3f} s   raw {raw_build:.3f} s   "
              f"{medians[case]['build'] - raw_build:+.3f} s")
    print(json.dumps(r))


if __name__ == "__main__":
    sys.exit(main())
