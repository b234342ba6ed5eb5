"""Shared fixtures: the session's Kafka broker comes from loopwatch's own testing plugin."""

import pytest

pytest_plugins = (
    "loopwatch.testing.broker",  # session fixture `kafka_broker` (Tansu or $LOOPWATCH_TEST_KAFKA)
    "loopwatch.testing.aws_env",  # fixture `ambient_aws`: the emulator as boto3's default
)


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver receivers listen on 127.0.0.1 (its default, localhost, may be ::1)."""
    return ("127.0.0.1", 0)


@pytest.fixture(autouse=True)
def _state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default data directory ($XDG_STATE_HOME/loopwatch) is a temporary one: no test
    writes a ledger or Faust data into the developer's home."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
