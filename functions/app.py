"""Tahobuddy's serverless side: one Chalice app. Its routes are blueprints in `functions/api/`
(thin: each authenticates, calls one module of the boxes behind it, and returns its dict); the
scheduled sweep and the outbox stream handler are here because they are the app's own events.

    functions/api/       routes (http.py: auth, errors -> HTTP, request helpers), the OpenAPI document
    functions/providers/ GitHub, GitLab, Gitea/Forgejo: verify, read, report
    functions/domain/    apps, rules, targets, fields, refs, patterns, previews: pure checks and choices
    functions/store/     DynamoDB models and what reads and writes them
    functions/dispatch/  intake, enqueue, queues, agents' claims, manual deploys, the sweeper
    functions/notify/    the outbox: GitHub statuses and deployments, notifications
    functions/dashboard/ the web pages
"""
from __future__ import annotations

import os

from chalice import Chalice, Rate

from functions.api import admin, agent, apps, dashboard, docs, hooks, http, jobs
from functions.dispatch import sweeper
from functions.notify import github_webhooks, sender

app = Chalice(app_name="tahobuddy")
http.bind(app)
for routes in (docs, hooks, apps, jobs, admin, agent, dashboard):
    app.register_blueprint(routes.bp)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep_every_minute(event):
    """On AWS: dead letters end their jobs, lost messages are re-sent (functions/dispatch/sweeper.py),
    GitHub reports that failed are retried once their backoff passed, and (opt-in) failed webhook
    deliveries are redelivered (functions/notify)."""
    return {**sweeper.sweep(), "outbox": sender.drain(), "webhooks": github_webhooks.sweep()}


# the stack's template (infra/template.py) points this at the outbox table's stream
OUTBOX_STREAM = os.environ.get("TAHOBUDDY_OUTBOX_STREAM_ARN",
                               "arn:aws:dynamodb:us-east-1:123456789012:table/tahobuddy-prod-outbox/stream/latest")


@app.on_dynamodb_record(stream_arn=OUTBOX_STREAM, batch_size=50, starting_position="TRIM_HORIZON")
def deliver_outbox(event):
    """On AWS: a new outbox item is sent at once (retries: the sweep above)."""
    return sender.on_stream(list(event))
