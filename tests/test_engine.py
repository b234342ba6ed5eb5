"""The pure engine, fed facts directly: cycles, traversals, gain, incidents (DESIGN §5)."""

from __future__ import annotations

from loopwatch.config import DetectionConfig
from loopwatch.detect import Engine
from loopwatch.detect.findings import ACTIVE, ESCALATED, LATENT, OPENED, RESOLVED
from loopwatch.events import facts as f
from loopwatch.testing.scenario import ACCOUNT, Scenario

S = Scenario
UPLOADS = S.bucket("uploads")
THUMB = S.fn("thumb")


def s3_self_loop(prefix: str = "incoming/", suffix: str = "") -> Scenario:
    s = Scenario()
    s.apply(f.FunctionDeclared(0, THUMB, "arn:aws:iam::111122223333:role/thumb-role"))
    s.notify(1, UPLOADS, (THUMB, prefix, suffix))
    return s


def test_s3_self_loop_is_active_at_the_third_traversal() -> None:
    s = s3_self_loop()
    for i in range(5):
        s.write(10 + i, "thumb", UPLOADS, key=f"incoming/{i}.jpg")
    opened, escalated = s.loop_findings(OPENED), s.loop_findings(ESCALATED)
    assert len(opened) == 1 and opened[0].status == LATENT and opened[0].time == 10
    assert len(escalated) == 1
    loop = escalated[0]
    assert loop.status == ACTIVE and loop.detected_at == 12 and loop.traversals == 3
    assert set(loop.cycle) == {UPLOADS, THUMB} and loop.functions == (THUMB,)
    assert "incoming/" in loop.explanation and "bucket uploads" in loop.explanation
    assert "prefix `incoming/`" in loop.fix


def test_writes_outside_the_prefix_or_suffix_close_nothing() -> None:
    prefix_miss = s3_self_loop(prefix="incoming/")
    suffix_miss = s3_self_loop(prefix="", suffix=".jpg")
    for i in range(10):
        prefix_miss.write(10 + i, "thumb", UPLOADS, key=f"thumbnails/{i}.jpg")
        suffix_miss.write(10 + i, "thumb", UPLOADS, key=f"incoming/{i}.png")
    assert prefix_miss.findings == [] and suffix_miss.findings == []


def test_event_type_must_match_the_notification() -> None:
    s = Scenario()
    s.notify(1, UPLOADS, (THUMB, "", ""), events=("s3:ObjectRemoved:*",))
    for i in range(5):
        s.write(10 + i, "thumb", UPLOADS, key=f"{i}", event="ObjectCreated:Put")
    assert s.findings == []
    for i in range(3):
        s.write(20 + i, "thumb", UPLOADS, key=f"{i}", event="ObjectRemoved:Delete")
    assert [x.status for x in s.loop_findings()] == [LATENT, ACTIVE]


def test_sqs_loop_through_a_mapping_and_a_disabled_mapping_closes_nothing() -> None:
    jobs, worker = S.queue("jobs"), S.fn("worker")
    s = Scenario()
    s.mapping(1, "u-1", jobs, worker, enabled=False)
    for i in range(5):
        s.write(10 + i, "worker", jobs)
    assert s.findings == []
    # Messages sent while the mapping was off wait in the queue and are delivered once it is
    # enabled: the loop runs at once.
    s.apply(f.TriggerEnabled(20, "esm:u-1", True))
    (opened,) = s.loop_findings()
    assert opened.status == ACTIVE and opened.detected_at == 20
    assert "separate destination queue" in opened.fix
    s.apply(f.TriggerEnabled(30, "esm:u-1", False))
    assert [x.change for x in s.loop_findings()] == [OPENED, RESOLVED]
    assert "disabled" in s.loop_findings()[-1].explanation


def test_multi_hop_bucket_function_queue_function_bucket() -> None:
    ingest, fan, store = S.bucket("ingest"), S.fn("fan"), S.fn("store")
    work = S.queue("work")
    s = Scenario()
    s.notify(1, ingest, (fan, "", ""))
    s.mapping(1, "u-2", work, store)
    for i in range(3):
        s.write(10 + 2 * i, "fan", work)
        s.write(11 + 2 * i, "store", ingest, key=f"obj-{i}")
    active = s.loop_findings(ESCALATED)
    assert len(active) == 1
    assert active[0].cycle == (ingest, fan, work, store)
    assert active[0].functions == (fan, store)


