"""Ports for tests of what happens when one is closed or taken.

    closed_port()             a port on 127.0.0.1 with nothing listening (connections refused)
    with occupied_port() as p: a port on 127.0.0.1 held by a listening socket for the block

Both bind 127.0.0.1 only; the held socket closes when the block ends.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from loopwatch.net import free_port


def closed_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on: a connection to it is refused at once."""
    return free_port(host)


@contextmanager
def occupied_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port held by a listening socket (as another program's server would) for the block."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])
