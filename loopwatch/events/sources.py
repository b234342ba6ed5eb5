"""Reading inputs (DESIGN §3): files, folders, stdin and ``s3://`` prefixes → decoded objects.

    plan(["logs/", "-", "s3://trail/AWSLogs/"])      resolve every name up front
        │                                           (SourceUnavailable if one cannot be opened)
        ▼
    SourcePlan.chunks() ─► Chunk(file 1) ─► Chunk(file 2) ─► …   objects in file order

A chunk is one readable unit: a file, stdin or one S3 object, decoded by the one decoder
(``loopwatch.events.decode``). Damage inside a unit (bad gzip, non-JSON, a log file without
``Records``, lines that are not JSON, more bytes than the bound) is reported in the chunk as
a SourceError, never raised, so that the other units go on; so is anything in a folder that is
not a regular file. Files are read whole, up to the bound: CloudTrail delivers them in small
pieces, and one ``orjson.loads`` of a whole document is the cheapest decode there is.

``plan(…, selective=True)`` decodes records selectively (thin records, see
``loopwatch.events.decode``), for the intake; without it every object is its full JSON value
(``loopwatch ship`` sends them on). ``SourcePlan.tasks()`` gives each unit as a picklable
``Task`` that another process can read: files are read there, stdin and S3 objects here.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple, cast

from loopwatch.events.decode import MAX_DECODED_BYTES, Shape, decode
from loopwatch.events.timerange import TimeRange

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")
# CloudTrail writes signed digests beside the logs (AWSLogs/<acct>/CloudTrail-Digest/…):
# JSON without Records, present in every real trail bucket, and not logs.
_DIGEST = "CloudTrail-Digest"


@dataclass(frozen=True, slots=True)
class SourceError:
    """A problem inside a readable source: which file (or S3 URL) and what went wrong."""

    source: str
    reason: str


class SourceUnavailable(Exception):
    """A source named on the command line does not exist or cannot be opened at all."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """One readable unit, decoded.

    ``objects`` are its JSON values in file order (a log file's ``Records``, or one per
    JSON line); ``malformed`` counts entries that could not be decoded (non-JSON lines);
    ``errors`` holds one SourceError per problem (one per bad file, one summarising all
    bad lines of a file); ``size`` is the unit's stored (compressed) size in bytes.
    """

    source: str
    objects: list[object]
    malformed: int
    errors: tuple[SourceError, ...]
    size: int


# Units and tasks are NamedTuples, not dataclasses: they cross to worker processes by the
# thousand, and a tuple pickles and unpickles several times faster than a frozen dataclass.
class _Unit(NamedTuple):
    name: str  # what reports call it: the path, "-", or s3://bucket/key
    size: int
    path: str | None = None  # a local file (a string: cheaper to make and to pickle)
    bucket: str = ""
    key: str = ""
    failure: str = ""  # found unreadable while planning (a folder that cannot be listed)


class Task(NamedTuple):
    """One unit to read and decode, picklable: a worker process reads a file itself; the
    bytes of stdin and of an S3 object come with the task (read by the planning process)."""

    unit: _Unit
    limit: int
    selective: bool
    data: bytes | None = None
    failure: str = ""  # the bytes could not be read where the task was made

    def read(self) -> Chunk:
        """The unit's Chunk; never raises for damaged or vanished units."""
        unit = self.unit
        if unit.failure:
            return Chunk(unit.name, [], 0, (SourceError(unit.name, unit.failure),), 0)
        if self.failure:
            return self._unreadable(self.failure)
        data = self.data
        if data is None:
            assert unit.path is not None  # a task without data is a file's
            try:
                # One byte past the bound, so decode() can tell "too large" from "at it".
                # open(), not Path.open: a Path costs more than reading a small log file.
                with open(unit.path, "rb") as file:  # noqa: PTH123
                    data = _read_upto(file, self.limit + 1)
            except Exception as exc:  # a unit that vanished or cannot be read is reported
                return self._unreadable(reason_of(exc))
        return decode_unit(unit.name, data, self.limit, selective=self.selective)

    def _unreadable(self, why: str) -> Chunk:
        unit = self.unit
        return Chunk(unit.name, [], 0, (SourceError(unit.name, why),), unit.size)


def _read_upto(file: IO[bytes], most: int) -> bytes:
    """At most ``most`` bytes of ``file``, in a buffer the size of the file: ``read(most)``
    would allocate ``most`` bytes (the 256 MB bound) for every small log file."""
    size = os.fstat(file.fileno()).st_size
    data = file.read(min(size + 1, most))  # one past the size: a file that grew is read on
    if size < len(data) < most:
        data += file.read(most - len(data))
    return data