def test_function_to_function_recursion() -> None:
    ping, pong = S.fn("ping"), S.fn("pong")
    s = Scenario()
    for i in range(3):
        s.write(10 + 2 * i, "ping", pong)
        s.write(11 + 2 * i, "pong", ping)
    assert [x.change for x in s.loop_findings()] == [OPENED, ESCALATED]
    assert "depth counter" in s.loop_findings()[-1].fix


def test_guarded_write_back_stays_latent_with_gain_half() -> None:
    s = s3_self_loop(prefix="")
    t = 10.0
    for i in range(20):  # each upload: one run writes the marker, the marker's run exits
        s.invoked(t, THUMB, source=UPLOADS)
        s.write(t + 0.3, "thumb", UPLOADS, key=f"{i}.done")
        s.invoked(t + 0.6, THUMB, source=UPLOADS)
        t += 5
    assert [x.change for x in s.loop_findings()] == [OPENED]
    incident = s.engine.open_incidents()[0]
    assert incident.status == LATENT and incident.detected_at is None
    assert incident.guarded and incident.gain is not None and 0.45 <= incident.gain <= 0.55
    assert "guarded" in incident.explanation


def test_runaway_loop_with_observed_invocations_has_gain_one() -> None:
    s = s3_self_loop(prefix="")
    for i in range(4):
        s.invoked(10 + i, THUMB, source=UPLOADS)
        s.write(10.5 + i, "thumb", UPLOADS, key=f"{i}")
    (escalated,) = s.loop_findings(ESCALATED)
    assert escalated.gain == 1.0
    assert escalated.detected_at == 12  # the second in which the 3rd write landed


def test_same_cycle_never_opens_twice_while_open_and_resolves_when_quiet() -> None:
    s = s3_self_loop(prefix="")
    for i in range(10):
        s.write(10 + i, "thumb", UPLOADS, key=f"{i}")
    s.write(100, "thumb", S.bucket("elsewhere"))  # other traffic moves event time on
    assert len(s.loop_findings(OPENED)) == 1
    s.engine.advance(10 + 900 + 120)
    s.findings.extend(s.engine.advance(10 + 900 + 180))
    resolved = [x for x in s.engine.incidents.incidents.values() if not x.open]
    assert len(resolved) == 1
    for i in range(3):
        s.write(2000 + i, "thumb", UPLOADS, key=f"again-{i}")
    assert len(s.loop_findings(OPENED)) == 2  # a new episode of the same incident id
    assert len({x.incident for x in s.loop_findings()}) == 1


def test_removing_the_trigger_resolves_the_incident() -> None:
    s = s3_self_loop(prefix="")
    for i in range(3):
        s.write(10 + i, "thumb", UPLOADS, key=f"{i}")
    s.notify(20, UPLOADS)  # notification configuration emptied: the fix
    (resolved,) = s.loop_findings(RESOLVED)
    assert "notification configuration" in resolved.explanation
    s.write(21, "thumb", UPLOADS, key="late")
    assert len(s.loop_findings(OPENED)) == 1


def test_observed_hops_expire_after_the_horizon() -> None:
    config = DetectionConfig(horizon=600, quiet=10_000)
    s = Scenario(config=config)
    s.mapping(1, "u-3", S.queue("q"), S.fn("w"))
    s.write(10, "w", S.queue("q"))
    assert s.engine.open_incidents()
    s.write(10 + 700, "w", S.queue("unrelated"))  # event time passes the horizon
    s.write(10 + 760, "w", S.queue("unrelated"))
    assert not s.engine.open_incidents()
    assert "horizon" in s.loop_findings(RESOLVED)[0].explanation


def test_caller_identity_by_role_and_rejection_of_service_sessions() -> None:
    s = Scenario()
    s.apply(f.FunctionDeclared(0, THUMB, "arn:aws:iam::111122223333:role/shared"))
    s.notify(1, UPLOADS, (THUMB, "", ""))
    caller_by_role = f.Caller("111122223333", "us-east-1", "shared", "some.session@corp")
    lambda_service = f.Caller("111122223333", "us-east-1", "other", "awslambda_123_456")
    for i in range(3):
        s.apply(f.Write(10 + i, lambda_service, UPLOADS, key=str(i), s3_event="ObjectCreated:Put"))
    assert s.findings == []
    for i in range(3):
        s.apply(f.Write(20 + i, caller_by_role, UPLOADS, key=str(i), s3_event="ObjectCreated:Put"))
    assert s.loop_findings(ESCALATED)[0].functions == (THUMB,)


