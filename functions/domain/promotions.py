"""What a promotion says wherever it leaves (the job's log and reason, the commit status, the GitHub
Deployment): the one sentence, from the rule it came from, the job that built it and its digest."""
from __future__ import annotations


def origin(from_rule: str, job_id: str, reference: str) -> str:
    """`promoted from staging (job 1733..., sha256:...)`: the digest without its registry, so the sentence fits a
    commit status (140 characters) and names the image wherever it was copied to."""
    digest = reference.split("@", 1)[-1]
    return f"promoted from {from_rule} (job {job_id}, {digest})"