class SourcePlan:
    """Every unit of every named source, resolved; read them with ``chunks()``."""

    def __init__(
        self,
        units: list[_Unit],
        stdin: IO[bytes] | None,
        s3: S3Client | None,
        limit: int = MAX_DECODED_BYTES,
        outside_range: int = 0,
        selective: bool = False,
    ) -> None:
        self._units = units
        self.limit = limit
        """Bytes one unit may take, stored and decompressed alike."""
        self.selective = selective
        self._stdin = stdin
        self._s3 = s3
        self.total_bytes: int = sum(u.size for u in units)
        """Stored bytes of all files and S3 objects (stdin's size is not known up front)."""
        self.outside_range = outside_range
        """Log files left unread because their names lie outside the time range."""

    def __len__(self) -> int:
        return len(self._units)

    def chunks(self, skip: Container[str] = ()) -> Iterator[Chunk]:
        """One Chunk per unit, in plan order, but for the units named in ``skip`` (read
        already, when following); never raises for damaged or vanished units."""
        for task in self.tasks(skip):
            yield task.read()

    def tasks(self, skip: Container[str] = ()) -> Iterator[Task]:
        """One Task per unit, in plan order (but for those named in ``skip``), each read by
        ``Task.read()`` here or elsewhere. The bytes of stdin and S3 objects are read here,
        as the tasks are drawn."""
        for unit in self._units:
            if unit.name != "-" and unit.name in skip:
                continue
            task = Task(unit, self.limit, self.selective)
            if unit.path is None and not unit.failure:
                try:
                    task = Task(unit, self.limit, self.selective, data=self._bytes(unit))
                except Exception as exc:  # said by the task's Chunk, in plan order
                    task = Task(unit, self.limit, self.selective, failure=reason_of(exc))
            yield task

    def _bytes(self, unit: _Unit) -> bytes:
        # One byte past the bound is read, so that decode() can tell "too large" from "at it".
        if unit.bucket:
            assert self._s3 is not None  # planned with a client whenever an s3:// unit exists
            return _s3_bytes(self._s3, unit.bucket, unit.key, self.limit)
        stream = self._stdin if self._stdin is not None else sys.stdin.buffer
        return stream.read(self.limit + 1)


def decode_unit(
    name: str, data: bytes, limit: int = MAX_DECODED_BYTES, *, selective: bool = False
) -> Chunk:
    """Decode one unit's bytes as its name says (``.json`` a log file, ``.jsonl`` JSON Lines,
    anything else sniffed) into a Chunk whose errors name the unit."""
    stem = name.removesuffix(".gz")
    shape: Shape = (
        "lines" if stem.endswith(".jsonl") else "document" if stem.endswith(".json") else "any"
    )
    decoded = decode(data, shape, limit=limit, selective=selective)
    errors = tuple(SourceError(name, reason) for reason in decoded.problems)
    return Chunk(name, decoded.objects, decoded.malformed, errors, len(data))


def read_s3_object(
    client: object, bucket: str, key: str, size: int = 0, limit: int = MAX_DECODED_BYTES
) -> Chunk:
    """One S3 object as a Chunk, read and decoded exactly as a planned ``s3://`` unit is
    (``ship --sqs`` and ``ship --follow`` fetch objects one by one). Never raises: an object
    that cannot be read is a Chunk with no objects and the reason in ``errors``."""
    name = f"s3://{bucket}/{key}"
    try:
        data = _s3_bytes(cast("S3Client", client), bucket, key, limit)
    except Exception as exc:  # NoSuchKey, AccessDenied, a dropped connection…
        return Chunk(name, [], 0, (SourceError(name, reason_of(exc)),), size)
    return decode_unit(name, data, limit)


def is_log_key(key: str) -> bool:
    """Whether an S3 key (or a path) names a log file loopwatch reads: ``.json``,
    ``.json.gz``, ``.jsonl`` or ``.jsonl.gz``, and no CloudTrail digest."""
    return key.endswith(SUFFIXES) and _DIGEST not in key


