"""Delete expired items ourselves, a bounded number per sweep, where nothing else will.

On AWS, DynamoDB's TTL deletes items past `expires_at` for free (within about two days), so this
stays off there. The embedded stack's emulator (moto) never deletes them: with
TAHOBUDDY_DELETE_EXPIRED (default on with TAHOBUDDY_AWS_ENDPOINT) the sweeper calls `sweep()`
every minute. Each call reads at most `page` items per table, resuming where the last call left
off, so a sweep costs the same on a table of a million rows; each delete is conditional on the
item still being expired (a dedup key taken again meanwhile stays), and a job only goes when it
has ended: a queued or running job never carries `expires_at` (store/jobs.py), this is the second
lock on that door.
"""
from __future__ import annotations

import functools

import boto3
from botocore.exceptions import ClientError

from contract.states import JobState

from functions.clock import now
from functions.config import boto_kwargs
from functions.store import conditions
from functions.store.models import EXPIRING, JobModel
from functions.retention import ATTRIBUTE

PAGE = 200                      # items read per table per sweep
_CURSOR: dict[str, dict] = {}   # table -> where the next sweep resumes (a restart starts over: harmless)


@functools.lru_cache(maxsize=1)
def _dynamodb():
    return boto3.client("dynamodb", **boto_kwargs())


def _keys(model) -> list[str]:
    return [k for k in (model._hash_keyname, model._range_keyname) if k]


def _condition(model) -> tuple[str, dict, dict]:
    names, values = {"#e": ATTRIBUTE}, {":now": {"N": str(int(now()))}}
    expression = "#e <= :now"
    if model is JobModel:
        names["#s"] = "state"
        values.update({":queued": {"S": JobState.QUEUED.value}, ":running": {"S": JobState.RUNNING.value}})
        expression += " AND NOT #s IN (:queued, :running)"
    return expression, names, values


def sweep_table(model, page: int = PAGE) -> int:
    """Delete the expired items among the next `page` items of `model`'s table; returns how many went."""
    table, client = model.Meta.table_name, _dynamodb()
    expression, names, values = _condition(model)
    keys = _keys(model)
    names.update({f"#k{i}": k for i, k in enumerate(keys)})
    scan = {"TableName": table, "Limit": page, "FilterExpression": expression, "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values, "ProjectionExpression": ", ".join(f"#k{i}" for i in range(len(keys)))}
    if table in _CURSOR:
        scan["ExclusiveStartKey"] = _CURSOR[table]
    answer = client.scan(**scan)
    if answer.get("LastEvaluatedKey"):
        _CURSOR[table] = answer["LastEvaluatedKey"]
    else:
        _CURSOR.pop(table, None)  # the end of the table: the next sweep starts again from the top
    deleted = 0
    for item in answer.get("Items", []):
        try:
            client.delete_item(TableName=table, Key={k: item[k] for k in keys}, ConditionExpression=expression,
                               ExpressionAttributeNames={n: v for n, v in names.items() if not n.startswith("#k")},
                               ExpressionAttributeValues=values)
            deleted += 1
        except ClientError as exc:
            if not conditions.failed(exc):
                raise
            # written again since the scan (a dedup key taken anew): no longer expired
    return deleted


def sweep(page: int = PAGE) -> dict[str, int]:
    """One bounded pass over every table with a TTL: table name -> items deleted."""
    return {model.Meta.table_name: sweep_table(model, page) for model in EXPIRING}
