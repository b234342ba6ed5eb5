"""``loopwatch worker`` refuses to start without a broker."""

from __future__ import annotations

import pytest

from loopwatch.cli import main


def test_worker_without_a_broker_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LOOPWATCH_KAFKA_BROKER", raising=False)
    assert main(["worker"]) == 2
    assert "LOOPWATCH_KAFKA_BROKER" in capsys.readouterr().err
