"""Loading topology files: strict validation with errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopwatch.topology import (
    Ref,
    TopologyError,
    builtin_topologies,
    load_topology,
    resolve_topology,
)

MINIMAL = """\
name: tiny
description: one bucket, one function
resources:
  buckets: [uploads]
  functions:
    thumbnailer:
      writes:
        - to: s3:uploads
          key: "thumbs/{seq}.jpg"
triggers:
  - kind: s3-notification
    bucket: uploads
    target: fn:thumbnailer
traffic:
  seeds:
    - to: s3:uploads
      key: "in/{seq}.jpg"
      count: 1
expect:
  loops:
    - cycle: [s3:uploads, fn:thumbnailer]
      status: active
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topo.yaml"
    path.write_text(text)
    return path


def test_minimal_file_loads_with_defaults(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, MINIMAL))
    assert topo.account == "111122223333"
    assert topo.region == "us-east-1"
    assert topo.function("thumbnailer").role == "thumbnailer-role"
    assert topo.traffic.start.tzinfo is not None
    assert topo.traffic.max_events == 3000


def test_refs_resolve_to_canonical_arns(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, MINIMAL))
    acct, region = topo.account, topo.region
    assert topo.arn("s3:uploads") == "arn:aws:s3:::uploads"
    assert topo.arn("fn:thumbnailer") == f"arn:aws:lambda:{region}:{acct}:function:thumbnailer"
    assert topo.arn(Ref("sqs", "jobs")) == f"arn:aws:sqs:{region}:{acct}:jobs"
    assert topo.arn("sns:alerts") == f"arn:aws:sns:{region}:{acct}:alerts"
    assert topo.arn("dynamodb:orders") == f"arn:aws:dynamodb:{region}:{acct}:table/orders"
    assert topo.arn("kinesis:clicks") == f"arn:aws:kinesis:{region}:{acct}:stream/clicks"
    assert topo.arn("events:default") == f"arn:aws:events:{region}:{acct}:event-bus/default"
    assert topo.expected_cycles() == (
        ("arn:aws:s3:::uploads", f"arn:aws:lambda:{region}:{acct}:function:thumbnailer"),
    )


@pytest.mark.parametrize(
    ("old", "new", "field", "why"),
    [
        ("target: fn:thumbnailer", "target: fn:nope", "triggers[0].target", "not declared"),
        ('account: "1"', None, "account", "pattern"),
        ("count: 1", "count: 0", "traffic.seeds[0].count", "greater than or equal to 1"),
        ("bucket: uploads", "bucket: uploads\n    colour: red", "triggers[0].colour", "Extra"),
        ('key: "thumbs/{seq}.jpg"', 'key: "thumbs/{nope}.jpg"', "writes[0].key", "nope"),
        ("    target: fn:thumbnailer", "    target: dynamodb:x", "triggers[0].target", "kind"),
        ("status: active", "status: busy", "expect.loops[0].status", "active"),
        ("kind: s3-notification", "kind: webhook", "triggers[0]", "kind"),
    ],
)
def test_bad_file_names_file_and_field(
    tmp_path: Path, old: str, new: str | None, field: str, why: str
) -> None:
    text = MINIMAL.replace(old, new) if new is not None else f"{old}\n{MINIMAL}"
    path = write(tmp_path, text)
    with pytest.raises(TopologyError) as err:
        load_topology(path)
    message = str(err.value)
    assert message.startswith(str(path))
    assert field in message
    assert why in message


def test_unquoted_account_is_rejected_by_strict_schema(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="account"):
        load_topology(write(tmp_path, f"account: 111122223333\n{MINIMAL}"))


def test_broken_yaml_and_missing_file_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "name: [unclosed\n")
    with pytest.raises(TopologyError, match=f"^{path}: not valid YAML"):
        load_topology(path)
    with pytest.raises(TopologyError, match="cannot read"):
        load_topology(tmp_path / "missing.yaml")


def test_naive_start_is_rejected(tmp_path: Path) -> None:
    text = MINIMAL.replace("traffic:\n", "traffic:\n  start: 2026-10-05T14:00:00\n")
    with pytest.raises(TopologyError, match=r"traffic\.start"):
        load_topology(write(tmp_path, text))


