"""Every DynamoDB transaction goes through one connection (functions/store/models.py): a connection of
its own per transaction built a botocore session and client each time, about 0.2 s of CPU per webhook
delivery and per job state change (measured by the webhook examples test: 726 deliveries took 111 s)."""
import pytest

from functions.store.models import transaction

pytestmark = pytest.mark.unit


def test_transactions_share_one_connection_and_its_client():
    first, second = transaction(), transaction()
    assert first._connection is second._connection
    assert first._connection.client is second._connection.client
