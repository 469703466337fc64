"""One way to say "the condition failed" (STYLE §22): DynamoDB refused a conditional write because
its condition was false (another writer got there first, or the item is not in the state the write
starts from). Anything else (a throttle, a timeout, a missing table, a validation error) is not a
lost race and is raised on: callers write

    except UpdateError as exc:
        if not conditions.failed(exc):
            raise
        ...  # the race was lost: say so

A PynamoDB write error (PutError, UpdateError, DeleteError, TransactWriteError) keeps botocore's
ClientError as its cause; a raw client call raises the ClientError itself. A transaction that was
canceled counts only when every reason is a failed condition (or none, for the items that were fine);
PynamoDB keeps them on the TransactWriteError (`cancellation_reasons`), not in the cause's response.
"""
from __future__ import annotations

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"
CANCEL_REASONS = {"ConditionalCheckFailed", "None"}


def failed(exc: BaseException) -> bool:
    """True only when DynamoDB refused the write because its condition did not hold."""
    response = getattr(getattr(exc, "cause", None) or exc, "response", None) or {}
    code = (response.get("Error") or {}).get("Code")
    if code == CONDITION_FAILED:
        return True
    if code != TRANSACTION_CANCELED:
        return False
    parsed = getattr(exc, "cancellation_reasons", None)  # PynamoDB's TransactWriteError parses them
    reasons = ([(r.code if r is not None else None) or "None" for r in parsed] if parsed else
               [(r or {}).get("Code") or "None" for r in response.get("CancellationReasons") or []])
    return "ConditionalCheckFailed" in reasons and set(reasons) <= CANCEL_REASONS
