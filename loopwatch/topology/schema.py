"""The YAML topology format, validated at the edge (pydantic v2, strict, no unknown keys).

These models only describe the file; ``loopwatch.topology.loader`` checks cross references
and turns them into the frozen domain types of ``loopwatch.topology.model``. See
``topologies/README.md`` for the format as users read it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


Ref = Annotated[
    str, Field(pattern=r"^(s3|sqs|sns|dynamodb|kinesis|events|states|fn):[A-Za-z0-9._/-]+$")
]
S3Op = Literal["put", "copy", "delete"]


class WriteDoc(_Strict):
    to: Ref
    items: int = Field(default=1, ge=1, le=100)
    key: str | None = None
    op: S3Op = "put"
    marker: bool = False
    guard: Literal["marker"] | None = None


class FunctionDoc(_Strict):
    role: str | None = None
    writes: list[WriteDoc] = []


class StateMachineDoc(_Strict):
    role: str | None = None


class ResourcesDoc(_Strict):
    buckets: list[str] = []
    queues: list[str] = []
    topics: list[str] = []
    tables: list[str] = []
    streams: list[str] = []
    buses: list[str] = []
    state_machines: dict[str, StateMachineDoc] = {}
    functions: dict[str, FunctionDoc] = {}


class S3NotificationDoc(_Strict):
    kind: Literal["s3-notification"]
    bucket: str
    target: Ref
    events: list[str] = ["s3:ObjectCreated:*"]
    prefix: str = ""
    suffix: str = ""


class MappingDoc(_Strict):
    kind: Literal["event-source-mapping"]
    source: Ref
    function: str
    enabled: bool = True


class SubscriptionDoc(_Strict):
    kind: Literal["sns-subscription"]
    topic: str
    endpoint: Ref


class RuleDoc(_Strict):
    kind: Literal["eventbridge-rule"]
    bus: str = "default"
    rule: str
    targets: list[Ref] = Field(min_length=1)


class DestinationDoc(_Strict):
    kind: Literal["destination"]
    function: str
    when: Literal["success", "failure"] = "success"
    destination: Ref


class StateMachineTaskDoc(_Strict):
    kind: Literal["state-machine-task"]
    machine: str
    function: str


TriggerDoc = Annotated[
    S3NotificationDoc
    | MappingDoc
    | SubscriptionDoc
    | RuleDoc
    | DestinationDoc
    | StateMachineTaskDoc,
    Field(discriminator="kind"),
]


class ObserveDoc(_Strict):
    invokes: bool = False
    invocation_events: bool = False


class SeedDoc(_Strict):
    by: str = "deployer"
    role: str | None = None
    to: Ref
    key: str | None = None
    op: S3Op = "put"
    rate_per_min: float = Field(default=1.0, gt=0, strict=False)
    growth_per_min: float = Field(default=1.0, gt=0, strict=False)
    start: float = Field(default=0.0, ge=0, strict=False)
    duration: float = Field(default=60.0, gt=0, strict=False)
    count: int | None = Field(default=None, ge=1)


class TrafficDoc(_Strict):
    # Not strict: YAML gives a datetime for an unquoted timestamp and a str for a quoted one.
    start: datetime = Field(
        default=datetime.fromisoformat("2026-10-05T14:00:00+00:00"), strict=False
    )
    duration: float = Field(default=300.0, gt=0, le=6 * 3600, strict=False)
    seed: int = 1
    max_events: int = Field(default=3000, ge=1, le=100_000)
    seeds: list[SeedDoc] = Field(min_length=1)
    configured_before_trail: bool = False


class ExpectedLoopDoc(_Strict):
    cycle: list[Ref] = Field(min_length=2)
    status: Literal["active", "latent"]
    confirmed: bool = True


class ExpectedRunawayDoc(_Strict):
    function: Ref
    confirmed: bool = True


class ExpectDoc(_Strict):
    loops: list[ExpectedLoopDoc] = []
    runaway: list[Ref | ExpectedRunawayDoc] = []


class TopologyDoc(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str
    account: str = Field(default="111122223333", pattern=r"^[0-9]{12}$")
    region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
    resources: ResourcesDoc
    triggers: list[TriggerDoc] = []
    observe: ObserveDoc = ObserveDoc()
    traffic: TrafficDoc
    expect: ExpectDoc
    expect_with_inventory: ExpectDoc | None = None