def plan(
    names: Sequence[str],
    *,
    s3_client: object | None = None,
    stdin: IO[bytes] | None = None,
    limit: int = MAX_DECODED_BYTES,
    time_range: TimeRange | None = None,
    selective: bool = False,
) -> SourcePlan:
    """Resolve every named source into the units ``chunks()`` will read.

    A name is a file (read whatever its name), a folder (walked recursively in sorted
    order for ``.json``, ``.json.gz``, ``.jsonl`` and ``.jsonl.gz`` files, CloudTrail
    digests skipped), ``-`` (``stdin``, by default the process's), or
    ``s3://bucket/prefix`` (listed now with ``s3_client``, by default a
    ``boto3.client("s3")`` made only if such a name is present). A unit reached twice
    is read once. With ``time_range``, log files whose CloudTrail names lie more than an hour
    outside it are left out (counted in ``outside_range``); a file named on its own is read.
    ``selective``: records decoded selectively, for the intake (see the module doc).

    Raises SourceUnavailable for a name that does not exist or cannot be opened at all:
    a missing or unreadable path, an unlistable folder, a missing or forbidden bucket.
    """
    units: list[_Unit] = []
    client: S3Client | None = None
    for name in names:
        if name == "-":
            units.append(_Unit("-", 0))
        elif name.startswith("s3://"):
            if client is None:
                client = cast("S3Client", s3_client) if s3_client is not None else _s3_client()
            units.extend(_s3_units(client, name))
        else:
            units.extend(_path_units(name))
    outside = 0
    if time_range is not None:
        named = set(names)
        kept = [u for u in units if u.name in named or time_range.may_hold(u.name)]
        outside, units = len(units) - len(kept), kept
    return SourcePlan(_once(units), stdin, client, limit, outside, selective)


def _once(units: list[_Unit]) -> list[_Unit]:
    """Drop units already planned (a file inside a folder also named on its own)."""
    seen: set[str] = set()
    unique: list[_Unit] = []
    for unit in units:
        if unit.name != "-" and unit.name in seen:
            continue
        seen.add(unit.name)
        unique.append(unit)
    return unique


# --- local files -------------------------------------------------------------------


def _path_units(name: str) -> list[_Unit]:
    path = Path(name)
    try:
        if path.is_dir():
            with os.scandir(path):  # an unlistable folder cannot be opened at all
                pass
            return list(_walk(path))
        with path.open("rb"):
            pass
        return [_Unit(name, path.stat().st_size, path=name)]
    except OSError as exc:
        raise SourceUnavailable(f"{name}: {reason_of(exc)}") from exc


def _walk(top: Path) -> Iterator[_Unit]:
    failures: list[OSError] = []
    for folder, dirs, files in os.walk(top, onerror=failures.append):
        # Unlistable subfolders are reported in walk order, where they would have been read.
        while failures:
            failed = failures.pop(0)
            yield _Unit(str(failed.filename or folder), 0, failure=reason_of(failed))
        dirs[:] = sorted(d for d in dirs if d != _DIGEST)
        for file in sorted(files):
            if not file.endswith(SUFFIXES) or _DIGEST in file:
                continue
            # os.path, not pathlib: thousands of files, and str(Path(folder, file)) is the same.
            path = os.path.join(folder, file)  # noqa: PTH118
            try:
                info = os.stat(path)  # noqa: PTH116
            except OSError as exc:
                yield _Unit(path, 0, failure=reason_of(exc))
                continue
            if not stat.S_ISREG(info.st_mode):
                # A FIFO would block the read forever, a device would never end: log files
                # are regular files, so anything else in a log folder is named and skipped.
                yield _Unit(path, 0, failure=f"skipped: not a regular file ({_kind(info)})")
                continue
            yield _Unit(path, info.st_size, path=path)
    for failed in failures:
        yield _Unit(str(failed.filename or top), 0, failure=reason_of(failed))


# --- S3 ----------------------------------------------------------------------------


def _s3_client() -> S3Client:
    import boto3  # only when an s3:// source is named; boto3 honours AWS_ENDPOINT_URL

    return boto3.client("s3")


def _s3_units(client: S3Client, url: str) -> list[_Unit]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise SourceUnavailable(f"{url}: no bucket in the URL")
    units: list[_Unit] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item.get("Key", "")
                if is_log_key(key):
                    name, size = f"s3://{bucket}/{key}", item.get("Size", 0)
                    units.append(_Unit(name, size, bucket=bucket, key=key))
    except Exception as exc:  # botocore ClientError, NoCredentialsError, EndpointConnectionError…
        raise SourceUnavailable(f"{url}: {reason_of(exc)}") from exc
    return units


def _s3_bytes(client: S3Client, bucket: str, key: str, limit: int) -> bytes:
    # One byte past the bound is read, so that decode() can tell "too large" from "at it".
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    return bytes(body.read(limit + 1))


def _kind(info: os.stat_result) -> str:
    mode = info.st_mode
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


def reason_of(exc: BaseException) -> str:
    """A short reason for a report: the OS error text, or the AWS error code and message."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        if code:
            return f"{code}: {message}" if message else str(code)
    return str(exc) or type(exc).__name__
