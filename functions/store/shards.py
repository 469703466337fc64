"""Write sharding for the time indexes (DynamoDB's "write sharding" pattern).

A GSI whose hash key is one constant ("job") puts every write of the system on one partition.
Items spread over SHARDS hash keys (`job#00` .. `job#15`, picked from the item id), and a
listing queries every shard newest first, merging the lazy result pages, so it reads only
what the limit needs and stays correct across shards. The bare key of older items (`job`)
is read too, so items written before sharding still list.
"""
from __future__ import annotations

import heapq
import itertools
import zlib

SHARDS = 16


def key(prefix: str, item_id: str) -> str:
    return f"{prefix}#{zlib.crc32(item_id.encode()) % SHARDS:02d}"


def keys(prefix: str) -> list[str]:
    return [prefix] + [f"{prefix}#{i:02d}" for i in range(SHARDS)]


def newest(index, prefix: str, order_by: str, limit: int, keep=lambda row: True) -> list:
    """Up to `limit` rows of every shard of `prefix`, newest first by the index's range key
    `order_by`, those `keep` accepts."""
    streams = [index.query(k, scan_index_forward=False, page_size=min(max(limit, 10), 100)) for k in keys(prefix)]
    merged = heapq.merge(*streams, key=lambda row: getattr(row, order_by), reverse=True)
    return list(itertools.islice((row for row in merged if keep(row)), limit))