def test_unrelated_traffic_does_not_create_loops() -> None:
    s = Scenario()
    s.notify(1, S.bucket("in"), (S.fn("a"), "", ""))
    s.mapping(1, "u-4", S.queue("q"), S.fn("b"))
    for i in range(200):
        s.write(10 + i, "a", S.queue("q"))
        s.write(10.5 + i, "b", S.table("t"))
    assert s.loop_findings() == []


def test_records_of_one_second_in_any_order_do_not_flip_the_verdict() -> None:
    """CloudTrail times are whole seconds: a loop's next invocation can sort before its write."""
    guarded, runaway = Engine(), Engine()
    caller = Scenario.caller("thumb")
    for engine in (guarded, runaway):
        engine.apply(f.FunctionDeclared(0, THUMB, f"arn:aws:iam::{ACCOUNT}:role/{caller.role}"))
        engine.apply(
            f.BucketTriggersReplaced(
                1, UPLOADS, (f.Trigger("s3:up:0", UPLOADS, THUMB, f.S3_NOTIFICATION),)
            )
        )

    def write(engine: Engine, t: float, key: str) -> None:
        engine.apply(f.Write(t, caller, UPLOADS, key=key, s3_event="ObjectCreated:Put"))

    for second in range(10, 20):
        # Guarded: the marker write sorts before the invocation of the upload that caused it,
        # and the marker's own (writeless) run lands in the same second.
        write(guarded, second, f"{second}.done")
        guarded.apply(f.Invoked(second, THUMB, source=UPLOADS))
        guarded.apply(f.Invoked(second, THUMB, source=UPLOADS))
        # Runaway: the invocation its write causes sorts before the write itself.
        runaway.apply(f.Invoked(second, THUMB, source=UPLOADS))
        write(runaway, second, f"{second}")
    guarded.flush()
    runaway.flush()
    (g,) = guarded.incidents.incidents.values()
    (r,) = runaway.incidents.incidents.values()
    assert g.status == LATENT and g.guarded
    assert r.status == ACTIVE and r.detected_at == 12


def test_activity_counts_out_of_order_events_in_their_own_second() -> None:
    from loopwatch.graph import Activity

    a = Activity(window=300)
    for t in (100.0, 400.0, 101.5, 399.0, 102.0):
        a.add(t)
    assert a.count(102.0) == 3  # nothing from after the window's end
    assert a.count(400.0) == 5  # a 300 s window ending at 400 still holds second 100
    assert a.count(403.0) == 2  # ... and no longer at 403
    assert (a.first, a.last, a.total) == (100.0, 400.0, 5)


def test_a_late_record_from_the_future_does_not_stall_or_skew_detection() -> None:
    """Live input interleaves overlapping CloudTrail files: a file may hold a record minutes
    ahead of the next file's records. The loop must still be active at its 3rd traversal."""
    s = Engine()
    caller = Scenario.caller("thumb")
    s.apply(f.FunctionDeclared(0, THUMB, f"arn:aws:iam::{ACCOUNT}:role/{caller.role}"))
    s.apply(
        f.BucketTriggersReplaced(
            1, UPLOADS, (f.Trigger("s3:up:0", UPLOADS, THUMB, f.S3_NOTIFICATION),)
        )
    )
    s.apply(f.Invoked(300, THUMB, source=UPLOADS))  # a record from 5 minutes ahead comes first
    findings = []
    for i in range(5):
        findings += s.apply(f.Invoked(10 + i, THUMB, source=UPLOADS))
        findings += s.apply(
            f.Write(10.5 + i, caller, UPLOADS, key=f"{i}", s3_event="ObjectCreated:Put")
        )
    findings += s.flush()
    escalated = [x for x in findings if getattr(x, "change", None) == ESCALATED]
    assert len(escalated) == 1 and escalated[0].detected_at == 12


def test_a_finding_carries_the_mappings_and_rates_acting_needs() -> None:
    """DESIGN §6: whichever worker reads a finding can act on it without the engine."""
    s = Scenario()
    jobs = S.queue("jobs")
    worker = S.fn("worker")
    s.mapping(0, "uuid-1", jobs, worker)
    s.mapping(0, "uuid-2", jobs, worker, enabled=False)
    for i in range(4):
        s.invoked(10 + i, worker, source=jobs)
        s.write(10.5 + i, "worker", jobs)
    (escalated,) = s.loop_findings(ESCALATED)
    assert escalated.mappings == ((worker, ("esm:uuid-1",)),)
    assert escalated.mappings_of(worker) == ("esm:uuid-1",)
    assert escalated.rate_of(worker) is not None and escalated.rate_of(worker) > 0
    assert escalated.confirmed and escalated.unknown == ()
