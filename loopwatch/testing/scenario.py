"""Build engine facts in a few words, for tests: ``s = Scenario(); s.write("thumb", s.bucket("up"))``.

Times are plain seconds; names become canonical ARNs in one account and region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from loopwatch.config import DetectionConfig
from loopwatch.detect import Engine, Finding, LoopFinding, RunawayFinding
from loopwatch.events import facts as f

ACCOUNT = "111122223333"
REGION = "us-east-1"


@dataclass
class Scenario:
    """An engine plus helpers that feed it facts and keep every finding it produced."""

    config: DetectionConfig = field(default_factory=DetectionConfig)
    findings: list[Finding] = field(default_factory=list)
    declare_functions: bool = True
    """Declare each function (CreateFunction with role ``<name>-role``) when first written by,
    so its loops can be confirmed; False leaves every function presumed (DESIGN §4)."""

    def __post_init__(self) -> None:
        self.engine = Engine(self.config)
        self._declared: set[str] = set()

    def declare(self, time: float, function: str, role: str | None = None) -> None:
        """CreateFunction: ``function`` (an ARN) exists with this execution role."""
        role_name = role or f"{function.rsplit(':', 1)[-1]}-role"
        self._declared.add(function)
        self.apply(f.FunctionDeclared(time, function, f"arn:aws:iam::{ACCOUNT}:role/{role_name}"))

    # -- names -----------------------------------------------------------------------------
    @staticmethod
    def fn(name: str) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"

    @staticmethod
    def bucket(name: str) -> str:
        return f"arn:aws:s3:::{name}"

    @staticmethod
    def queue(name: str) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"

    @staticmethod
    def table(name: str) -> str:
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"

    @staticmethod
    def caller(session: str, role: str | None = None) -> f.Caller:
        return f.Caller(ACCOUNT, REGION, role or f"{session}-role", session)

    # -- facts -----------------------------------------------------------------------------
    def apply(self, fact: f.Fact) -> Sequence[Finding]:
        """Apply a fact and settle its second at once: tests state facts one second apart."""
        out = [*self.engine.apply(fact), *self.engine.flush()]
        self.findings.extend(out)
        return out

    def notify(
        self,
        time: float,
        bucket: str,
        *targets: tuple[str, str, str],
        events: tuple[str, ...] = ("s3:ObjectCreated:*",),
    ) -> None:
        """Replace the bucket's notifications with one trigger per (target, prefix, suffix)."""
        triggers = tuple(
            f.Trigger(
                f"s3:{bucket}:{i}",
                bucket,
                target,
                f.S3_NOTIFICATION,
                events=events,
                prefix=prefix,
                suffix=suffix,
            )
            for i, (target, prefix, suffix) in enumerate(targets)
        )
        self.apply(f.BucketTriggersReplaced(time, bucket, triggers))

    def mapping(
        self, time: float, uuid: str, source: str, function: str, enabled: bool = True
    ) -> None:
        self.apply(
            f.TriggerAdded(
                time,
                f.Trigger(f"esm:{uuid}", source, function, f.EVENT_SOURCE_MAPPING, enabled=enabled),
            )
        )

    def write(
        self,
        time: float,
        function_name: str,
        target: str,
        key: str | None = None,
        event: str | None = None,
    ) -> Sequence[Finding]:
        if target.startswith("arn:aws:s3:::") and event is None:
            event = "ObjectCreated:Put"
        function = self.fn(function_name)
        if self.declare_functions and function not in self._declared:
            self.declare(time, function)
        return self.apply(
            f.Write(time, self.caller(function_name), target, key=key, s3_event=event)
        )

    def invoked(self, time: float, function: str, source: str | None = None) -> Sequence[Finding]:
        return self.apply(f.Invoked(time, function, source=source))

    # -- reading ---------------------------------------------------------------------------
    def loop_findings(self, change: str | None = None) -> list[LoopFinding]:
        return [
            x
            for x in self.findings
            if isinstance(x, LoopFinding) and (change is None or x.change == change)
        ]

    def runaways(self) -> list[RunawayFinding]:
        return [x for x in self.findings if isinstance(x, RunawayFinding)]
