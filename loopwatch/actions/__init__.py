"""Acting on findings: alerts to webhooks, and throttling with reserved concurrency 0.

    findings ──► Actions.handle ──► Throttler (boto3, in a thread) ──► Ledger + audit records
                                └─► Dispatcher ──► sinks (webhook, slack) ──► dead letter

``release`` / ``release_incident`` / ``held`` undo and list what loopwatch holds.
"""

from loopwatch.actions.alert import Alert, alert_for, idempotency_key, payload
from loopwatch.actions.aws import AwsFailure, LambdaAccess
from loopwatch.actions.delivery import DeadLetter, Delivered, Dispatcher, RetryPolicy
from loopwatch.actions.ledger import Hold, JsonFileLedger, Ledger, LedgerError, MemoryLedger
from loopwatch.actions.outcomes import AuditRecord, Outcome
from loopwatch.actions.release import ReleaseReport, held, release, release_incident
from loopwatch.actions.run import (
    ActionReport,
    Actions,
    access_from_settings,
    ledger_from_settings,
    loops_url,
    sinks_from_settings,
)
from loopwatch.actions.signing import verify_signature
from loopwatch.actions.sinks import Sink, sink, sink_for
from loopwatch.actions.throttle import ThrottleConfig, Throttler, ThrottleReport

__all__ = [
    "ActionReport",
    "Actions",
    "Alert",
    "AuditRecord",
    "AwsFailure",
    "DeadLetter",
    "Delivered",
    "Dispatcher",
    "Hold",
    "JsonFileLedger",
    "LambdaAccess",
    "Ledger",
    "LedgerError",
    "MemoryLedger",
    "Outcome",
    "ReleaseReport",
    "RetryPolicy",
    "Sink",
    "ThrottleConfig",
    "ThrottleReport",
    "Throttler",
    "access_from_settings",
    "alert_for",
    "held",
    "idempotency_key",
    "ledger_from_settings",
    "loops_url",
    "payload",
    "release",
    "release_incident",
    "sink",
    "sink_for",
    "sinks_from_settings",
    "verify_signature",
]
