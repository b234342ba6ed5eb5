"""Proof that a loopwatch worker wrote a record read back from a topic (DESIGN §6).

    {"kind": "loop", …}  ──canonical bytes──► HMAC-SHA256(LOOPWATCH_STATE_SECRET)
    {"kind": "loop", …, "sig": "v1=<64 hex>"}  ◄──────────────────────┘

Findings and audit records on ``<prefix>.findings`` are read back: the actions agent acts on
findings, and a starting worker rebuilds its holds from audit records. Whoever can produce to
that topic could otherwise have a function of their choosing throttled, or a real loop left
alone as "already held" (and ``release`` restore a value they picked). So every worker signs
what it publishes there, and trusts a record only when ``check`` finds a valid signature.

The signature is a field of the record (``sig``), not a Kafka header, so it survives anything
that copies the JSON (a topic mirror, a dump and restore) and needs no broker support. It is
over the record without ``sig``, as orjson writes it with sorted keys, after a context line of
its own: the key order of the producer does not matter, and no other HMAC loopwatch makes (the
webhook signature is over ``"<t>." + body``) can be passed off as one of these.

These signatures are one of the few inputs loopwatch believes; docs/trust.md lists them all
(CloudTrail's files, EventBridge envelopes that are CloudTrail's: ``loopwatch.events.envelopes``,
the settings) and what is read only as data (message keys, anything else on the topics, every
field of a record).

This module sits at the top of the package because both ``actions`` (folding audit records
into holds) and ``service`` (signing and checking on the topic) use it, and ``actions`` may not
import ``service``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson
from pydantic import SecretStr

if TYPE_CHECKING:
    from loopwatch.settings import Settings

SIGNATURE_FIELD = "sig"
UNSIGNED = "unsigned"
BAD_SIGNATURE = "bad signature"
MIN_SECRET_LENGTH = 16
_VERSION = "v1="
_CONTEXT = b"loopwatch record v1\n"


@dataclass(frozen=True, slots=True)
class RecordKey:
    """The key every worker of one deployment shares (``LOOPWATCH_STATE_SECRET``)."""

    secret: bytes = field(repr=False)

    @classmethod
    def from_secret(cls, secret: SecretStr | str | None) -> RecordKey | None:
        """None when no secret is set (or it is empty). Raises ValueError for a secret shorter
        than MIN_SECRET_LENGTH characters: a guessable key would prove nothing."""
        text = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if not text:
            return None
        if len(text) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"LOOPWATCH_STATE_SECRET is {len(text)} characters; use at least"
                f" {MIN_SECRET_LENGTH} (e.g. `openssl rand -hex 32`)"
            )
        return cls(text.encode())


def key_from_settings(settings: Settings) -> RecordKey | None:
    """The deployment's record key, or None when none is configured (ValueError: too short)."""
    return RecordKey.from_secret(settings.state_secret)


def canonical(document: Mapping[str, object]) -> bytes:
    """The bytes a signature covers: ``document`` without ``sig``, keys sorted, compact."""
    body = {k: v for k, v in document.items() if k != SIGNATURE_FIELD}
    return _CONTEXT + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def signature(document: Mapping[str, object], key: RecordKey) -> str:
    """The ``sig`` value for ``document``: ``v1=`` and the hex HMAC-SHA256 of its canonical
    bytes."""
    return _VERSION + hmac.new(key.secret, canonical(document), hashlib.sha256).hexdigest()


def seal(document: Mapping[str, object], key: RecordKey | None) -> bytes:
    """The JSON to publish: ``document`` with its signature, or as it is when there is no key
    (a worker without a secret signs nothing, and nothing it reads back is trusted)."""
    if key is None:
        return orjson.dumps(document)
    return orjson.dumps({**document, SIGNATURE_FIELD: signature(document, key)})


def check(document: Mapping[str, object], key: RecordKey) -> str | None:
    """None when ``document`` carries a valid signature under ``key``; otherwise why not:
    UNSIGNED (no ``sig``) or BAD_SIGNATURE (another key, or a field changed since). Never
    raises."""
    given = document.get(SIGNATURE_FIELD)
    if given is None:
        return UNSIGNED
    if not isinstance(given, str):
        return BAD_SIGNATURE
    try:
        expected = signature(document, key)
    except (TypeError, orjson.JSONEncodeError):  # nothing orjson.loads returns, but say so
        return BAD_SIGNATURE
    return None if hmac.compare_digest(expected.encode(), given.encode()) else BAD_SIGNATURE


def trusted(value: bytes | None, key: RecordKey) -> tuple[dict[str, object] | None, str | None]:
    """Read one topic value: (the record, None) when it is a JSON object signed under ``key``;
    (the record or None, the reason) otherwise. Unreadable bytes carry no signature: UNSIGNED."""
    try:
        document = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None, UNSIGNED
    if not isinstance(document, dict):
        return None, UNSIGNED
    return document, check(document, key)


# -- table entries ----------------------------------------------------------------------------
# The account-state changelog is read back too: a forged entry could plant a loop in a worker's
# state (its finding then signed by the worker itself) or hide a running one. So with a key,
# every value is sealed: a MAC over the entry's key and value, so that a value is good for its
# own key only (no moving one account's part to another), ahead of the value.

_ENTRY_VERSION = b"s1"
_ENTRY_CONTEXT = b"loopwatch table entry v1\n"
_MAC_BYTES = hashlib.sha256().digest_size


def _entry_mac(key: bytes, value: bytes, record_key: RecordKey) -> bytes:
    header = _ENTRY_CONTEXT + len(key).to_bytes(4, "big") + key
    return hmac.new(record_key.secret, header + value, hashlib.sha256).digest()


def seal_entry(key: bytes, value: bytes, record_key: RecordKey | None) -> bytes:
    """``value`` as the table stores it under ``key``: sealed with ``record_key``, or as it is
    without one (a worker without a secret restores what it finds, and acts on nothing)."""
    if record_key is None:
        return value
    return _ENTRY_VERSION + _entry_mac(key, value, record_key) + value


def open_entry(key: bytes, stored: bytes, record_key: RecordKey | None) -> bytes | None:
    """The value ``seal_entry`` sealed under ``key``; None when it is not sealed under
    ``record_key`` (unsealed, another key, another entry's, or changed since). Never raises."""
    if record_key is None:
        return stored
    start = len(_ENTRY_VERSION) + _MAC_BYTES
    if len(stored) < start or not stored.startswith(_ENTRY_VERSION):
        return None
    value = stored[start:]
    given = stored[len(_ENTRY_VERSION) : start]
    return value if hmac.compare_digest(given, _entry_mac(key, value, record_key)) else None
