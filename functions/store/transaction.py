"""Conditional updates of items in several tables as one DynamoDB transaction: all are written, or none."""
from __future__ import annotations

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from functions.store import conditions
from functions.store.models import JobModel


class Failed(Exception):
    """The transaction was cancelled because a condition of one of its items did not hold."""


def write(updates: list) -> None:
    """`updates`: (item, actions, condition) each; raises Failed when a condition does not hold."""
    try:
        with TransactWrite(connection=Connection(region=JobModel.Meta.region, host=JobModel.Meta.host)) as tx:
            for item, actions, condition in updates:
                tx.update(item, actions=actions, condition=condition)
    except TransactWriteError as exc:
        if not conditions.failed(exc):  # a throttle or a conflict with another transaction: raised on
            raise
        raise Failed(str(exc)) from exc
