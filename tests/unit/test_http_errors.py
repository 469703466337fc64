"""AWS that is busy (a throttle) or away is a 503 to retry, never a 500 and never a lost race."""
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pynamodb.exceptions import UpdateError

from functions.api.http import _unreachable

pytestmark = pytest.mark.unit


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "UpdateItem")


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_a_throttle_wrapped_by_pynamodb_is_a_503(code):
    err = UpdateError("Failed to update item", cause=_client_error(code))
    assert _unreachable(err)


def test_an_endpoint_that_cannot_be_reached_is_a_503():
    try:
        try:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        except EndpointConnectionError as inner:
            raise UpdateError("Failed to update item") from inner
    except UpdateError as err:
        assert _unreachable(err)


@pytest.mark.parametrize("code", ["ConditionalCheckFailedException", "ValidationException", "ResourceNotFoundException"])
def test_a_failed_condition_or_a_bad_request_is_not_unavailability(code):
    assert not _unreachable(UpdateError("Failed to update item", cause=_client_error(code)))
