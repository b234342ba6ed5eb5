"""Where ``ship --follow s3://…`` has got to, kept in a file so that a restart resumes.

    s3://trail/AWSLogs/ ──walk folders──► streams: …/1111/CloudTrail/us-east-1/, …/eu-west-1/, …
        each stream ──ListObjectsV2(StartAfter = its position - 15 min of names)──► new keys
        shipped and acknowledged ──► position advanced, file saved (atomically)

    {"version": 1, "streams": {"s3://trail/AWSLogs/1111/CloudTrail/us-east-1/": {
        "after": "<last key listed>", "recent": ["<keys shipped in the last 15 min of names>"],
        "retry": {"<key that did not read>": "<why>"}}}}

S3 lists keys in name order, and CloudTrail names files by account, region and delivery time,
so *within one region folder* name order is delivery order: a position there is one key. Not
across folders: a new file of account 1111 sorts before everything of account 2222 already
shipped. So a prefix is split into its region folders ("streams"), each with its own position.
Files delivered in the same minute may land out of name order, so each listing starts
``LOOKBACK`` of name time before the position, and the keys shipped in that span are
remembered, not shipped again. A file that does not read (still being written, damaged,
refused) is retried on every poll, its error shown each time, until it reads.

Outside CloudTrail's layout a prefix is one stream, listed after its last key: a file that
lands with a name sorting before it is not seen. For a whole organisation, ``ship --sqs`` is
the way: S3 announces each file, nothing is listed at all.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from loopwatch.events.sources import SourceUnavailable, is_log_key, reason_of
from loopwatch.events.timerange import TimeRange, name_time

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

VERSION = 1
LOOKBACK = 900.0
"""Seconds of name time each listing looks back past the position."""
MAX_FOLDERS = 5000
"""Folders one walk may list before it gives up splitting the prefix into streams."""
MAX_DEPTH = 8
NOT_A_LOG = "not a log file"
OUTSIDE = "outside the time range"

_REGION_FOLDER = re.compile(r"(?:^|/)CloudTrail/[a-z]{2}(?:-[a-z]+)+-[0-9]+/")
# 2026/10/05/<acct>_CloudTrail_<region>_20261005T1405Z_<unique>.json.gz, below a region folder
_DATED_NAME = re.compile(
    r"[0-9]{4}/[0-9]{2}/[0-9]{2}/(?P<stem>[0-9]+_CloudTrail_[a-z0-9-]+_)[0-9]{8}T[0-9]{4}Z_"
)


@dataclass(frozen=True, slots=True)
class Due:
    """One object to read: where it is, and the stream whose position it moves."""

    stream: str
    bucket: str
    key: str
    size: int
    retry: bool = False
    skip: str = ""
    """Why the key is passed over rather than read ("" when it is read)."""

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(slots=True)
class _Stream:
    after: str = ""
    recent: set[str] = field(default_factory=set)
    retry: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"after": self.after, "recent": sorted(self.recent), "retry": self.retry}


class S3Position:
    """The position of every stream under some ``s3://`` prefixes, and the state file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._streams: dict[str, _Stream] = {}
        if path is not None and path.exists():
            self._streams = _load(path)

    def due(
        self, client: S3Client, urls: list[str], time_range: TimeRange | None = None
    ) -> Iterator[Due]:
        """The objects to read now: first those that did not read before, then every new
        key of every stream, in name order (with ``skip`` set for keys to pass over: not log
        files, or outside ``time_range`` by name). Nothing moves until the caller says what
        became of each (``shipped``, ``failed``, ``passed``), so a crash before then repeats
        the work rather than losing it. Raises SourceUnavailable for a prefix that cannot be
        listed at all."""
        for url in urls:
            bucket, prefix = _split(url)
            for stream_prefix in _streams(client, bucket, prefix, url):
                name = f"s3://{bucket}/{stream_prefix}"
                stream = self._streams.setdefault(name, _Stream())
                for key in sorted(stream.retry):
                    yield Due(name, bucket, key, 0, retry=True)
                start = _start_after(stream.after, stream_prefix)
                for key, size in _list(client, bucket, stream_prefix, start, url):
                    if key in stream.recent or key in stream.retry:
                        continue
                    skip = (
                        NOT_A_LOG
                        if not is_log_key(key)
                        else OUTSIDE
                        if time_range is not None and not time_range.may_hold(key)
                        else ""
                    )
                    yield Due(name, bucket, key, size, skip=skip)

    def shipped(self, due: Due) -> None:
        """``due`` was read and Kafka acknowledged its records."""
        stream = self._streams.setdefault(due.stream, _Stream())
        stream.retry.pop(due.key, None)
        if name_time(due.key) is not None:
            stream.recent.add(due.key)
        stream.after = max(stream.after, due.key)

    def passed(self, due: Due) -> None:
        """``due`` was passed over: the position moves past it."""
        stream = self._streams.setdefault(due.stream, _Stream())
        stream.after = max(stream.after, due.key)

    def failed(self, due: Due, reason: str) -> None:
        """``due`` did not read: it is tried again on every poll."""
        stream = self._streams.setdefault(due.stream, _Stream())
        stream.retry[due.key] = reason
        stream.after = max(stream.after, due.key)

    def save(self) -> None:
        """Write the state file (atomically: a crash leaves the old one or the new one)."""
        for stream in self._streams.values():
            _prune(stream)
        if self.path is None:
            return
        document = {
            "version": VERSION,
            "streams": {name: s.to_json() for name, s in sorted(self._streams.items())},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".ship-position-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(orjson.dumps(document, option=orjson.OPT_INDENT_2))
            Path(temporary).replace(self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _load(path: Path) -> dict[str, _Stream]:
    """The streams of a state file; ValueError naming the file when it is not one."""
    try:
        document = orjson.loads(path.read_bytes())
        if document.get("version") != VERSION:
            raise ValueError(f"version {document.get('version')!r}, not {VERSION}")
        streams: dict[str, _Stream] = {}
        for name, saved in document["streams"].items():
            streams[str(name)] = _Stream(
                str(saved["after"]),
                {str(k) for k in saved["recent"]},
                {str(k): str(v) for k, v in saved["retry"].items()},
            )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a loopwatch ship position file ({exc})") from exc
    return streams


def _prune(stream: _Stream) -> None:
    """Forget recent keys that the next listing cannot reach any more."""
    newest = name_time(stream.after)
    if newest is None:
        stream.recent.clear()
        return
    oldest = newest - LOOKBACK - 60  # the start key is cut to the minute
    stream.recent = {k for k in stream.recent if (name_time(k) or 0.0) >= oldest}


def _start_after(after: str, prefix: str) -> str:
    """The key to list after: ``after`` moved back LOOKBACK of name time where its name
    says its time (CloudTrail's layout), else ``after`` itself."""
    if not after.startswith(prefix):
        return after
    match = _DATED_NAME.match(after, len(prefix))
    named = name_time(after)
    if match is None or named is None:
        return after
    back = datetime.fromtimestamp(named - LOOKBACK, tz=UTC)
    return f"{prefix}{back:%Y/%m/%d}/{match['stem']}{back:%Y%m%dT%H%M}Z"


def _split(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise SourceUnavailable(f"{url}: no bucket in the URL")
    return bucket, prefix


def _streams(client: S3Client, bucket: str, prefix: str, url: str) -> list[str]:
    """The region folders under ``prefix`` (or inside which it lies); ``[prefix]`` when it
    is not CloudTrail's layout, or too large to walk."""
    if _REGION_FOLDER.search(prefix):
        return [prefix]
    found: list[str] = []
    todo = [prefix]
    listed = 0
    depth = prefix.count("/")
    while todo:
        folder = todo.pop()
        listed += 1
        if listed > MAX_FOLDERS:
            return [prefix]
        for sub in _folders(client, bucket, folder, url):
            last = sub.rstrip("/").rsplit("/", 1)[-1]
            if _REGION_FOLDER.search(sub):
                found.append(sub)
            elif last.startswith("CloudTrail-"):
                continue  # CloudTrail-Digest, CloudTrail-Insight: not the logs
            elif sub.count("/") - depth < MAX_DEPTH:
                todo.append(sub)
    return sorted(found) or [prefix]


def _folders(client: S3Client, bucket: str, prefix: str, url: str) -> list[str]:
    try:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, Delimiter="/"
        )
        return [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    except Exception as exc:
        raise SourceUnavailable(f"{url}: {reason_of(exc)}") from exc


def _list(
    client: S3Client, bucket: str, prefix: str, start_after: str, url: str
) -> Iterator[tuple[str, int]]:
    arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if start_after:
        arguments["StartAfter"] = start_after
    try:
        for page in client.get_paginator("list_objects_v2").paginate(**arguments):
            for item in page.get("Contents", []):
                yield item.get("Key", ""), item.get("Size", 0)
    except Exception as exc:
        raise SourceUnavailable(f"{url}: {reason_of(exc)}") from exc
