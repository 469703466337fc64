"""Keep the embedded emulator's state across restarts of `make run`.

moto keeps nothing on disk, so the stack snapshots what Tahobuddy owns (every
table item and every stored payload) to .tahobuddy/state.json.gz, atomically,
and loads it back into a fresh emulator. Queue messages are not copied: jobs
are the source of truth, and `requeue` sends a message for each unfinished job.
"""
from __future__ import annotations

import base64
import gzip
import json
import os
from pathlib import Path

import boto3

from functions.dispatch import queue
from functions.config import boto_kwargs, settings
from functions.store.models import ALL_MODELS, JobModel


def _tables() -> list[str]:
    return [m.Meta.table_name for m in ALL_MODELS]


def save(path: Path) -> dict:
    ddb, s3 = boto3.client("dynamodb", **boto_kwargs()), boto3.client("s3", **boto_kwargs())
    state: dict = {"tables": {}, "objects": {}}
    for table in _tables():
        items = []
        for page in ddb.get_paginator("scan").paginate(TableName=table):
            items.extend(page["Items"])
        state["tables"][table] = items
    bucket = settings().payload_bucket
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            state["objects"][obj["Key"]] = base64.b64encode(body).decode()
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt") as fh:
        json.dump(state, fh, default=_bytes)
    os.replace(tmp, path)
    return {t: len(v) for t, v in state["tables"].items()}


def _bytes(value):
    if isinstance(value, (bytes, bytearray)):
        return {"__b64__": base64.b64encode(value).decode()}
    raise TypeError(type(value))


def _unbytes(node):
    if isinstance(node, dict):
        if set(node) == {"__b64__"}:
            return base64.b64decode(node["__b64__"])
        return {k: _unbytes(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_unbytes(v) for v in node]
    return node


def load(path: Path) -> dict:
    if not path.is_file():
        return {}
    with gzip.open(path, "rt") as fh:
        state = _unbytes(json.load(fh))
    ddb, s3 = boto3.client("dynamodb", **boto_kwargs()), boto3.client("s3", **boto_kwargs())
    for table, items in state["tables"].items():
        for start in range(0, len(items), 25):
            ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}} for i in items[start:start + 25]]})
    for key, body in state["objects"].items():
        s3.put_object(Bucket=settings().payload_bucket, Key=key, Body=base64.b64decode(body))
    return {t: len(v) for t, v in state["tables"].items()}


def requeue() -> int:
    """Send a message for every queued or running job (a fresh emulator has no messages)."""
    count = 0
    for state in ("queued", "running"):
        for job in JobModel.scan(JobModel.state == state):
            queue.send(job.id, job.group, job.target["type"], job.pool)
            count += 1
    return count
