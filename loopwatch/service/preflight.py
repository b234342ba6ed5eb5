"""Checks a command makes before it starts: is the broker there, is the web port free, is
there a data directory?

    require_broker(settings)   ──bootstrap (bounded)──► ok | BrokerUnreachable
    require_port(host, port)   ──bind, close─────────► ok | PortBusy
    require_data_dir(settings) ──mkdir -p────────────► the folder | DataDirUnusable

Faust, aiokafka and aiohttp report these as a traceback from deep inside their start-up, and
Faust's worker exits 1, which the CLI reserves for "a loop was found". Asked first, each is one
line naming the setting to fix, and exit 2. The check is a snapshot, not a promise: a broker
that goes away later is the running service's business.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
from pathlib import Path

from loopwatch.errors import Problem
from loopwatch.service.topics import bootstrap
from loopwatch.settings import Settings

BROKER_TIMEOUT = 10.0


class BrokerUnreachable(Problem):
    """No Kafka broker answers at LOOPWATCH_KAFKA_BROKER."""


class PortBusy(Problem):
    """The web views' address cannot be bound."""


class DataDirUnusable(Problem):
    """The data directory cannot be made, or is not a folder loopwatch can write."""


async def check_broker(settings: Settings, timeout: float = BROKER_TIMEOUT) -> None:
    """Fetch the cluster's metadata from the configured broker within ``timeout`` seconds.

    Raises BrokerUnreachable (with how to fix it) when no broker answers in time.
    """
    from aiokafka.client import AIOKafkaClient
    from aiokafka.errors import KafkaError

    address = bootstrap(settings)
    client = AIOKafkaClient(
        bootstrap_servers=address, request_timeout_ms=int(timeout * 1000), retry_backoff_ms=100
    )
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    # aiokafka logs each refused connection at ERROR before raising: the line below says it.
    quiet.setLevel(logging.CRITICAL)
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
    except (KafkaError, OSError, TimeoutError):
        why = await _tcp_reason(address, min(timeout, 5.0))
        raise BrokerUnreachable(
            f"no Kafka broker answers at {address} ({why}): start it, or set"
            " LOOPWATCH_KAFKA_BROKER to its host:port (unset, `loopwatch up` starts a bundled one)"
        ) from None
    finally:
        quiet.setLevel(level)
        await client.close()


async def _tcp_reason(address: str, timeout: float) -> str:
    """Why the first of ``address``'s servers failed, as a TCP connection sees it."""
    first = address.split(",")[0].strip()
    host, colon, port = first.rpartition(":")
    if not colon:  # aiokafka's default port, as it reads a bare host
        host, port = first, "9092"
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except socket.gaierror as exc:
        return f"{host}: {exc.strerror}"
    except OSError as exc:
        if exc.errno == errno.ECONNREFUSED:
            return "connection refused: nothing listens on that port"
        return os.strerror(exc.errno) if exc.errno else str(exc)
    except ValueError:
        return f"{address} is not host:port"
    writer.close()
    return "the port is open, but what listens there does not speak Kafka"


def require_broker(settings: Settings, timeout: float = BROKER_TIMEOUT) -> None:
    """``check_broker`` from synchronous code (no event loop running)."""
    asyncio.run(check_broker(settings, timeout))


def require_port(host: str, port: int) -> None:
    """Raise PortBusy when ``host:port`` cannot be bound for the web views (port 0 is any)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortBusy(
            f"LOOPWATCH_WEB_HOST={host} is not an address ({exc.strerror}): set it to an address"
            " of this machine, e.g. 127.0.0.1, or 0.0.0.0 for every interface"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As aiohttp binds: SO_REUSEADDR, so a port left in TIME_WAIT is free, a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortBusy(
                    f"port {port} on {host} is already in use (another loopwatch worker?): stop"
                    " that program, or set LOOPWATCH_WEB_PORT (`up --web-port`) to a free port"
                ) from None
            raise PortBusy(
                f"cannot listen on {host}:{port} ({exc.strerror}): set LOOPWATCH_WEB_HOST to an"
                " address of this machine and LOOPWATCH_WEB_PORT to a port above 1023"
            ) from None


def require_data_dir(settings: Settings) -> Path:
    """``settings.data_dir``, made with its parents when missing: the default
    (``~/.local/state/loopwatch``) does not exist on a new machine, and Faust makes only its
    own folder inside it. Raises DataDirUnusable, naming the path, when it cannot be made or
    written (a parent is a regular file, no permission…)."""
    path = Path(settings.data_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirUnusable(
            f"cannot make the data directory {path} ({exc.strerror or exc}): set"
            " LOOPWATCH_DATA_DIR to a folder loopwatch can write"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataDirUnusable(
            f"cannot write to the data directory {path}: set LOOPWATCH_DATA_DIR to a folder"
            " loopwatch can write"
        )
    return path
