"""docker: build the image from the worktree, start it beside the old container, wait until it
is healthy, point the app's Caddy route at it, drain, stop the old one.

A failed build or health check leaves the old version serving. The last N
images stay for `tahobuddy rollback`; an app's database container and its
volume are made once and kept across deploys.
"""
from __future__ import annotations

import dataclasses
import functools
import secrets
import time
from pathlib import Path

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from . import docker_convert as convert
from . import (docker_backups, docker_images, docker_oneoff, docker_output, docker_previews, docker_purge,
               image_retention, proxy)
from . import docker_watch as watch
from . import image as image_build
from .base import JobResult, JobSpec, Log, Reason, RunContext, RunnerError
from .proxy import RESTART_WAIT, Caddy, ProxyError, route
from .secretrefs import resolve


def _resolved(kwargs: dict, ctx: RunContext, extra_env: dict | None = None) -> dict:
    """The container's environment with each `secret:NAME` value resolved by the agent (a preview's have
    none: docker_convert.preview_spec drops them); the lookup remembers each value, so logs mask it. The
    label SECRET_ENV names (never holds) the variables whose values are secret, so an agent started later
    masks them in the container's output too (runners/docker_output.py)."""
    env = kwargs["environment"]
    secret = sorted({k for k, v in env.items() if isinstance(v, str) and convert.SECRET_REF.match(v)}
                    | set(extra_env or ()))
    labels = {**kwargs.get("labels", {}), **({docker_output.SECRET_ENV: ",".join(secret)} if secret else {})}
    return {**kwargs, "environment": resolve(env, ctx.secrets), "labels": labels}


@functools.lru_cache(maxsize=4)
def _client(timeout: int = 600) -> docker.DockerClient:
    """One client per timeout for the agent's life: making one asks dockerd its API version (~10 ms, twice
    a job), and its pooled connections are reused (urllib3 drops one dockerd closed, e.g. on a restart)."""
    return docker.from_env(timeout=timeout)


def caddy_for(settings, workdir: Path) -> Caddy | None:
    if not settings.proxy_admin:
        return None
    return Caddy(settings.proxy_admin, settings.proxy_server, workdir / "routes.json", settings.proxy_listen,
                 settings.proxy_https)


class History:
    """Images an app served, oldest first: what rollback picks from. It comes from the store with the
    claim (functions/store/releases.py), so any agent of the pool sees what every other one deployed."""

    def __init__(self, entries=()):
        self._entries = [dict(e) for e in entries]

    def entries(self) -> list[dict]:
        return list(self._entries)

    def add(self, entry: dict) -> None:
        self._entries.append(dict(entry))

    def live(self) -> dict | None:
        entries = self.entries()
        return entries[-1] if entries else None

    def pick(self, ref: str) -> dict | None:
        """The newest entry for `ref` (a tag, branch or full ref), or with no ref the one before live."""
        entries = self.entries()
        if not ref:
            live = entries[-1]["image"] if entries else None
            older = [e for e in entries if e["image"] != live]
            return older[-1] if older else None
        wanted = {ref, f"refs/tags/{ref}", f"refs/heads/{ref}"}
        return next((e for e in reversed(entries) if e["ref"] in wanted or e["sha"].startswith(ref)), None)


def health_pauses(first: float = 0.02, factor: float = 1.5, most: float = 0.5):
    """Seconds between health checks: most apps answer within a few hundred milliseconds of starting,
    so poll fast at first, then back off to a steady half second for the slow ones."""
    pause = first
    while True:
        yield pause
        pause = min(most, pause * factor)


