"""The generic JSON webhook: the version-1 payload (``loopwatch.actions.alert``), signed.

Headers: ``Content-Type: application/json``, ``X-Loopwatch-Signature: t=<unix>,v1=<hex>``
(HMAC-SHA256 over ``f"{t}.{body}"`` with ``LOOPWATCH_ALERT_SECRET``; absent when no secret is
configured), ``X-Loopwatch-Idempotency-Key`` (the same for every retry and every repeat of
one incident state change: receivers deduplicate on it) and ``X-Loopwatch-Event`` (the state).
"""

from __future__ import annotations

import orjson

from loopwatch.actions.alert import Alert, payload
from loopwatch.actions.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signature_header
from loopwatch.actions.sinks.registry import Rendered, Sink, sink


@sink("webhook", fallback=True)
class WebhookSink(Sink):
    @classmethod
    def accepts(cls, url: str) -> bool:
        return url.startswith(("http://", "https://"))

    def render(self, alert: Alert, now: float) -> Rendered:
        body = orjson.dumps(payload(alert))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "loopwatch",
            IDEMPOTENCY_HEADER: alert.key,
            "X-Loopwatch-Event": alert.state,
        }
        if self.secret is not None and self.signs:
            # Signed at render time, and each attempt renders again: a retry an hour late
            # would otherwise carry a timestamp the receiver rejects as a replay.
            headers[SIGNATURE_HEADER] = signature_header(
                self.secret.get_secret_value(), body, int(now)
            )
        return Rendered(body, headers)
