"""Results go back to where developers look: job state changes become GitHub commit statuses and
deployment statuses.

    jobs._update / dispatch (one call) -> outbox.record -> OutboxModel (a lane per commit)
    DynamoDB Stream -> app.deliver_outbox, the sweeper, `make run`'s tick -> sender.deliver -> github

Nothing here can fail or slow a deploy: recording swallows its own errors, and sending happens
elsewhere, later, with retries.
"""
