"""One way to say "the condition failed" (functions/store/conditions.py): only DynamoDB's refusal of
a conditional write counts as a lost race; a throttle, a timeout or any other error never does.
The errors are built as PynamoDB and botocore build them from DynamoDB's answers."""
import ast
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError

from functions.store import conditions

pytestmark = pytest.mark.unit
FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def answer(code: str, operation: str = "UpdateItem", reasons: list | None = None) -> ClientError:
    response = {"Error": {"Code": code, "Message": "..."}, "ResponseMetadata": {"HTTPStatusCode": 400}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r, "Message": "..."} for r in reasons]
    return ClientError(response, operation)


@pytest.mark.parametrize("error", [PutError, UpdateError, DeleteError])
def test_a_failed_condition_is_a_lost_race(error):
    assert conditions.failed(error("Failed", cause=answer("ConditionalCheckFailedException")))


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException",
                                  "RequestLimitExceeded", "InternalServerError", "ResourceNotFoundException",
                                  "ValidationException", "TransactionConflictException"])
@pytest.mark.parametrize("error", [PutError, UpdateError, DeleteError])
def test_a_throttle_or_any_other_error_is_not(error, code):
    assert not conditions.failed(error("Failed", cause=answer(code)))


def test_an_error_without_an_answer_is_not():
    assert not conditions.failed(UpdateError("Failed"))                      # no cause at all
    assert not conditions.failed(UpdateError("Failed", cause=ConnectionError("reset")))
    assert not conditions.failed(ValueError("ConditionalCheckFailedException"))  # the words alone mean nothing


def test_a_raw_client_error_is_read_the_same_way():
    assert conditions.failed(answer("ConditionalCheckFailedException", "DeleteItem"))
    assert not conditions.failed(answer("ProvisionedThroughputExceededException", "DeleteItem"))


@pytest.mark.parametrize("reasons, lost", [
    (["None", "ConditionalCheckFailed"], True),
    (["ConditionalCheckFailed", "ConditionalCheckFailed"], True),
    (["ConditionalCheckFailed", "ThrottlingError"], False),   # a throttled item: try again, not a lost race
    (["None", "TransactionConflict"], False),
    (["None", "None"], False),
    ([], False),
])
def test_a_canceled_transaction_counts_only_when_its_conditions_failed(reasons, lost):
    exc = TransactWriteError("Failed", cause=answer("TransactionCanceledException", "TransactWriteItems", reasons))
    assert conditions.failed(exc) is lost


def test_pynamodbs_own_transaction_error_is_read_from_its_parsed_reasons():
    """PynamoDB rebuilds the answer as a VerboseClientError whose response drops CancellationReasons
    and keeps them parsed; that is the shape a real TransactWrite raises (seen against moto server)."""
    from pynamodb.exceptions import CancellationReason, VerboseClientError

    def raised(*codes):
        cause = VerboseClientError({"Error": {"Code": "TransactionCanceledException", "Message": "..."}},
                                   "TransactWriteItems", cancellation_reasons=[
                                       CancellationReason(c) if c else None for c in codes])
        return TransactWriteError("Failed to write transaction items", cause=cause)
    assert conditions.failed(raised("ConditionalCheckFailed", None))
    assert not conditions.failed(raised("ConditionalCheckFailed", "ThrottlingError"))


# ---- the one way: nothing else in functions/ reads DynamoDB's error codes ------------------------
WRITE_ERRORS = {"PutError", "UpdateError", "DeleteError", "TransactWriteError", "ClientError"}


def _sources():
    for path in sorted(FUNCTIONS.rglob("*.py")):
        name = str(path.relative_to(FUNCTIONS))
        if name != "store/conditions.py":
            yield name, path.read_text()


def test_no_module_reads_the_error_code_itself():
    bad = [name for name, text in _sources()
           if "ConditionalCheckFailed" in text or "cause_response_code" in text]
    assert not bad, f"{bad}: ask functions/store/conditions.failed(exc) whether the condition failed"


def test_every_handler_of_a_write_error_asks_the_helper():
    bad = []
    for name, text in _sources():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                caught = {n.id if isinstance(n, ast.Name) else getattr(n, "attr", "") for n in ast.walk(node.type)}
                asks = any(isinstance(c, ast.Call) and ast.unparse(c.func) == "conditions.failed"
                           for s in node.body for c in ast.walk(s))
                if caught & WRITE_ERRORS and not asks:
                    bad.append(f"{name}:{node.lineno}")
    assert not bad, f"{bad}: a write error may be a throttle; raise it unless conditions.failed(exc)"
