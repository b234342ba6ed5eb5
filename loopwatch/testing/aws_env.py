"""A pytest fixture: the AWS emulator, with boto3's default chain pointed at it.

    def test_x(ambient_aws: MotoServer) -> None: ...   # AWS_ENDPOINT_URL & co. set, reset after

What a worker or a ``loopwatch`` command in this process uses (boto3's default session) then
reaches the emulator, started empty for the test and stopped after it. Registered as a plugin
in ``tests/conftest.py``.

PYTEST_DONT_REWRITE: no assert here to rewrite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopwatch.testing.aws import PROFILE_VARIABLES, MotoServer, ambient_env, moto_server
from loopwatch.testing.lambdas import reset


def point_at(server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point boto3's default chain at ``server`` for the test: ``ambient_env`` set, the
    profile variables (which could name real credentials) unset; undone after the test."""
    for name in PROFILE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in ambient_env(server).items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def ambient_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    with moto_server() as server:
        reset(server)  # moto's backends are per process: other modules' servers share them
        point_at(server, monkeypatch)
        yield server
