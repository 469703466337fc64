"""heroku: two ways to deploy an app on Heroku.

`method: build` (the Platform API build flow): upload the worktree as a source blob, start a build at
the job's commit, stream its output into the job's log, and follow it until it succeeds or fails.

`method: container` (Heroku's Container Registry & Runtime, as `heroku container:push` and
`container:release` do it): build the image here for linux/amd64, push it to
`<registry>/<app>/<process_type>` as user `_` with the API key, read the image id from the pushed
manifest, release it with a formation update, and follow that release until it succeeds or fails.

A promotion (`tahobuddy promote`, the target carries `image` and `promoted_from`) builds nothing: the
serving digest is copied registry to registry with skopeo into `<registry>/<app>/<process_type>`, and
released the same way.
"""
from __future__ import annotations

import threading
import time

import docker
import requests
from docker.errors import DockerException

from . import heroku_convert as hc
from . import image as image_build
from . import image_registry as images
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
        method = spec.target.get("method", "build")
        if method not in ("build", "container"):
            raise RunnerError(f"heroku method {method!r} is unknown: use build or container", reason=Reason.REFUSED)
        ctx.scratch["api_key"] = resolve(spec.target["api_key"], ctx.secrets)
        ctx.scratch["session"] = requests.Session()
        if method == "container" and not spec.target.get("promoted_from"):  # a promotion builds nothing
            try:
                ctx.scratch["docker"] = docker.from_env(timeout=600)
                ctx.scratch["docker"].ping()
            except DockerException as exc:
                raise RunnerError("heroku method 'container' builds the image on this agent, and no Docker Engine "
                                  f"answers ({exc.__class__.__name__}); start dockerd or use method: build",
                                  exc, Reason.SETUP_ERROR) from exc

    def _call(self, ctx: RunContext, spec: JobSpec, req: hc.Request) -> dict | list:
        url = spec.target.get("api_url", "https://api.heroku.com").rstrip("/") + req.path
        try:
            r = ctx.scratch["session"].request(req.method, url, json=req.body, timeout=30,
                                               headers=hc.headers(ctx.scratch["api_key"], req.accept, req.range))
        except requests.RequestException as exc:
            raise HerokuError(f"Heroku did not answer {req.method} {req.path}: {exc.__class__.__name__}") from exc
        if r.status_code == 401:
            raise HerokuError(f"Heroku refused the API key (401): check the secret {spec.target['api_key']}",
                              reason=Reason.REFUSED)
        if r.status_code == 404:
            raise HerokuError(f"Heroku has no app {spec.target['app']!r} visible to this API key (404 on {req.method} "
                              f"{req.path}: {_message(r)})", reason=Reason.REFUSED)
        if r.status_code == 422:
            raise HerokuError(f"Heroku refused {req.method} {req.path} (422): {_message(r)}", reason=Reason.REFUSED)
        if r.status_code >= 400:
            raise HerokuError(f"Heroku refused {req.method} {req.path}: {r.status_code} {r.text[:300]}")
        return r.json()

    def run(self, spec: JobSpec, ctx: RunContext, log: Log) -> JobResult:
        if spec.target.get("method", "build") == "container":
            return self._run_container(spec, ctx, log)
        return self._run_build(spec, ctx, log)

    def _run_build(self, spec: JobSpec, ctx: RunContext, log: Log) -> JobResult:
        app = spec.target["app"]
        blob, checksum = hc.tarball(ctx.worktree)
        source = self._call(ctx, spec, hc.create_source())["source_blob"]
        log(f"uploading {len(blob)} bytes of source (SHA256:{checksum[:12]})")
        put = ctx.scratch["session"].put(source["put_url"], data=blob, headers={"Content-Type": ""}, timeout=120)
        if put.status_code >= 400:
            raise HerokuError(f"uploading the source blob failed: {put.status_code}")
        build = self._call(ctx, spec, hc.create_build(app, source["get_url"], spec.sha, checksum))
        log(f"Heroku build {build['id']} started for {app} at {spec.sha[:12]}")
        build = self._follow(ctx, log, f"Heroku build {build['id']}", build,
                             lambda b: self._call(ctx, spec, hc.build_info(app, b["id"])))
        if isinstance(build, JobResult):
            return build
        if build["status"] == "succeeded":
            release = (build.get("release") or {}).get("id", "?")
            return JobResult.ok(f"Heroku build {build['id']} succeeded; release {release}")
        return JobResult.failed(f"Heroku build {build['id']} failed (see the build output above)", 1)

    # ---- method: container ---------------------------------------------------------------
    def _run_container(self, spec: JobSpec, ctx: RunContext, log: Log) -> JobResult:
        target, app = spec.target, spec.target["app"]
        process_type = target.get("process_type", "web")
        registry = target.get("registry", "registry.heroku.com")
        try:
            repo = hc.image_repository(registry, app, process_type)
        except ValueError as exc:
            return JobResult.never_ran(Reason.REFUSED, str(exc))
        # the app and the key are checked before a build that could take minutes
        before = self._call(ctx, spec, hc.newest_release(app))
        if target.get("promoted_from"):
            pushed = self._copy(ctx, spec, log, repo, registry)
        else:
            log(f"building for {hc.PLATFORM}, the platform Heroku's dynos run")
            built = image_build.build(ctx.scratch["docker"], spec, ctx, log, platform=hc.PLATFORM)
            if isinstance(built, JobResult):
                return built
            pushed = self._push(ctx, spec, log, built, repo, registry)
        if isinstance(pushed, JobResult):
            return pushed
        image_id = self._pushed_image_id(ctx, spec, registry, app, process_type)
        log(f"releasing {image_id[:19]} as {process_type} of {app}")
        self._call(ctx, spec, hc.release_image(app, process_type, image_id))
        after = self._call(ctx, spec, hc.newest_release(app))
        if not after or (before and after[0]["id"] == before[0]["id"]):
            return JobResult.ok(f"Heroku made no new release of {app}: {image_id[:19]} already runs")
        return self._follow_release(ctx, spec, log, after[0], image_id)

    def _push(self, ctx: RunContext, spec: JobSpec, log: Log, image_id: str, repo: str,
              registry: str) -> None | JobResult:
        client = ctx.scratch["docker"]
        client.images.get(image_id).tag(repo, "latest")
        log(f"pushing {repo}:latest")
        auth = hc.registry_auth(ctx.scratch["api_key"])
        try:
            for chunk in client.images.push(repo, "latest", auth_config=auth, stream=True, decode=True):
                if "error" in chunk:
                    return self._push_refused(spec, registry, chunk["error"].strip())
                if chunk.get("status") and not chunk.get("progressDetail"):
                    log(f"{chunk.get('id', '')}: {chunk['status']}".lstrip(": "))
                if ctx.cancel.requested:
                    return JobResult.canceled(f"push canceled: {ctx.cancel.reason}")
        except DockerException as exc:
            return self._push_refused(spec, registry, f"{exc.__class__.__name__}: {exc}")
        return None

    def _copy(self, ctx: RunContext, spec: JobSpec, log: Log, repo: str, registry: str) -> None | JobResult:
        """A promotion: the serving digest copied to `repo:latest` (the agent's registry credentials for the
        source, `_` and the API key for Heroku's registry), never pulled through a daemon."""
        source = spec.target["image"]
        log(f"{spec.target['promoted_from']}: no build")
        auths = {source.split("/", 1)[0]: images.auth(ctx.settings, ctx.secrets),
                 registry.split("/", 1)[0]: hc.registry_auth(ctx.scratch["api_key"])}
        try:
            images.copy_to(source, f"{repo}:latest", auths, log, ctx.timeout)
        except images.RegistryError as exc:
            return JobResult.failed(str(exc), 1)
        return None

    @staticmethod
    def _push_refused(spec: JobSpec, registry: str, error: str) -> JobResult:
        if "unauthorized" in error or "authentication required" in error:
            return JobResult.never_ran(Reason.REFUSED, f"the registry {registry} refused user _ with the API key "
                                       f"({error}): check the secret {spec.target['api_key']}")
        return JobResult.failed(f"push to {registry} failed: {error}", 1)

    def _pushed_image_id(self, ctx: RunContext, spec: JobSpec, registry: str, app: str, process_type: str) -> str:
        url = hc.manifest_url(registry, app, process_type)
        try:
            user = hc.registry_auth(ctx.scratch["api_key"])
            r = ctx.scratch["session"].get(url, headers={"Accept": hc.MANIFEST_V2}, timeout=30,
                                           auth=(user["username"], user["password"]))
        except requests.RequestException as exc:
            raise HerokuError(f"the registry {registry} did not answer for the pushed manifest: "
                              f"{exc.__class__.__name__}") from exc
        if r.status_code >= 400:
            raise HerokuError(f"the registry {registry} did not give the pushed manifest: {r.status_code}")
        try:
            return hc.image_id(r.json())
        except ValueError as exc:
            raise HerokuError(str(exc), exc, Reason.REFUSED) from exc

    def _follow_release(self, ctx: RunContext, spec: JobSpec, log: Log, release: dict, image_id: str) -> JobResult:
        app, name = spec.target["app"], f"Heroku release v{release.get('version', '?')} ({release['id']})"
        log(f"{name} {release['status']}")
        release = self._follow(ctx, log, name, release,
                               lambda r: self._call(ctx, spec, hc.release_info(app, r["id"])))
        if isinstance(release, JobResult):
            return release
        if release["status"] == "succeeded":
            # no release history entry: that history is the docker target's rollback list (Heroku keeps its own)
            origin = f"; {spec.target['promoted_from']}" if spec.target.get("promoted_from") else ""
            return JobResult.ok(f"{name} succeeded with {image_id[:19]}{origin}")
        return JobResult.failed(f"{name} {release['status']} (see the release output above)", 1)

    def _follow(self, ctx: RunContext, log: Log, name: str, item: dict, refresh) -> dict | JobResult:
        """Stream a build's or release's output while polling it until it is no longer pending;
        the final item, or the JobResult of a cancel or timeout."""
        streamer = threading.Thread(target=self._stream, args=(ctx, item.get("output_stream_url"), log), daemon=True)
        streamer.start()
        deadline = time.monotonic() + ctx.timeout
        while item["status"] == "pending":
            if ctx.cancel.wait(POLL_SECONDS):
                return JobResult.canceled(f"stopped following {name}: {ctx.cancel.reason}")
            if time.monotonic() > deadline:
                return JobResult.failed(f"{name} still pending after {ctx.timeout:.0f}s", 1, Reason.TIMEOUT)
            item = refresh(item)
        streamer.join(timeout=10)
        return item

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
            log(f"tahobuddy: the Heroku output stream ended early ({exc.__class__.__name__})")

    def cleanup(self, spec: JobSpec, ctx: RunContext) -> None:
        for key in ("session", "docker"):
            held = ctx.scratch.pop(key, None)
            if held is not None:
                held.close()


def _message(r: requests.Response) -> str:
    """Heroku's error body is {"id", "message"}; say the message, or the start of whatever came."""
    try:
        return str(r.json().get("message") or r.text[:300])
    except ValueError:
        return r.text[:300]
