"""Large accounts for tests and benches: random engine facts, and CloudTrail records of many
functions.

    for batch in random_batches(seed=3, functions=2000, batches=150):
        state.driver.feed(batch)
    records = many_functions(3000)       # CreateFunction + one PutItem by each function

``random_batches`` exercises every kind of fact the engine takes, loops included (functions
that feed their own queue, buckets whose writers trigger themselves), with time jumping now
and then past the window, the horizon and the quiet period, and some facts arriving late.
"""

from __future__ import annotations

import random

from loopwatch.events import facts as f
from loopwatch.testing.records import (
    DYNAMODB,
    TIME,
    JSONObject,
    assumed_role,
    at,
    create_function,
)
from loopwatch.testing.records import record as cloudtrail_record

ACCOUNT = "111122223333"
REGION = "us-east-1"
START = 1_790_000_000.0


def function_arn(i: int) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn-{i:05d}"


def _queue(i: int) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:q-{i:05d}"


def _bucket(i: int) -> str:
    return f"arn:aws:s3:::bucket-{i:05d}"


def _table(i: int) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t-{i:05d}"


def _caller(i: int) -> f.Caller:
    return f.Caller(ACCOUNT, REGION, f"fn-{i:05d}-role", f"fn-{i:05d}")


def random_batches(
    seed: int, functions: int, batches: int, per_batch: int = 40
) -> list[list[f.Fact]]:
    """``batches`` lists of facts (one message's worth each) for an account of ``functions``
    functions, deterministic for ``seed``. The first batch configures the account."""
    rng = random.Random(seed)
    buckets = max(2, functions // 20)
    setup: list[f.Fact] = []
    for i in range(functions):
        if rng.random() < 0.9:
            setup.append(f.FunctionDeclared(START, function_arn(i), _role(i)))
        setup.append(f.TriggerAdded(START, _mapping(i)))
    for b in range(buckets):
        setup.append(f.BucketTriggersReplaced(START, _bucket(b), _notifications(rng, b, functions)))
    setup.append(f.StateMachineDeclared(START, _machine(0), _role(0)))
    out = [setup]
    now = START
    for _ in range(batches - 1):
        now += rng.choice((0.4, 1.0, 1.0, 1.0, 2.0, 5.0, 30.0, 400.0, 1000.0, 4000.0))
        out.append([_fact(rng, now, functions, buckets) for _ in range(per_batch)])
    return out


def _role(i: int) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/fn-{i:05d}-role"


def _machine(i: int) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:sm-{i}"


def _mapping(i: int, enabled: bool = True) -> f.Trigger:
    return f.Trigger(f"esm:{i}", _queue(i), function_arn(i), f.EVENT_SOURCE_MAPPING, enabled)


def _notifications(rng: random.Random, b: int, functions: int) -> tuple[f.Trigger, ...]:
    return tuple(
        f.Trigger(
            f"s3:{b}:{k}",
            _bucket(b),
            function_arn(rng.randrange(functions)),
            f.S3_NOTIFICATION,
            events=("s3:ObjectCreated:*",),
            prefix=rng.choice(("", "in/", "out/")),
        )
        for k in range(rng.randint(0, 3))
    )


def _fact(rng: random.Random, now: float, functions: int, buckets: int) -> f.Fact:
    time = now - rng.uniform(0, 20) if rng.random() < 0.1 else now  # some arrive late
    i = rng.randrange(functions)
    pick = rng.random()
    if pick < 0.30:  # a function feeds its own queue: a loop once it is invoked from it
        return f.Write(time, _caller(i), _queue(i))
    if pick < 0.45:
        return f.Invoked(time, function_arn(i), source=_queue(i))
    if pick < 0.60:
        key = rng.choice(("in/a.jpg", "out/b.jpg", "c.txt"))
        bucket = _bucket(rng.randrange(buckets))
        return f.Write(time, _caller(i), bucket, key=key, s3_event="ObjectCreated:Put")
    if pick < 0.70:
        return f.Invoked(time, function_arn(i), service="s3.amazonaws.com")
    if pick < 0.78:
        return f.Write(time, _caller(i), _table(rng.randrange(functions)), count=rng.randint(1, 5))
    if pick < 0.82:
        return f.Write(time, _caller(i), function_arn(rng.randrange(functions)))
    if pick < 0.85:
        return f.TriggerEnabled(time, f"esm:{i}", rng.random() < 0.6)
    if pick < 0.87:
        return f.TriggerRemoved(time, f"esm:{i}")
    if pick < 0.89:
        return f.TriggerAdded(time, _mapping(i, enabled=rng.random() < 0.8))
    if pick < 0.91:
        b = rng.randrange(buckets)
        return f.BucketTriggersReplaced(time, _bucket(b), _notifications(rng, b, functions))
    if pick < 0.93:
        return f.FunctionDeleted(time, function_arn(i))
    if pick < 0.96:
        return f.FunctionDeclared(time, function_arn(i), _role(i) if rng.random() < 0.8 else None)
    if pick < 0.98:
        return f.StateMachineDeclared(time, _machine(rng.randrange(3)), _role(i))
    return f.Invoked(time, function_arn(i), service="states.amazonaws.com", role=_role(i))


def many_functions(
    functions: int, *, seconds: float = 0.0, account: str = ACCOUNT, start: str = TIME
) -> list[JSONObject]:
    """CloudTrail records of an account of ``functions`` functions: each created with its role
    and writing once to a DynamoDB table of its own (a hop each), spread over ``seconds``
    from ``start``."""
    out: list[JSONObject] = []
    step = seconds / max(functions, 1)
    for i in range(functions):
        name, role = f"fn-{i:05d}", f"fn-{i:05d}-role"
        time = at(int(i * step), start)
        out.append(create_function(name, role, time=time, account=account))
        out.append(
            cloudtrail_record(
                DYNAMODB,
                "PutItem",
                {"tableName": f"t-{i:05d}"},
                identity=assumed_role(role, name, account=account),
                time=time,
                account=account,
            )
        )
    return out
