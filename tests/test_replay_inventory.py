"""``replay --inventory aws|FILE`` on accounts configured before their logs (DESIGN §5, §9),
against the AWS emulator: the configuration decides, the same from AWS and from a snapshot."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from loopwatch.cli import main
from loopwatch.testing import records as r
from loopwatch.testing.aws import MotoServer
from loopwatch.testing.predates import near_miss, sqs_loop


@pytest.fixture
def aws(ambient_aws: MotoServer) -> MotoServer:
    return ambient_aws


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    capsys.readouterr()
    code = main(["replay", "--format", "json", *args])
    return code, orjson.loads(capsys.readouterr().out)


def test_the_prefix_near_miss_is_no_loop_with_an_inventory_and_at_most_latent_without(
    aws: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = str(r.write_log(tmp_path / "logs.json", near_miss(aws)))
    code, alone = run([log], capsys)
    (loop,) = alone["loops"]  # type: ignore[misc]
    assert code == 0 and loop["status"] == "latent" and loop["confirmed"] is False
    assert loop["unknown"] == [
        "the notification configuration of bucket media was never seen",
        "the execution role of function resizer was never seen",
    ]

    code, known = run(["--inventory", "aws", log], capsys)
    assert code == 0 and known["loops"] == [] and known["errors"] == []


def test_a_loop_on_a_mapping_the_logs_never_show_is_active_and_confirmed_with_an_inventory(
    aws: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = str(r.write_log(tmp_path / "logs.json", sqs_loop(aws)))
    _, alone = run([log], capsys)
    assert alone["loops"] == []  # no trigger known: no cycle at all
    code, known = run(["--inventory", "aws", log], capsys)
    (loop,) = known["loops"]  # type: ignore[misc]
    assert code == 1 and loop["status"] == "active" and loop["confirmed"] is True
    assert loop["detected_at"] == r.at(12)  # by its 3rd traversal


def test_an_inventory_file_gives_the_report_aws_gives(
    aws: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = str(r.write_log(tmp_path / "logs.json", [*sqs_loop(aws), *near_miss(aws)]))
    snapshot = tmp_path / "inventory.json"
    assert main(["inventory", "--out", str(snapshot)]) == 0
    from_aws = run(["--inventory", "aws", log], capsys)
    from_file = run(["--inventory", str(snapshot), log], capsys)
    assert from_aws == from_file
    assert [loop["status"] for loop in from_file[1]["loops"]] == ["active"]  # type: ignore[union-attr]


def test_an_inventory_that_cannot_be_read_is_exit_2_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = str(r.write_log(tmp_path / "logs.json", r.s3_self_loop(writes=1)))
    capsys.readouterr()
    assert main(["replay", "--inventory", str(tmp_path / "nope.json"), log]) == 2
    err = capsys.readouterr().err
    assert err.startswith("loopwatch replay: ") and "no such snapshot file" in err
    (tmp_path / "bad.json").write_text('{"version": 99}')
    assert main(["replay", "--inventory", str(tmp_path / "bad.json"), log]) == 2
