"""docs/iam-policy.json (and docs/ship-iam-policy.json for the shipper) grant exactly what
loopwatch calls, and nothing more."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import boto3

from loopwatch.actions.aws import PERMISSIONS

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "docs" / "iam-policy.json"
SHIP_POLICY = ROOT / "docs" / "ship-iam-policy.json"
EXPECTED = {
    "lambda:GetFunctionConcurrency",
    "lambda:PutFunctionConcurrency",
    "lambda:DeleteFunctionConcurrency",
    "lambda:UpdateEventSourceMapping",
    "sts:AssumeRole",
    "s3:GetObject",
    "s3:ListBucket",
    # loopwatch inventory (statement InventoryRead)
    "events:ListEventBuses",
    "events:ListRules",
    "events:ListTargetsByRule",
    "lambda:ListEventSourceMappings",
    "lambda:ListFunctionEventInvokeConfigs",
    "lambda:ListFunctions",
    "s3:GetBucketNotification",
    "s3:ListAllMyBuckets",
    "sns:GetSubscriptionAttributes",
    "sns:ListSubscriptions",
    "states:DescribeStateMachine",
    "states:ListStateMachines",
}
# S3's IAM actions are not named after its API calls.
S3_CALLS = {
    "get_object": "s3:GetObject",
    "list_objects_v2": "s3:ListBucket",
    "list_buckets": "s3:ListAllMyBuckets",
    "get_bucket_notification_configuration": "s3:GetBucketNotification",
}
# boto3 client name → IAM prefix, where they differ.
IAM_PREFIX = {"stepfunctions": "states"}
# AWS answers GetCallerIdentity for any credentials, even under an explicit deny.
NO_PERMISSION = {"sts:GetCallerIdentity"}
READ_ONLY = ("List", "Get", "Describe")


def statements(policy: Path = POLICY) -> list[dict[str, object]]:
    document = json.loads(policy.read_text())
    assert document["Version"] == "2012-10-17"
    result: list[dict[str, object]] = document["Statement"]
    return result


def granted(policy: Path = POLICY) -> set[str]:
    actions: set[str] = set()
    for statement in statements(policy):
        assert statement["Effect"] == "Allow"
        value = statement["Action"]
        actions.update([value] if isinstance(value, str) else value)  # type: ignore[arg-type]
    return actions


def called_methods(paths: list[Path]) -> set[str]:
    """Every ``x.method(...)`` and ``partial(x.method, ...)`` named in these modules."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                names.add(str(node.args[0].value))  # get_paginator("list_objects_v2")
    return names


def test_policy_is_valid_json_with_exactly_the_needed_actions() -> None:
    assert granted() == EXPECTED
    optional = [s for s in statements() if "lambda:UpdateEventSourceMapping" in s["Action"]]  # type: ignore[operator]
    assert len(optional) == 1 and "Optional" in str(optional[0]["Sid"])
    assert optional[0]["Action"] == ["lambda:UpdateEventSourceMapping"]
    for statement in statements():
        if statement["Sid"] == "InventoryRead":
            # Listing calls have no resource-level permissions; a statement may name every
            # resource only when all it grants is reading.
            actions = statement["Action"]
            assert isinstance(actions, list)
            assert all(a.split(":")[1].startswith(READ_ONLY) for a in actions), actions
            continue
        assert statement["Resource"] != "*", statement["Sid"]


def needed_permissions(paths: list[Path], services: tuple[str, ...]) -> set[str]:
    """The IAM actions behind every boto3 call of ``services`` named in these modules."""
    calls = called_methods(paths)
    needed: set[str] = set()
    for service in services:
        client = boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]
        mapping: dict[str, str] = client.meta.method_to_api_mapping
        prefix = IAM_PREFIX.get(service, service)
        needed |= {f"{prefix}:{mapping[m]}" for m in calls & set(mapping)}
    return needed - NO_PERMISSION


def test_every_aws_call_of_the_actions_and_replay_is_granted() -> None:
    action_modules = [
        p for p in (ROOT / "loopwatch" / "actions").rglob("*.py") if p.name != "testing.py"
    ]
    needed = needed_permissions(
        [*action_modules, ROOT / "loopwatch" / "roles.py"], ("lambda", "sts")
    )
    assert "lambda:PutFunctionConcurrency" in needed  # the scan does see the throttle's calls
    assert "sts:AssumeRole" in needed  # …and the role it assumes (loopwatch/roles.py)
    s3_calls = called_methods([ROOT / "loopwatch" / "events" / "sources.py"]) & set(S3_CALLS)
    needed |= {S3_CALLS[m] for m in s3_calls}
    assert needed <= granted(), needed - granted()
    assert set(PERMISSIONS.values()) <= granted()


def test_every_aws_call_of_the_inventory_is_granted_read_only() -> None:
    modules = [*(ROOT / "loopwatch" / "inventory").rglob("*.py"), ROOT / "loopwatch" / "roles.py"]
    services = ("lambda", "sns", "events", "stepfunctions", "sts")
    needed = needed_permissions(modules, services)
    needed |= {S3_CALLS[m] for m in called_methods(modules) & set(S3_CALLS)}
    # The scan does see the inventory's calls, of every service it reads.
    assert {
        "lambda:ListFunctions",
        "s3:GetBucketNotification",
        "sns:ListSubscriptions",
        "events:ListTargetsByRule",
        "states:DescribeStateMachine",
    } <= needed
    assert needed <= granted(), needed - granted()
    inventory = {a for s in statements() if s["Sid"] == "InventoryRead" for a in s["Action"]}  # type: ignore[attr-defined]
    assert needed - {"sts:AssumeRole"} == inventory  # the statement grants no more than it reads


def test_the_shipper_is_granted_exactly_what_it_calls() -> None:
    service = ROOT / "loopwatch" / "service"
    modules = [
        *service.glob("ship*.py"),
        service / "s3_position.py",
        ROOT / "loopwatch" / "events" / "sources.py",
    ]
    needed = needed_permissions(modules, ("sqs",))
    needed |= {S3_CALLS[m] for m in called_methods(modules) & set(S3_CALLS)}
    # The scan does see the shipper's calls: the queue's, and the bucket's.
    assert {"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "s3:GetObject"} <= needed
    assert needed == granted(SHIP_POLICY)
    for statement in statements(SHIP_POLICY):
        assert statement["Resource"] != "*", statement["Sid"]
