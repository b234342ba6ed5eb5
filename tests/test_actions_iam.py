"""docs/iam-policy.json grants exactly what loopwatch calls, and nothing more."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import boto3

from loopwatch.actions.aws import PERMISSIONS

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "docs" / "iam-policy.json"
EXPECTED = {
    "lambda:GetFunctionConcurrency",
    "lambda:PutFunctionConcurrency",
    "lambda:DeleteFunctionConcurrency",
    "lambda:UpdateEventSourceMapping",
    "sts:AssumeRole",
    "s3:GetObject",
    "s3:ListBucket",
}
# S3's IAM actions are not named after its API calls.
S3_CALLS = {"get_object": "s3:GetObject", "list_objects_v2": "s3:ListBucket"}


def statements() -> list[dict[str, object]]:
    document = json.loads(POLICY.read_text())
    assert document["Version"] == "2012-10-17"
    result: list[dict[str, object]] = document["Statement"]
    return result


def granted() -> set[str]:
    actions: set[str] = set()
    for statement in statements():
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
        assert statement["Resource"] != "*", statement["Sid"]


def test_every_aws_call_of_the_actions_and_replay_is_granted() -> None:
    action_modules = [
        p for p in (ROOT / "loopwatch" / "actions").rglob("*.py") if p.name != "testing.py"
    ]
    calls = called_methods(action_modules)
    needed: set[str] = set()
    for service in ("lambda", "sts"):
        client = boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]
        mapping: dict[str, str] = client.meta.method_to_api_mapping
        used = calls & set(mapping)
        needed |= {f"{service}:{mapping[m]}" for m in used}
    assert "lambda:PutFunctionConcurrency" in needed  # the scan does see the throttle's calls
    s3_calls = called_methods([ROOT / "loopwatch" / "events" / "sources.py"]) & set(S3_CALLS)
    needed |= {S3_CALLS[m] for m in s3_calls}
    assert needed <= granted(), needed - granted()
    assert set(PERMISSIONS.values()) <= granted()
