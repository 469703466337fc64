"""The embedded AWS emulator: moto's server, with DynamoDB's writes made atomic.

DynamoDB applies a conditional write (PutItem, UpdateItem, DeleteItem, TransactWriteItems) as one
step: the condition is checked and the item written with no other write in between. moto's server
answers each request on its own thread and checks the condition, then writes, with nothing held
in between, so two concurrent writes can both pass a condition only one of them should (eight pull
requests opened at once took three of two preview slots). Tahobuddy's correctness under concurrency
rests on DynamoDB's guarantee, so the emulator gives it: one lock around moto's DynamoDB writes.
Reads and every other service stay concurrent (SQS long polls wait on their own threads).

    python -m local.moto_server -H 127.0.0.1 -p 4566     (the same arguments as moto.server)
"""
from __future__ import annotations

import functools
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_LOCK = threading.RLock()


def atomic(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)
    return locked


def make_writes_atomic() -> None:
    for name in WRITES:
        method = getattr(DynamoDBBackend, name)
        if not getattr(method, "_tahobuddy_atomic", False):
            wrapped = atomic(method)
            wrapped._tahobuddy_atomic = True
            setattr(DynamoDBBackend, name, wrapped)


if __name__ == "__main__":
    make_writes_atomic()
    main()
