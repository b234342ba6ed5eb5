"""Shared fixtures: the session's Kafka broker comes from loopwatch's own testing plugin.

In CI (``CI`` set, as .ci/run runs) hypothesis draws the same examples every run
(``derandomize``): a red run is reproducible, and a green one is not luck. Developers' runs
draw new examples each time, which is how the cases CI then keeps are found.
"""

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

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
