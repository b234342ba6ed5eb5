"""Alert sinks, registered by name and chosen by URL.

    @sink("slack")
    class SlackSink(Sink):
        @classmethod
        def accepts(cls, url): return url.startswith("https://hooks.slack.com/")

``sink_for(url)`` asks every registered sink in turn and falls back to the one registered with
``fallback=True`` (the generic JSON webhook). A sink only renders an alert into bytes and
headers; delivery (retries, deadlines, dead letters) is ``loopwatch.actions.delivery``'s job.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypeVar
from urllib.parse import urlsplit

from pydantic import SecretStr

from loopwatch.actions.alert import Alert


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    headers: dict[str, str]


class Sink:
    """One webhook URL and how alerts are written for it.

    The URL is a secret (a Slack webhook URL is its own credential), so it is held as a
    ``SecretStr`` and shown only as ``label``: scheme and host.
    """

    name: ClassVar[str] = "sink"

    def __init__(self, url: SecretStr, secret: SecretStr | None = None) -> None:
        self.url = url
        self.secret = secret
        parts = urlsplit(url.get_secret_value())
        self.label = f"{self.name} {parts.scheme}://{parts.hostname or '?'}/…"

    @classmethod
    def accepts(cls, url: str) -> bool:
        """This sink is the one for ``url``."""
        return False

    @property
    def signs(self) -> bool:
        """A signing secret is configured (and not empty)."""
        return self.secret is not None and bool(self.secret.get_secret_value())

    def render(self, alert: Alert, now: float) -> Rendered:
        """The request body and headers for ``alert`` sent at wall-clock ``now``."""
        raise NotImplementedError

    def secrets(self) -> list[str]:
        """Values that must never reach a log line or error text."""
        values = [self.url.get_secret_value()]
        path = urlsplit(values[0]).path
        if len(path) > 1:
            values.append(path)
        if self.secret is not None and self.secret.get_secret_value():
            values.append(self.secret.get_secret_value())
        return values

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this sink replaced by ``***``."""
        for value in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(value, "***")
        return text

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"


S = TypeVar("S", bound=type[Sink])
_REGISTRY: dict[str, type[Sink]] = {}
_FALLBACK: list[str] = []


def sink(name: str, *, fallback: bool = False) -> Callable[[S], S]:
    """Register a ``Sink`` subclass under ``name``; ``fallback`` takes URLs no other accepts.

    Raises ValueError when the name is taken, so two sinks cannot shadow each other.
    """

    def register(cls: S) -> S:
        if name in _REGISTRY:
            raise ValueError(f"alert sink {name!r} is registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        if fallback:
            _FALLBACK.append(name)
        return cls

    return register


def registered() -> dict[str, type[Sink]]:
    return dict(_REGISTRY)


def sink_for(
    url: SecretStr | str, secret: SecretStr | None = None, *, allow_http: bool = False
) -> Sink:
    """The sink for ``url``. Raises ValueError for a URL that is not http(s), or is plain
    http to a host other than this machine's loopback unless ``allow_http``: the alert, its
    signature and the URL's own token would cross the network in clear. The message names
    only the scheme and host, never the URL."""
    secret_url = url if isinstance(url, SecretStr) else SecretStr(url)
    raw = secret_url.get_secret_value()
    parts = urlsplit(raw)
    scheme, host = parts.scheme, parts.hostname
    if scheme not in ("http", "https") or not host:
        raise ValueError(f"alert URL must be http(s) with a host, not {scheme or 'no'} scheme")
    if scheme == "http" and not allow_http and not is_loopback(host):
        raise ValueError(
            f"alert URL http://{host}/… is not encrypted: use https, or set"
            " LOOPWATCH_ALERT_ALLOW_HTTP=true"
        )
    for name, cls in _REGISTRY.items():
        if name not in _FALLBACK and cls.accepts(raw):
            return cls(secret_url, secret)
    if not _FALLBACK:
        raise ValueError("no fallback alert sink is registered")
    return _REGISTRY[_FALLBACK[0]](secret_url, secret)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1): traffic that never leaves the
    machine, so plain http to it is allowed without opting in (a sidecar receiver)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
