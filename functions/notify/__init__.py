"""Results go back to where developers look: job state changes become commit statuses on GitHub,
GitLab, Gitea and Forgejo (one state table, functions/domain/statuses.py; each request shaped by
its provider), GitHub deployment statuses, a pull request's preview as one comment on it
(github_previews.py), and the apps' notifications (channels.py).

    jobs._update / dispatch (one transaction each) -> store/outbox.stage -> OutboxModel (a lane per commit, per preview)
    DynamoDB Stream -> app.deliver_outbox, the sweeper, `make run`'s tick -> sender.deliver -> the forge, the channels

Nothing here can slow a deploy: the outbox item is written with the state change, and sending
happens elsewhere, later, with retries.
"""
