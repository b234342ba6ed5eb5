"""The worker's HTTP views: /health, /loops, /graph and /metrics.

    GET /                  the open loops drawn as their cycles (the page of `replay --format html`)
    GET /health            {"ready", "broker_reachable", "lag", "accounts"}; 200 ready, else 503
    GET /loops             open loop incidents of the accounts this worker holds
    GET /graph?account=ID  that account's resource graph (400 without ID, 404 if not held here)
    GET /metrics           Prometheus text exposition

Each worker answers for the accounts on its own partitions; Faust's /table/ and /router/
views are switched off, so nothing here reads another worker's state.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from faust.web import Request, Response, View

from loopwatch.detect.findings import loop_json

if TYPE_CHECKING:
    from loopwatch.service.app import LoopwatchService

PROMETHEUS_TEXT = "text/plain; version=0.0.4"  # aiohttp adds the charset itself


def register(service: LoopwatchService) -> None:
    """Add the views to ``service.app`` (before it starts)."""
    app = service.app

    @app.page("/health")
    async def health(web: View, request: Request) -> Response:
        ready = service.ready
        reachable = _broker_reachable(service)
        lag: int | None = None
        if ready:
            try:
                lag = await service.lag()
            except Exception:  # lag is advisory: a failed metadata call must not fail health
                lag = None
        body = {
            "ready": ready,
            "broker_reachable": reachable,
            "lag": lag,
            "accounts": len(service.processor.accounts),
        }
        return web.json(body, status=200 if ready else 503)

    @app.page("/loops")
    async def loops(web: View, request: Request) -> Response:
        return web.json({"loops": loops_json(service)})

    @app.page("/")
    async def page(web: View, request: Request) -> Response:
        from loopwatch.render import render_html

        document = {"records": None, "errors": [], "loops": loops_json(service), "runaway": []}
        return web.html(render_html(document))

    @app.page("/graph")
    async def graph(web: View, request: Request) -> Response:
        account = request.query.get("account")
        if not account:
            return web.json({"error": "give ?account=<AWS account id>"}, status=400)
        tracked = service.processor.accounts.get(account)
        if tracked is None:
            return web.json({"error": f"account {account} is not held by this worker"}, status=404)
        engine = tracked.state.engine
        return web.json({"account": account, "graph": engine.graph.to_dict(engine.now)})

    @app.page("/metrics")
    async def metrics(web: View, request: Request) -> Response:
        text = service.metrics.render(accounts=len(service.processor.accounts), now=time.time())
        return web.text(text, content_type=PROMETHEUS_TEXT)


def loops_json(service: LoopwatchService) -> list[dict[str, Any]]:
    """Open incidents as the replay report's ``loops`` entries, with their account and, where
    loopwatch holds one of their functions at reserved concurrency 0, that hold."""
    held = _holds(service)
    out = []
    for account, incident in service.processor.open_incidents():
        loop: dict[str, Any] = {**loop_json(incident.snapshot()), "account": account}
        holds = [held[f] for f in incident.functions if f in held]
        if holds:
            loop["throttle"] = {"held": holds}
        out.append(loop)
    return out


def _holds(service: LoopwatchService) -> dict[str, dict[str, object]]:
    """Function → its hold in the ledger (read only when actions run on this worker)."""
    if service.actions is None:
        return {}
    try:
        from loopwatch.actions import ledger_from_settings

        return {h.function: h.to_json() for h in ledger_from_settings(service.settings).holds()}
    except (OSError, ValueError):  # a view must not fail because the ledger cannot be read
        return {}


def _broker_reachable(service: LoopwatchService) -> bool:
    """Whether the consumer holds a live connection to some broker (no request is made)."""
    consumer: Any = service.app.consumer
    try:
        # aiokafka keeps its connections private; reading them costs nothing and needs no
        # request, so /health stays fast when the broker is gone.
        client = consumer._thread._ensure_consumer()._client
        return any(conn.connected() for conn in client._conns.values())
    except Exception:
        return False
