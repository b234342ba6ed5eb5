"""Shared fixtures: the session's Kafka broker comes from loopwatch's own testing plugin."""

import pytest

pytest_plugins = (
    "loopwatch.testing.broker",
)  # session fixture `kafka_broker` (Tansu or $LOOPWATCH_TEST_KAFKA)


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver receivers listen on 127.0.0.1 (its default, localhost, may be ::1)."""
    return ("127.0.0.1", 0)
