"""With an inventory of the account, a session name that is none of its functions is never a
function (DESIGN §4): a CI role's session ``jenkins`` whose uploads double every minute is no
runaway function, while a real function of the inventory growing alike still is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from loopwatch.events.facts import FunctionsListed
from loopwatch.inventory.obtain import facts_for
from loopwatch.inventory.snapshot import (
    Function,
    Refusal,
    RegionInventory,
    Snapshot,
    write_snapshot,
)
from loopwatch.testing import records as r

UPLOADER = r.function_arn("uploader")
THUMB = r.function_arn("thumb")


def inventory(refused: tuple[Refusal, ...] = ()) -> Snapshot:
    role = f"arn:aws:iam::{r.ACCOUNT}:role/"
    functions = (Function(UPLOADER, role + "uploader-role"), Function(THUMB, role + "thumb-role"))
    return Snapshot(
        version=1,
        read_at="2026-10-05T13:00:00Z",
        accounts=(r.ACCOUNT,),
        regions=(r.REGION,),
        refused=refused,
        inventories=(RegionInventory(r.ACCOUNT, r.REGION, functions=functions),),
    )


def doubling_uploads(role: str, session: str, bucket: str) -> list[dict[str, object]]:
    """Uploads by ``role``/``session`` to ``bucket``: 40 in the first minute, then twice as
    many each minute for five more (past the floor of 60 a minute by the second)."""
    out = []
    for minute in range(6):
        count = 40 * 2**minute
        for i in range(count):
            out.append(
                r.record(
                    r.S3,
                    "PutObject",
                    {"bucketName": bucket, "key": f"out/{minute}/{i}"},
                    identity=r.assumed_role(role, session),
                    time=r.at(minute * 60 + i * 60 / count),
                )
            )
    return out


def replay(folder: Path, *options: str) -> dict[str, object]:
    command = [sys.executable, "-m", "loopwatch", "replay", "--format=json", "--fail-on=never"]
    done = subprocess.run(
        [*command, *options, str(folder)],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    report: dict[str, object] = orjson.loads(done.stdout)
    return report


def runaway_functions(report: dict[str, object]) -> set[str]:
    runaway = report["runaway"]
    assert isinstance(runaway, list)
    return {str(item["function"]) for item in runaway}


def test_a_session_outside_the_inventory_is_no_runaway_function(tmp_path: Path) -> None:
    trail = tmp_path / "trail"
    r.write_log(trail / "ci.json", doubling_uploads("ci-role", "jenkins", "artifacts"))
    r.write_log(trail / "app.json", doubling_uploads("uploader-role", "uploader", "media"))
    snapshot = tmp_path / "inventory.json"
    write_snapshot(inventory(), snapshot)

    jenkins = r.function_arn("jenkins")
    # Without an inventory a session name that looks like a function is presumed one.
    assert runaway_functions(replay(trail)) == {jenkins, UPLOADER}
    with_inventory = replay(trail, "--inventory", str(snapshot))
    assert runaway_functions(with_inventory) == {UPLOADER}
    assert with_inventory["loops"] == []
    # An inventory that could not list the functions leaves the session presumed, as before.
    refusal = Refusal(r.ACCOUNT, r.REGION, "lambda", "ListFunctions", "AccessDenied", "no")
    write_snapshot(inventory(refused=(refusal,)), snapshot)
    assert runaway_functions(replay(trail, "--inventory", str(snapshot))) == {jenkins, UPLOADER}


def test_the_inventory_lists_an_account_only_when_lambda_answered() -> None:
    listed = [f for f in facts_for(inventory(), None, 0.0) if isinstance(f, FunctionsListed)]
    assert listed == [FunctionsListed(0.0, r.ACCOUNT)]
    assert facts_for(inventory(), "444455556666", 0.0) == []  # an account not read at all
    refusal = Refusal(r.ACCOUNT, r.REGION, "lambda", "ListFunctions", "AccessDenied", "no")
    facts = facts_for(inventory(refused=(refusal,)), r.ACCOUNT, 0.0)
    assert not [f for f in facts if isinstance(f, FunctionsListed)]