class DockerRunner:
    name = "docker"

    def available(self) -> bool:
        try:
            return bool(_client(timeout=10).ping())
        except DockerException:
            return False

    @staticmethod
    def on_agent_start(settings, workdir: Path, say) -> None:
        """Make sure the proxy server exists and serves every live app again."""
        caddy = caddy_for(settings, workdir)
        if caddy is None:
            return
        if proxy.on_this_host(settings.proxy_admin):
            proxy.keep_queued_connections(say)  # a swap's config change resets no waiting connection
        try:
            caddy.ensure_server(settings.proxy_listen, settings.proxy_https)
            caddy.apply()
            say(f"proxy: {len(caddy.routes())} route(s) applied to Caddy at {settings.proxy_admin}")
        except ProxyError as exc:
            say(f"proxy: {exc}")
        try:  # a watch this agent was killed during: one version, the routed one, is left
            watch.settle_interrupted(_client(timeout=60), caddy, workdir, say)
        except DockerException as exc:
            say(f"watch: cannot settle an interrupted watch: {exc}")
        caddy.watch(say)  # a Caddy restarted while the agent runs gets its routes back

    @staticmethod
    def reconcile_previews(settings, workdir: Path, kept: set, say) -> list[str]:
        """Remove this installation's preview containers, routes, images and volumes the store does not keep."""
        return docker_previews.reconcile(_client(timeout=60), caddy_for(settings, workdir), workdir, kept,
                                         settings.resolved_installation(), say)

    def prepare(self, spec: JobSpec, ctx: RunContext) -> None:
        client = _client()
        ctx.scratch["client"] = client
        if spec.trigger in ("teardown", "purge", "backup", "restore"):  # none makes a network or a database
            return
        name = convert.network(spec.app, spec.preview)
        try:
            client.networks.get(name)
        except NotFound:
            client.networks.create(name, driver="bridge",
                                   labels=convert.preview_labels(spec.app, spec.preview, spec.installation))
        ctx.scratch["env"] = self._database(client, spec, ctx) if spec.app_spec.get("database") else {}
        for volume in convert.volumes(spec):  # labelled, so a preview's go with its teardown and purge finds them
            try:
                client.volumes.get(volume)
            except NotFound:
                client.volumes.create(volume, labels={**convert.preview_labels(spec.app, spec.preview,
                                                                               spec.installation),
                                                      "tahobuddy.role": "volume"})

    def _database(self, client, spec: JobSpec, ctx: RunContext) -> dict:
        db = spec.app_spec["database"]
        kind, preview = db["kind"], spec.preview
        secret_file = (docker_previews.password_dir(ctx.workdir, spec.app, preview) if preview
                       else ctx.workdir / "apps" / spec.app) / "db-password"
        if not secret_file.is_file():
            secret_file.parent.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(secrets.token_urlsafe(24))
            secret_file.chmod(0o600)
        password = secret_file.read_text().strip()
        if hasattr(ctx.secrets, "register"):
            ctx.secrets.register(password)
        try:
            container = client.containers.get(convert.db_name(spec.app, preview))
            if container.status != "running":
                container.start()
        except NotFound:
            image = db.get("image") or ctx.settings.db_images.get(kind)
            if preview:  # made here with the preview's labels, so teardown and the reconciler find it
                client.volumes.create(convert.db_volume(spec.app, preview),
                                      labels=convert.preview_labels(spec.app, preview, spec.installation))
                ctx.scratch["new_database"] = True
            try:
                client.containers.run(**convert.database_kwargs(spec.app, kind, image, password, preview,
                                                                spec.installation))
            except ImageNotFound as exc:
                raise RunnerError(f"database image {image} is not on this machine (set database.image or "
                                  f"TAHOBUDDY_DB_IMAGES)", exc) from exc
        return {"DATABASE_URL": convert.database_url(spec.app, kind, password, preview)}

    # ---- run ---------------------------------------------------------------------
    def run(self, spec: JobSpec, ctx: RunContext, log: Log) -> JobResult:
        """The job; when the Docker Engine goes away under it (dockerd restarted or stopped) it ends with
        reason engine_lost, saying what still serves and what to do, instead of a runner crash."""
        try:
            return self._run(spec, ctx, log)
        except Exception as exc:
            lost = convert.engine_lost_error(exc)
            if not lost:
                raise
            detail = self._engine_lost(spec, ctx, lost)
            log(f"tahobuddy: {detail}")
            return JobResult.never_ran(Reason.ENGINE_LOST, detail)

    @staticmethod
    def _engine_lost(spec: JobSpec, ctx: RunContext, error: str) -> str:
        """The reason of a job whose Docker Engine went away after its build (the build says so itself):
        when it happened, that the route still points at what served before, and what to do."""
        if spec.trigger == "teardown":
            return convert.engine_lost_detail(
                error, f"while preview #{spec.preview} was torn down", "some of it may be left on the machine",
                "; the preview reconciler removes what is left of a closed preview")
        marks, name = ctx.phases.marks, ctx.scratch.get("new_container_name")
        during = ("while the new container was being health-checked" if "container_started" in marks else
                  "while the new container was being created and started" if name else
                  "before the new container was made")
        live = History(spec.releases).live()
        left = (f"the route was not changed: it still points at {live['ref']} ({live['sha'][:12]}), which serves "
                f"as long as its container runs (dockerd's live-restore keeps it running through a restart)"
                if live and not spec.preview else "the route was not changed")
        todo = f"; remove the new container if it is left: `docker rm -f {name}`" if name else ""
        return convert.engine_lost_detail(error, during, left, todo)

    def _run(self, spec: JobSpec, ctx: RunContext, log: Log) -> JobResult:
        client, history = ctx.scratch["client"], History(spec.releases)
        if spec.trigger == "purge":
            removed = docker_purge.purge(client, caddy_for(ctx.settings, ctx.workdir), ctx.workdir, spec.app,
                                         spec.installation or ctx.settings.resolved_installation(), log)
            return JobResult.ok(f"{spec.app} purged from this machine: {len(removed)} thing(s) removed")
        if spec.trigger == "run":
            return self._run_command(client, spec, ctx, log, history)
        if spec.trigger == "teardown":
            removed = docker_previews.remove(client, caddy_for(ctx.settings, ctx.workdir), ctx.workdir, spec.app,
                                             spec.preview, spec.installation or ctx.settings.resolved_installation(),
                                             log)
            return JobResult.ok(f"preview #{spec.preview} of {spec.app} torn down: {len(removed)} thing(s) removed")
        if spec.trigger in ("backup", "restore"):
            return docker_backups.run(client, spec, ctx, log)
        if spec.preview:
            spec = convert.preview_spec(spec)
            log(f"preview #{spec.preview} at {spec.app_spec['hostname']}: no secret is resolved for it")
        if spec.trigger == "rollback":
            entry = history.pick(spec.ref)
            if entry is None:
                return JobResult.never_ran(Reason.REFUSED, f"no earlier image of {spec.app} for "
                                           f"{spec.ref or 'the previous version'} was ever deployed")
            image = docker_images.for_rollback(client, entry, ctx, log)
            if isinstance(image, JobResult):
                return image
            spec_for_run = dataclasses.replace(spec, sha=entry["sha"], ref=entry["ref"])
            ctx.scratch["digest"] = entry.get("digest", "")
            log(f"rolling back {spec.app} to {entry['ref']} ({entry['sha'][:12]}), image {image[:19]}")
        else:
            built = docker_images.to_deploy(client, spec, ctx, log)
            if isinstance(built, JobResult):
                return built
            image, spec_for_run = built, spec
        if spec.trigger != "rollback":  # a rollback serves an image whose release already ran
            released = self._release(client, spec, ctx, log, image)
            if released is not None:
                return released
        if spec.preview and ctx.scratch.get("new_database") and spec.target["preview"].get("seed"):
            seeded = self._seed(client, spec, ctx, log, image)
            if seeded is not None:
                return seeded
        done = self._swap(client, spec_for_run, ctx, log, image, history)
        if spec.target.get("promoted_from") and done.status == JobResult.ok().status:
            done = dataclasses.replace(done, detail=f"{done.detail}; {spec.target['promoted_from']}")
        return done

    def _swap(self, client, spec: JobSpec, ctx: RunContext, log: Log, image: str, history: History) -> JobResult:
        old_entry = history.live()
        kwargs = _resolved(convert.run_kwargs(spec, image, ctx.scratch.get("env", {})), ctx, ctx.scratch.get("env"))
        kwargs["name"] = f"tahobuddy-{spec.app}-{spec.job_id}-{secrets.token_hex(2)}"
        # by name before it exists: cleanup removes it even when dockerd made it but went away before answering
        ctx.scratch["new_container"] = ctx.scratch["new_container_name"] = kwargs["name"]
        try:
            container = client.containers.run(**kwargs)
        except APIError as exc:  # dockerd answered: it would not create or start it; nothing was swapped
            raise RunnerError(convert.start_refused(exc, live=history.live()), exc) from exc
        ctx.scratch["new_container"] = container.id
        ctx.phases.mark("container_started")
        container.reload()
        port = int(spec.app_spec.get("port", 8080))
        published = (container.attrs["NetworkSettings"].get("Ports") or {}).get(f"{port}/tcp")
        if published:
            upstream = f"127.0.0.1:{published[0]['HostPort']}"
            log(f"started {container.name} on {upstream}; waiting for its health check")
            healthy, why = self._wait_healthy(container, upstream, spec.target, ctx)
        else:  # it exited before Docker published its port
            healthy, why = False, f"container exited at start ({container.status})"
        if not healthy:
            tail = container.logs(tail=20).decode(errors="replace")
            for line in tail.splitlines():
                log(f"[container] {line}")
            if ctx.cancel.requested:
                return JobResult.canceled(f"canceled while waiting for health: {ctx.cancel.reason}")
            return JobResult.failed(f"health check failed: {why}; the previous version keeps serving", 1,
                                    Reason.UNHEALTHY)
        ctx.phases.mark("healthy")
        caddy = caddy_for(ctx.settings, ctx.workdir)
        if caddy is not None:
            try:
                caddy.apply({convert.route_key(spec.app, spec.preview): route(spec.app_spec, upstream)},
                            wait=RESTART_WAIT)  # through a Caddy restart
            except ProxyError as exc:
                return JobResult.failed(f"could not point the route at the new container: {exc}", 1,
                                        Reason.SETUP_ERROR)
            ctx.phases.mark("route_switched")
            log(f"route {spec.app_spec.get('hostname') or '*'}{spec.app_spec.get('path_prefix', '/')} -> {upstream}")
        else:
            log(f"no proxy configured (TAHOBUDDY_PROXY_ADMIN); the app answers on {upstream}")
        ctx.scratch.pop("new_container", None)  # it is live now: cleanup must not remove it
        has_old = bool(old_entry and old_entry.get("container") and old_entry.get("container") != container.id)
        drain, cut_short = float(spec.target.get("drain_seconds", 2)), ""
        if has_old and caddy is not None and not spec.preview and watch.settings(spec.target)[0] > 0:
            noted = watch.record(ctx.workdir, convert.route_key(spec.app),
                                 {"id": old_entry["container"], "upstream": old_entry.get("upstream", "")},
                                 {"id": container.id, "upstream": upstream})
            try:
                verdict = watch.watch(container, upstream, spec.target, ctx.cancel, log)
                if verdict.failed:
                    return self._rolled_back(client, caddy, spec, ctx, log, container, old_entry, verdict)
            finally:
                noted.unlink(missing_ok=True)
            ctx.phases.mark("watch_passed" if verdict.passed else "watch_cut_short")
            cut_short = (f"; the watch was cut short after {verdict.after:.0f} s ({verdict.cut_short}), "
                         "the new version stays" if verdict.cut_short else "")
            log(f"watch: {'passed' if verdict.passed else 'cut short'} after {verdict.after:.0f} s and "
                f"{verdict.checks} check(s); retiring the previous container")
            drain = 0.0  # the previous container has been unrouted for the whole watch
        release = {"image": image, "ref": spec.ref, "sha": spec.sha, "container": container.id, "upstream": upstream,
                   **({"digest": ctx.scratch["digest"]} if ctx.scratch.get("digest") else {})}
        history.add({**release, "job": spec.job_id})
        try:  # the new version serves from here on: an engine lost now ends the tidying, not the deploy
            if has_old:
                self._retire(client, old_entry, drain, log)
                ctx.phases.mark("old_retired")
            superseded = image_build.push_cache_images(client, spec, ctx, log)  # for the next fresh agent
            keep = 1 if spec.preview else int(spec.target.get("keep_images", ctx.settings.keep_images))
            self._prune(client, spec, history, keep, log)
            image_retention.prune(spec, history.entries(), keep, ctx, log, superseded)  # the registry's too
        except Exception as exc:
            lost = convert.engine_lost_error(exc)
            if not lost:
                raise
            log(f"tahobuddy: the Docker Engine went away after the route switched ({lost}): the new version "
                "serves; the previous container and old images may be left (`docker ps`, `docker image prune`)")
        return JobResult.ok(f"{spec.app} serving {spec.ref_name} ({spec.sha[:12]}) on {upstream}{cut_short}", release)

    @staticmethod
    def _rolled_back(client, caddy, spec: JobSpec, ctx: RunContext, log: Log, container, old_entry: dict,
                     verdict) -> JobResult:
        """The watch failed: route the previous container back, remove the new one, end the job failed."""
        what = f"{verdict.failed}, {verdict.after:.1f} s after the swap"
        ctx.phases.mark("watch_failed")
        ctx.phases.marks["watch_first_failed"] = round(time.time() - (time.monotonic() - verdict.first_failed), 3)
        for line in container.logs(tail=20).decode(errors="replace").splitlines():
            log(f"[container] {line}")
        try:
            upstream = watch.swap_back(client, caddy, convert.route_key(spec.app), spec.app_spec,
                                       old_entry["container"])
        except (NotFound, RuntimeError, ProxyError) as exc:
            log(f"watch: could not swap the previous version back in: {exc}")
            return JobResult.failed(f"the watch failed ({what}) but the previous version could not be swapped "
                                    f"back in ({exc}); the new version stays routed", 1, Reason.UNHEALTHY)
        ctx.phases.mark("rolled_back")
        log(f"watch: {what}; route {spec.app_spec.get('hostname') or '*'} -> {upstream}, "
            f"{old_entry['ref']} ({old_entry['sha'][:12]}) serves again")
        ctx.scratch["new_container"] = container.id  # cleanup removes it, even if this remove fails
        container.remove(force=True)
        ctx.scratch.pop("new_container", None)
        log(f"removed the new container {container.name}")
        return JobResult.failed(f"{what}; swapped back to {old_entry['ref']} ({old_entry['sha'][:12]}), which "
                                "serves again", 1, Reason.ROLLED_BACK_AFTER_WATCH)

    def _run_command(self, client, spec: JobSpec, ctx: RunContext, log: Log, history: History) -> JobResult:
        """`tahobuddy run`: the command in a new container of the serving image, removed at the end."""
        live = history.live()
        if live is None:
            return JobResult.never_ran(Reason.REFUSED, f"{spec.app} serves nothing yet: deploy it first")
        try:
            client.images.get(live["image"])
        except ImageNotFound:
            return JobResult.never_ran(Reason.REFUSED, f"image {live['image'][:19]} of {live['ref']} is not on this "
                                       f"agent's Docker Engine; {live.get('agent_id') or 'another agent'} holds it")
        argv = list(spec.target["run_command"])
        log(f"running {' '.join(argv)} in {live['ref']} ({live['sha'][:12]}), image {live['image'][:19]}")
        live_spec = dataclasses.replace(spec, sha=live["sha"], ref=live["ref"])
        kwargs = _resolved(convert.oneoff_kwargs(live_spec, live["image"], ctx.scratch.get("env", {}), argv, "run"),
                           ctx)
        outcome = docker_oneoff.run(client, kwargs, "", log, ctx.timeout, ctx.cancel)
        if ctx.cancel.requested:
            return JobResult.canceled(f"canceled: {ctx.cancel.reason}")
        if outcome.exit_code is None:
            return JobResult.failed(f"the command {outcome.why}", 1, Reason.TIMEOUT)
        if not outcome.ok:
            return JobResult.failed(f"the command {outcome.why}", outcome.exit_code)
        return JobResult.ok(f"the command exited 0 in {live['ref']} ({live['sha'][:12]})")

    def _release(self, client, spec: JobSpec, ctx: RunContext, log: Log, image: str) -> JobResult | None:
        """The release command (release_command, or the Procfile's release: line at this commit) once, in the
        new image, before its container starts; None when it passed or there is none."""
        argv = list(spec.target.get("release_command") or [])
        procfile = ctx.worktree / "Procfile" if ctx.worktree else None
        if not argv and procfile is not None and procfile.is_file():
            argv = convert.procfile_release(procfile.read_text(errors="replace"))
        if not argv:
            return None
        log(f"release command: {' '.join(argv)}")
        kwargs = _resolved(convert.oneoff_kwargs(spec, image, ctx.scratch.get("env", {}), argv, "release"), ctx)
        outcome = docker_oneoff.run(client, kwargs, "[release] ", log, float(spec.target.get("release_timeout", 600)),
                                    ctx.cancel)
        if ctx.cancel.requested:
            return JobResult.canceled(f"canceled during the release command: {ctx.cancel.reason}")
        if not outcome.ok:
            return JobResult.failed(f"release command {outcome.why}; the new version was not started, the previous "
                                    "version keeps serving", outcome.exit_code or 1, Reason.RELEASE_FAILED)
        ctx.phases.mark("released")
        log("release command passed")
        return None

    def _seed(self, client, spec: JobSpec, ctx: RunContext, log: Log, image: str) -> JobResult | None:
        """Run the rule's seed command once, in the preview's image beside its new, empty database."""
        argv = list(spec.target["preview"]["seed"])
        log(f"seeding the preview's database: {' '.join(argv)}")
        kwargs = _resolved(convert.run_kwargs(spec, image, ctx.scratch.get("env", {})), ctx, ctx.scratch.get("env"))
        container = client.containers.run(image, argv, detach=True, environment=kwargs["environment"],
                                          network=kwargs["network"], labels=kwargs["labels"],
                                          name=f"tahobuddy-{spec.app}-{spec.job_id}-seed",
                                          **convert.preview_limits(spec.target.get("preview")))
        try:
            code = container.wait(timeout=max(1.0, ctx.timeout))["StatusCode"]
            for line in container.logs().decode(errors="replace").splitlines()[-50:]:
                log(f"[seed] {line}")
        finally:
            container.remove(force=True)
        if code != 0:
            return JobResult.failed(f"the seed command exited {code}; the preview is not served", code)
        ctx.phases.mark("seeded")
        return None

    def _wait_healthy(self, container, upstream: str, target: dict, ctx: RunContext) -> tuple[bool, str]:
        deadline = time.monotonic() + float(target.get("health_timeout", 60))
        why, pauses = "no answer", health_pauses()
        while time.monotonic() < deadline and not ctx.cancel.requested:
            container.reload()
            if container.status not in ("created", "running"):
                return False, f"container exited ({container.status})"
            why = watch.probe(upstream, target)
            if not why:
                return True, ""
            ctx.cancel.wait(next(pauses))
        return False, f"{why} within {target.get('health_timeout', 60)}s"

    def _retire(self, client, entry: dict, drain: float, log: Log) -> None:
        time.sleep(drain)  # requests already on the old upstream finish
        try:
            old = client.containers.get(entry["container"])
            old.stop(timeout=10)
            old.remove()
            log(f"stopped the previous container {old.name}")
        except NotFound:
            pass

    def _prune(self, client, spec: JobSpec, history: History, keep: int, log: Log) -> None:
        """Old images of the app, or of one preview; the app's pruning never touches a preview's."""
        wanted = []
        for e in reversed(history.entries()):
            if e["image"] not in wanted:
                wanted.append(e["image"])
        # a preview's own images only (its installation's); the app's by app, never another installation's
        mine = convert.preview_filter(spec.app, spec.preview, spec.installation if spec.preview else "")
        for image in client.images.list(filters={"label": mine}):
            if not convert.prunable(image.labels, spec.preview, spec.installation):
                continue
            if image.id not in wanted[:max(1, keep)]:
                try:
                    client.images.remove(image.id, force=True)
                    log(f"removed old image {image.id[:19]}")
                except APIError:
                    pass  # still used by a container

    def cleanup(self, spec: JobSpec, ctx: RunContext) -> None:
        """Remove a container that never went live; safe after a failed prepare and twice."""
        client, new = ctx.scratch.get("client"), ctx.scratch.pop("new_container", None)
        if client is None or new is None:
            return
        try:
            client.containers.get(new).remove(force=True)
        except NotFound:
            pass
        except Exception as exc:  # the engine is away: the job's reason names the container to remove
            if not convert.engine_lost_error(exc):
                raise
