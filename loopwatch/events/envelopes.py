"""Which EventBridge envelopes are CloudTrail's own (docs/trust.md).

    {"detail-type": "AWS API Call via CloudTrail",
     "source": "aws.s3",                       only AWS services put aws.* sources
     "account": "123456789012",                the account the event was put in
     "detail": {…, "recipientAccountId": "123456789012", …}}     ─► a CloudTrail record

    "source": "evil.app"                        ─► rejected: a custom event
    "account": "111111111111" ≠ recipientAccountId  ─► rejected: another account's record

Anyone allowed ``events:PutEvents`` on a bus that forwards to loopwatch can put an event with
any ``detail-type`` and any ``detail``: the detail-type proves nothing. What EventBridge does
not let them choose is the ``source`` prefix ``aws.``, which custom events cannot use, and the
``account``, which is the account the event was put in. So an envelope is taken as a CloudTrail
record only when its source starts with ``aws.`` and its account is the account the record
says it was delivered to (``recipientAccountId``); every other one is rejected with the reason,
as malformed input is (counted by replay, dead-lettered live).
"""

from __future__ import annotations

from collections.abc import Mapping

CLOUDTRAIL_API_CALL = "AWS API Call via CloudTrail"
"""The detail-type of the envelopes whose ``detail`` loopwatch reads as a record (DESIGN §3)."""
VIA_CLOUDTRAIL = " via CloudTrail"
"""The end of every detail-type whose ``detail`` is a CloudTrail record (service events too)."""
AWS_SOURCE = "aws."

NOT_AWS_SOURCE = (
    "an EventBridge envelope whose source is not aws.*: a custom event, not CloudTrail's"
)
OTHER_ACCOUNT = (
    "an EventBridge envelope whose account is not its record's recipientAccountId:"
    " put in another account, not CloudTrail's"
)


def provenance_problem(envelope: Mapping[str, object], detail: Mapping[str, object]) -> str | None:
    """None when ``envelope`` (whose record is ``detail``) can only have been put by CloudTrail;
    otherwise why not (NOT_AWS_SOURCE or OTHER_ACCOUNT). Never raises."""
    source = envelope.get("source")
    if not isinstance(source, str) or not source.startswith(AWS_SOURCE):
        return NOT_AWS_SOURCE
    account = envelope.get("account")
    if not isinstance(account, str) or not account or account != detail.get("recipientAccountId"):
        return OTHER_ACCOUNT
    return None
