"""Results go back to where developers look: job state changes become GitHub commit statuses and
deployment statuses, and a pull request's preview as one comment on it (github_previews.py).

    jobs._update / dispatch (one call) -> store/outbox.record -> OutboxModel (a lane per commit, per preview)
    DynamoDB Stream -> app.deliver_outbox, the sweeper, `make run`'s tick -> sender.deliver -> github

Nothing here can fail or slow a deploy: recording swallows its own errors, and sending happens
elsewhere, later, with retries.
"""
