"""Where backups go: a directory on the agent's host (`dir:/PATH`) or S3 (`s3://BUCKET/PREFIX`).

Each backup is two objects: NAME (the dump, written from an iterator of chunks and read back as one, so
a dump is never held whole in memory) and NAME.json (its record: counts, sizes, seconds, verified or
why not). Records are the list `tahobuddy db backups` shows and what retention reads.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

CHUNK = 1024 * 1024


class StoreError(Exception):
    pass


class _Reader:
    """A file-like view of an iterator of chunks (boto3 reads a part at a time from it)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks, self._left, self.size = iter(chunks), b"", 0

    def read(self, n: int = -1) -> bytes:
        out = [self._left]
        have = len(self._left)
        while n < 0 or have < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            out.append(chunk)
            have += len(chunk)
        data = b"".join(out)
        data, self._left = (data, b"") if n < 0 else (data[:n], data[n:])
        self.size += len(data)
        return data


class DirStore:
    def __init__(self, path: str):
        self.root = Path(path)

    def put(self, name: str, chunks: Iterable[bytes]) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        part, size = self.root / f".{name}.part", 0
        with open(part, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        part.rename(self.root / name)
        return size

    def get(self, name: str) -> tuple[int, Iterator[bytes]]:
        path = self.root / name
        size = path.stat().st_size

        def chunks():
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    yield chunk
        return size, chunks()

    def put_record(self, name: str, record: dict) -> None:
        self.put(f"{name}.json", [json.dumps(record, indent=1).encode()])

    def records(self) -> list[dict]:
        if not self.root.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(self.root.glob("*.json"))]

    def delete(self, name: str) -> None:
        for path in (self.root / name, self.root / f"{name}.json"):
            path.unlink(missing_ok=True)


class S3Store:
    """Server-side encrypted (AES256) on AWS; multipart for large dumps, a part at a time."""

    def __init__(self, url: str, endpoint: str = "", region: str = "us-east-1"):
        import boto3
        from boto3.s3.transfer import TransferConfig
        bucket, _, prefix = url[len("s3://"):].partition("/")
        self.bucket, self.prefix = bucket, prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.s3 = boto3.client("s3", region_name=region, **({"endpoint_url": endpoint} if endpoint else {}))
        self.transfer = TransferConfig(multipart_chunksize=16 * CHUNK, max_concurrency=2)

    def put(self, name: str, chunks: Iterable[bytes]) -> int:
        reader = _Reader(chunks)
        self.s3.upload_fileobj(reader, self.bucket, self.prefix + name, Config=self.transfer,
                               ExtraArgs={"ServerSideEncryption": "AES256"})
        return reader.size

    def get(self, name: str) -> tuple[int, Iterator[bytes]]:
        obj = self.s3.get_object(Bucket=self.bucket, Key=self.prefix + name)
        return int(obj["ContentLength"]), obj["Body"].iter_chunks(CHUNK)

    def put_record(self, name: str, record: dict) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=f"{self.prefix}{name}.json", ServerSideEncryption="AES256",
                           Body=json.dumps(record, indent=1).encode(), ContentType="application/json")

    def records(self) -> list[dict]:
        out = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith(".json") and "/" not in key[len(self.prefix):]:
                    out.append(json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()))
        return sorted(out, key=lambda r: r["name"])

    def delete(self, name: str) -> None:
        for key in (name, f"{name}.json"):
            self.s3.delete_object(Bucket=self.bucket, Key=self.prefix + key)


def open_store(to: str, endpoint: str = "", region: str = "us-east-1"):
    if to.startswith("dir:"):
        return DirStore(to[len("dir:"):])
    if to.startswith("s3://"):
        return S3Store(to, endpoint, region)
    raise StoreError(f"backup destination {to!r}: use s3://BUCKET/PREFIX or dir:/PATH")
