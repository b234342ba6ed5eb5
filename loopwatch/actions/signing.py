"""HMAC-SHA256 signatures of webhook bodies, with a timestamp so receivers can reject replays.

    X-Loopwatch-Signature: t=1791201603,v1=5f0c…(hex HMAC-SHA256 of f"{t}.{body}")

A receiver recomputes the HMAC over the timestamp, a dot and the raw body bytes, compares it
in constant time, and rejects a timestamp further than its tolerance from its own clock.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Loopwatch-Signature"
IDEMPOTENCY_HEADER = "X-Loopwatch-Idempotency-Key"


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` under ``secret``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """The value of ``X-Loopwatch-Signature`` for ``body`` sent at ``timestamp`` (unix s)."""
    return f"t={timestamp},v1={signature(secret, body, timestamp)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and its timestamp is within
    ``tolerance_s`` of ``now`` (default: this machine's clock).

    Never raises: an empty ``secret``, or a missing, malformed or stale header, is simply
    False. Several ``v1=``
    entries are accepted (any may match), so a sender can sign with an old and a new secret
    while the secret rotates.
    """
    if not secret or not header:
        return False  # an empty key is no key: anyone can compute its HMAC
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = signature(secret, body, timestamp)
    return any(hmac.compare_digest(expected, c) for c in candidates)
