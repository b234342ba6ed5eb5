"""The worker's HTTP views: /health, /loops, /graph and /metrics.

    GET /                  the open loops drawn as their cycles (the page of `replay --format html`)
    GET /health            {"ready", "broker_reachable", "lag", "lag_seconds", "accounts"};
                           200 ready, else 503
    GET /loops             open loop incidents of the accounts this worker holds
    GET /graph?account=ID  that account's resource graph (400 without ID, 404 if not held here)
    GET /metrics           Prometheus text exposition (``loopwatch.service.metrics``)

``lag`` is the input messages not yet read and ``lag_seconds`` the wall clock minus the newest
event time: the same numbers as ``loopwatch_input_lag_messages`` and
``loopwatch_processing_lag_seconds`` on /metrics, computed by the same code.

With LOOPWATCH_WEB_TOKEN set, every path but /health (Faust's own / included) answers 401
unless the request carries ``Authorization: Bearer <token>``: the views show resource names and
account ids. /health stays open for container and load-balancer probes.

Each worker answers for the accounts on its own partitions; Faust's /table/ and /router/
views are switched off, so nothing here reads another worker's state.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web as aiohttp_web
from faust.web import Request, Response, View

from loopwatch.detect.findings import loop_json
from loopwatch.service.metrics import CONTENT_TYPE as PROMETHEUS_TEXT

if TYPE_CHECKING:
    from loopwatch.service.app import LoopwatchService

OPEN_PATHS = frozenset({"/health"})

Handler = Callable[[aiohttp_web.Request], Awaitable[aiohttp_web.StreamResponse]]


def register(service: LoopwatchService) -> None:
    """Add the views to ``service.app`` (before it starts), behind the bearer token if set."""
    app = service.app
    token = service.settings.web_token
    if token is not None and token.get_secret_value():
        # Faust's aiohttp driver builds its Application when app.web is first touched; a
        # middleware added before the server starts sees every request, Faust's views too.
        driver: Any = app.web  # faust.web.drivers.aiohttp.Web; its base type has no web_app
        driver.web_app.middlewares.append(bearer_middleware(token.get_secret_value()))

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
            "lag_seconds": round(service.metrics.processing_lag(time.time()), 3),
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
        lag: int | None = None
        if service.ready:
            try:
                lag = await service.lag()
            except Exception:  # as for /health: a failed metadata call leaves the gauge out
                lag = None
        accounts = service.processor.accounts
        text = service.metrics.render(
            accounts=len(accounts),
            now=time.time(),
            account_times={
                account: tracked.event_time
                for account, tracked in accounts.items()
                if tracked.event_time != float("-inf")
            },
            input_lag=lag,
        )
        return web.text(text, content_type=PROMETHEUS_TEXT)


def bearer_middleware(token: str) -> Any:
    """An aiohttp middleware answering 401 to a request without ``Authorization: Bearer
    <token>``, except on OPEN_PATHS; a header of any bytes, UTF-8 or not, is compared, never
    an error. The comparison takes constant time."""
    expected = f"Bearer {token}".encode()

    @aiohttp_web.middleware
    async def require_token(
        request: aiohttp_web.Request, handler: Handler
    ) -> aiohttp_web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        # aiohttp decodes header bytes that are not UTF-8 as lone surrogates, which a strict
        # encode refuses (a 500 and a traceback per request): surrogateescape gives back the
        # bytes sent, which match the token only if they are it.
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, expected):
            return aiohttp_web.json_response(
                {"error": "send Authorization: Bearer <LOOPWATCH_WEB_TOKEN>"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="loopwatch"'},
            )
        return await handler(request)

    return require_token


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
