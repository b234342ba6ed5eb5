"""Identifiers for simulated records: random ones from the seeded RNG, stable ones by hash.

Request and event ids come from the simulation's RNG, so a seed reproduces a run byte for
byte. Principal and key ids (``AROA…``, ``ASIA…``) are derived from names instead, so the
same role has the same id in every file and run, as it does in AWS.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class Ids:
    """Random identifiers drawn from one seeded ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def uuid4(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def chars(self, n: int, alphabet: str = _ALNUM) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def s3_request_id(self) -> str:
        return self.chars(16, _UPPER)

    def amz_id_2(self) -> str:
        return base64.b64encode(self.rng.randbytes(57)).decode()

    def hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"


def stable_id(prefix: str, name: str, length: int = 17) -> str:
    """``prefix`` + an uppercase id derived from ``name`` (``AROA`` + 17 chars for a role)."""
    digest = base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()
    return prefix + digest[:length].replace("=", "A")


def stable_uuid(name: str) -> str:
    """A version-4-shaped UUID derived from ``name``: the same for the same name, in every run."""
    digest = hashlib.sha256(name.encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def stable_ip(name: str) -> str:
    """A public-looking IPv4 address derived from ``name`` (a Lambda's NAT address)."""
    d = hashlib.sha256(name.encode()).digest()
    return f"{3 + d[0] % 2 * 49}.{d[1]}.{d[2]}.{1 + d[3] % 254}"
