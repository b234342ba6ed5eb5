"""The account-state table is read back from a topic, so only entries this deployment's workers
sealed are restored (``loopwatch.trust.seal_entry``): a forged state — planting an active loop,
unsealed or sealed under another secret — is ignored, and the worker starts that account afresh.

    forged core + parts of an active loop ──► <app>-account-state-changelog
    worker (its own secret) recovers the table ──► /loops: nothing; failures: state-unsealed
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from loopwatch.config import DetectionConfig
from loopwatch.service.app import TABLE
from loopwatch.service.processor import Processor
from loopwatch.service.topics import CLOUDTRAIL
from loopwatch.testing import records as r
from loopwatch.testing.broker import Broker
from loopwatch.testing.worker import running_worker, worker_settings
from loopwatch.trust import RecordKey, open_entry, seal_entry

KEY = RecordKey(b"the-deployments-own-state-secret")
OTHER = RecordKey(b"a-secret-of-somebody-elses-making")


def test_a_sealed_entry_opens_only_under_its_key_and_its_own_table_key() -> None:
    sealed = seal_entry(b"acct", b'{"state": 1}', KEY)
    assert open_entry(b"acct", sealed, KEY) == b'{"state": 1}'
    assert open_entry(b"acct", sealed, OTHER) is None  # another deployment's secret
    assert open_entry(b"other-acct", sealed, KEY) is None  # moved under another key
    assert open_entry(b"acct", b'{"state": 1}', KEY) is None  # never sealed
    assert open_entry(b"acct", sealed[:-1] + b"2", KEY) is None  # changed since
    assert open_entry(b"acct", b"", KEY) is None and open_entry(b"acct", b"s1", KEY) is None
    # Without a secret nothing is sealed and what is found is restored (and acted on never).
    assert seal_entry(b"acct", b"x", None) == b"x" and open_entry(b"acct", b"x", None) == b"x"


def forged_state(account: str, seal_with: RecordKey | None) -> list[tuple[bytes, bytes]]:
    """The table writes of a genuine worker that saw an active S3 self-loop (in ``account``),
    sealed with ``seal_with`` (or not at all): what a forger able to produce would send."""
    worker = Processor(DetectionConfig(), snapshot_interval=1e-6, restore=lambda _: {})
    now = time.time()
    loop = orjson.dumps({"Records": r.s3_self_loop(writes=6)})
    out = worker.process(CLOUDTRAIL, 0, 0, account.encode(), loop, now)
    out.snapshots += worker.tick(now + 1.0).snapshots
    assert any(f for f in out.messages), "the forged state holds a loop"
    writes = [(k, v) for snapshot in out.snapshots for k, v in snapshot.writes if v is not None]
    return [(k, seal_entry(k, v, seal_with)) for k, v in writes]


@pytest.mark.parametrize("seal_with", [None, OTHER], ids=["unsealed", "another-secret"])
def test_a_forged_state_is_not_restored(
    kafka_broker: Broker, tmp_path: Path, seal_with: RecordKey | None
) -> None:
    settings = worker_settings(kafka_broker, tmp_path / "data", partitions=1)
    forged = forged_state(r.ACCOUNT, seal_with)
    changelog = f"{settings.app_id}-{TABLE}-changelog"
    kafka_broker.create_topics({changelog: 1})
    kafka_broker.produce(changelog, forged)

    with running_worker(settings, kafka_broker) as worker:
        service = worker.service
        assert service.metrics.state_refused == len(dict(forged))  # the last value per key
        assert worker.json("/loops")["loops"] == []
        assert r.ACCOUNT not in service.processor.accounts


def test_the_deployments_own_sealed_state_is_restored(kafka_broker: Broker, tmp_path: Path) -> None:
    # The control: the same entries sealed with the worker's own secret bring the loop back.
    settings = worker_settings(kafka_broker, tmp_path / "data", partitions=1)
    assert settings.state_secret is not None
    own = RecordKey(settings.state_secret.get_secret_value().encode())
    changelog = f"{settings.app_id}-{TABLE}-changelog"
    kafka_broker.create_topics({changelog: 1})
    kafka_broker.produce(changelog, forged_state(r.ACCOUNT, own))

    with running_worker(settings, kafka_broker) as worker:
        (loop,) = worker.json("/loops")["loops"]
        assert loop["status"] == "active" and loop["account"] == r.ACCOUNT
        assert worker.service.metrics.state_refused == 0