def test_every_builtin_topology_loads_and_documents_itself() -> None:
    paths = builtin_topologies()
    assert len(paths) >= 14
    names = set()
    for path in paths:
        topo = load_topology(path)
        assert path.stem == topo.name
        assert path.read_text().startswith("#"), f"{path} needs its comment header"
        names.add(topo.name)
        for loop in topo.expect.loops:
            assert all(topo.arn(ref).startswith("arn:aws:") for ref in loop.cycle)
    assert len(names) == len(paths)


def test_resolve_topology_takes_a_builtin_name_or_a_path(tmp_path: Path) -> None:
    assert resolve_topology("sqs-loop").name == "sqs-loop"
    assert resolve_topology(write(tmp_path, MINIMAL)).name == "tiny"
    with pytest.raises(TopologyError, match=r"built-in: .*s3-self-loop"):
        resolve_topology("no-such-topology")


# The same topology, configured before its trail: the logs alone show a latent unconfirmed
# loop at most; beside the inventory it is active.
PREDATES = (
    MINIMAL.replace("traffic:\n", "traffic:\n  configured_before_trail: true\n").replace(
        "      status: active\n", "      status: latent\n      confirmed: false\n"
    )
    + """\
expect_with_inventory:
  loops:
    - cycle: [s3:uploads, fn:thumbnailer]
      status: active
  runaway: [fn:thumbnailer]
"""
)


def test_a_configuration_before_the_trail_states_both_verdicts(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, PREDATES))
    assert topo.traffic.configured_before_trail
    (alone,) = topo.expected().loops
    (beside,) = topo.expected(inventory=True).loops
    assert (alone.status, alone.confirmed) == ("latent", False)
    assert (beside.status, beside.confirmed) == ("active", True)
    assert topo.expected_runaway() == frozenset()
    assert topo.expected_runaway(inventory=True) == {topo.arn("fn:thumbnailer")}
    plain = load_topology(write(tmp_path, MINIMAL))
    assert plain.expected(inventory=True) == plain.expect  # the logs carry the configuration


@pytest.mark.parametrize(
    ("text", "field", "why"),
    [
        (PREDATES.split("expect_with_inventory:")[0], "expect_with_inventory", "required"),
        (MINIMAL + "expect_with_inventory:\n  loops: []\n", "expect_with_inventory", "only with"),
        (
            PREDATES.replace("      confirmed: false\n", ""),
            "expect.loops[0].confirmed",
            "confirm nothing",
        ),
        (
            PREDATES.replace(
                "runaway: [fn:thumbnailer]",
                "runaway: [{function: fn:thumbnailer, confirmed: false}]",
            ),
            None,
            None,
        ),
        (
            PREDATES.replace("expect:\n  loops:", "expect:\n  runaway: [fn:thumbnailer]\n  loops:"),
            "expect.runaway[0]",
            "confirm nothing",
        ),
        (
            MINIMAL.replace("status: active", "status: active\n      confirmed: false"),
            "expect.loops[0].status",
            "never active",
        ),
        (
            MINIMAL.replace(
                "triggers:\n",
                "triggers:\n  - {kind: state-machine-task, machine: flow, function: thumbnailer}\n",
            ),
            "triggers[0].machine",
            "states:flow is not declared",
        ),
    ],
)
def test_verdicts_and_state_machines_are_checked(
    tmp_path: Path, text: str, field: str | None, why: str | None
) -> None:
    path = write(tmp_path, text)
    if field is None:  # a runaway may be stated unconfirmed in the verdict beside an inventory
        (runaway,) = load_topology(path).expected(inventory=True).runaway
        assert not runaway.confirmed
        return
    with pytest.raises(TopologyError) as err:
        load_topology(path)
    assert f"{path}: {field}: " in str(err.value) and why in str(err.value)


def test_a_state_machine_is_a_node_with_its_role(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "resources:\n",
        "resources:\n  state_machines:\n    flow: {}\n    relay: {role: relay-exec}\n",
    ).replace(
        "triggers:\n",
        "triggers:\n  - {kind: state-machine-task, machine: flow, function: thumbnailer}\n",
    )
    topo = load_topology(write(tmp_path, text))
    assert topo.arn("states:flow") == "arn:aws:states:us-east-1:111122223333:stateMachine:flow"
    assert [(m.name, m.role) for m in topo.state_machines] == [
        ("flow", "flow-role"),
        ("relay", "relay-exec"),
    ]
