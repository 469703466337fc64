"""Raw webhook bodies kept whole: gzip inline when it fits a DynamoDB item, else S3."""
from __future__ import annotations

import functools
import gzip

import boto3

from functions.config import boto_kwargs, settings

INLINE_LIMIT = 300 * 1024  # DynamoDB items stop at 400 KB, attributes included


@functools.lru_cache(maxsize=1)
def _s3():
    return boto3.client("s3", **boto_kwargs())


def store(event_id: str, body: bytes) -> dict:
    """Attributes for EventModel holding `body`: payload_gz, or payload_s3_key."""
    packed = gzip.compress(body, compresslevel=6)
    if len(packed) <= INLINE_LIMIT:
        return {"payload_gz": packed, "payload_size": len(body)}
    key = f"events/{event_id}.json.gz"
    _s3().put_object(Bucket=settings().payload_bucket, Key=key, Body=packed, ContentEncoding="gzip")
    return {"payload_s3_key": key, "payload_size": len(body)}


def load(row) -> bytes:
    if row.payload_gz:
        return gzip.decompress(row.payload_gz)
    if row.payload_s3_key:
        obj = _s3().get_object(Bucket=settings().payload_bucket, Key=row.payload_s3_key)
        return gzip.decompress(obj["Body"].read())
    return b""
