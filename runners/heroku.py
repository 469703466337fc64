"""heroku: the Platform API build flow. Upload the worktree as a source blob, start a build at the
job's commit, stream its output into the job's log, and follow it until it succeeds or fails."""
from __future__ import annotations

import threading
import time

import requests

from . import heroku_convert as hc
from .base import JobResult, JobSpec, Log, Reason, RunContext, RunnerError
from .secretrefs import resolve

POLL_SECONDS = 1.0


class HerokuError(RunnerError):
    pass


class HerokuRunner:
    name = "heroku"

    def available(self) -> bool:
        return True

    def prepare(self, spec: JobSpec, ctx: RunContext) -> None:
        if spec.target.get("method", "build") != "build":
            raise RunnerError("heroku method 'container' cannot be released through the published Platform API "
                              "schema (a formation update takes no image); use method: build", reason=Reason.REFUSED)
        ctx.scratch["api_key"] = resolve(spec.target["api_key"], ctx.secrets)
        ctx.scratch["session"] = requests.Session()

    def _call(self, ctx: RunContext, spec: JobSpec, req: hc.Request) -> dict:
        url = spec.target.get("api_url", "https://api.heroku.com").rstrip("/") + req.path
        try:
            r = ctx.scratch["session"].request(req.method, url, json=req.body, timeout=30,
                                               headers=hc.headers(ctx.scratch["api_key"]))
        except requests.RequestException as exc:
            raise HerokuError(f"Heroku did not answer {req.method} {req.path}: {exc.__class__.__name__}") from exc
        if r.status_code == 401:
            raise HerokuError(f"Heroku refused the API key (401): check the secret {spec.target['api_key']}",
                              reason=Reason.REFUSED)
        if r.status_code == 404:
            raise HerokuError(f"Heroku has no app {spec.target['app']!r} visible to this API key (404)",
                              reason=Reason.REFUSED)
        if r.status_code >= 400:
            raise HerokuError(f"Heroku refused {req.method} {req.path}: {r.status_code} {r.text[:300]}")
        return r.json()

    def run(self, spec: JobSpec, ctx: RunContext, log: Log) -> JobResult:
        app = spec.target["app"]
        blob, checksum = hc.tarball(ctx.worktree)
        source = self._call(ctx, spec, hc.create_source())["source_blob"]
        log(f"uploading {len(blob)} bytes of source (SHA256:{checksum[:12]})")
        put = ctx.scratch["session"].put(source["put_url"], data=blob, headers={"Content-Type": ""}, timeout=120)
        if put.status_code >= 400:
            raise HerokuError(f"uploading the source blob failed: {put.status_code}")
        build = self._call(ctx, spec, hc.create_build(app, source["get_url"], spec.sha, checksum))
        log(f"Heroku build {build['id']} started for {app} at {spec.sha[:12]}")
        streamer = threading.Thread(target=self._stream, args=(ctx, build.get("output_stream_url"), log), daemon=True)
        streamer.start()
        deadline = time.monotonic() + ctx.timeout
        while build["status"] == "pending":
            if ctx.cancel.wait(POLL_SECONDS):
                return JobResult.canceled(f"stopped following Heroku build {build['id']}: {ctx.cancel.reason}")
            if time.monotonic() > deadline:
                return JobResult.failed(f"Heroku build {build['id']} still pending after {ctx.timeout:.0f}s", 1,
                                        Reason.TIMEOUT)
            build = self._call(ctx, spec, hc.build_info(app, build["id"]))
        streamer.join(timeout=10)
        if build["status"] == "succeeded":
            release = (build.get("release") or {}).get("id", "?")
            return JobResult.ok(f"Heroku build {build['id']} succeeded; release {release}")
        return JobResult.failed(f"Heroku build {build['id']} failed (see the build output above)", 1)

    def _stream(self, ctx: RunContext, url: str | None, log: Log) -> None:
        if not url:
            return
        try:
            with ctx.scratch["session"].get(url, stream=True, timeout=ctx.timeout) as r:
                for line in r.iter_lines(decode_unicode=True):
                    log(f"[heroku] {line}")
                    if ctx.cancel.requested:
                        return
        except requests.RequestException as exc:
            log(f"tahobuddy: the build output stream ended early ({exc.__class__.__name__})")

    def cleanup(self, spec: JobSpec, ctx: RunContext) -> None:
        session = ctx.scratch.pop("session", None)
        if session is not None:
            session.close()
