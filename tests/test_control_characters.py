"""Names from records cannot drive the terminal: every text output shows control characters
escaped (``loopwatch.render.terminal.printable``), as HTML and DOT escape their markup.

A function, a bucket, an S3 object key and a log file's name carry ESC, OSC (sets the window
title), BEL, CSI clear-screen, the C1 CSI (``\\x9b``) and a right-to-left override; the replay
report, the ``--act`` lines, ``loopwatch actions`` and ``release`` must show them as escapes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from loopwatch.actions.ledger import Hold, JsonFileLedger
from loopwatch.cli import main
from loopwatch.testing import records as r
from loopwatch.testing.aws import MotoServer

OSC_TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"
C1_CSI = "\x9b"
RLO = "\u202e"
FUNCTION_NAME = f"thumb{OSC_TITLE}{CLEAR}{C1_CSI}2J"
BUCKET = f"up{CLEAR}loads{RLO}"
FUNCTION = r.function_arn(FUNCTION_NAME)
# What a terminal obeys: C0 but the line break, DEL, C1, and the bidirectional overrides.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
SHOWN = {
    "function": r"thumb\x1b]0;pwned\x07\x1b[2J\x9b2J",
    "bucket": r"up\x1b[2Jloads\u202e",
    "key": r"in/2\x1b[2J.jpg",
}


def hostile_loop() -> list[r.JSONObject]:
    """An S3 self-loop whose function, bucket and object keys are hostile names."""
    configuration = [
        r.create_function(FUNCTION_NAME, "thumb-role", time=r.at(-60)),
        r.record(
            r.S3,
            "PutBucketNotification",
            {
                "bucketName": BUCKET,
                "NotificationConfiguration": {
                    "CloudFunctionConfiguration": {
                        "CloudFunction": FUNCTION,
                        "Event": "s3:ObjectCreated:*",
                    }
                },
            },
            time=r.at(0),
        ),
    ]
    writes = [
        r.record(
            r.S3,
            "PutObject",
            {"bucketName": BUCKET, "key": f"in/{i}{CLEAR}.jpg"},
            identity=r.assumed_role("thumb-role", FUNCTION_NAME),
            time=r.at(10 + i),
        )
        for i in range(6)
    ]
    return [*configuration, *writes]


def no_control_characters(text: str) -> None:
    found = sorted({f"{ord(c):#x}" for c in CONTROL.findall(text)})
    assert not found, f"control characters reached the terminal: {found}\n{text!r}"


def test_replay_and_act_show_hostile_names_escaped(
    tmp_path: Path, ambient_aws: MotoServer, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    logs = tmp_path / "AWSLogs"
    r.write_log(logs / f"a{OSC_TITLE}.json", hostile_loop())
    (logs / f"b{C1_CSI}broken\x07.json").write_bytes(b"{not json")
    env = {
        **os.environ,
        "LOOPWATCH_ALERT_URLS": httpserver.url_for("/hook"),
        "LOOPWATCH_LEDGER_PATH": str(tmp_path / "ledger.json"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "loopwatch", "replay", "--act", "--throttle", "dry-run", logs],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 1, err  # the loop was found, through its hostile names
    no_control_characters(out)
    no_control_characters(err)
    assert "Traceback" not in err
    assert len(httpserver.log) == 1  # the alert went out: the --act lines are real ones
    for shown in SHOWN.values():
        assert shown in out, shown
    assert r"AWSLogs/b\x9bbroken\x07.json: not" in out  # a file's own name, in the errors
    acted = [line for line in err.splitlines() if line.startswith("alert ")]
    assert acted and all(SHOWN["function"] in a and SHOWN["bucket"] in a for a in acted), err
    assert any("sent to 1 sink(s)" in line for line in acted), err


def test_actions_and_release_show_hostile_names_escaped(
    tmp_path: Path,
    ambient_aws: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ledger = tmp_path / "ledger.json"
    monkeypatch.setenv("LOOPWATCH_LEDGER_PATH", str(ledger))
    monkeypatch.delenv("LOOPWATCH_KAFKA_BROKER", raising=False)
    hold = Hold(FUNCTION, r.ACCOUNT, f"inc{OSC_TITLE}", 5, time.time(), f"w1{CLEAR}")
    JsonFileLedger(ledger).put(hold)

    assert main(["actions"]) == 0
    listed = capsys.readouterr()
    no_control_characters(listed.out + listed.err)
    assert SHOWN["function"] in listed.out
    assert r"inc\x1b]0;pwned\x07" in listed.out and r"w1\x1b[2J" in listed.out

    # The emulator has no such function: the hold is dropped as gone, its name said escaped.
    assert main(["release", FUNCTION]) == 0
    released = capsys.readouterr()
    no_control_characters(released.out + released.err)
    shown_arn = FUNCTION.removesuffix(FUNCTION_NAME) + SHOWN["function"]
    assert released.out.startswith(f"gone {shown_arn}: "), released.out
    assert JsonFileLedger(ledger).holds() == []
