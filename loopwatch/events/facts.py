"""What the engine learns from one record: small frozen facts.

    CloudTrail record / EventBridge envelope / invocation event
            │ parse (loopwatch.events.records)
            ▼
    Fact … Fact   ──►  engine (loopwatch.detect)

Times are seconds since the Unix epoch (UTC), taken from the record's own event time, never
from the wall clock. Node ids are canonical unqualified ARNs (see ``loopwatch.events.arns``).
A fact names callers, not functions: whether an assumed-role session is a Lambda function
depends on what the engine has learned so far (DESIGN §4), so the engine resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass

# How a trigger edge came to be; shown in explanations and used to choose a fix hint.
S3_NOTIFICATION = "s3-notification"
EVENT_SOURCE_MAPPING = "event-source-mapping"
SNS_SUBSCRIPTION = "sns-subscription"
EVENTBRIDGE_RULE = "eventbridge-rule"
DESTINATION = "destination"
# A state machine's Task invokes the function (inventory: its definition; CloudTrail hides it).
STATE_MACHINE = "state-machine"


@dataclass(frozen=True, slots=True)
class Caller:
    """The assumed-role identity behind a call.

    ``arn:aws:sts::<account>:assumed-role/<role>/<session>`` → Caller(account, region, role,
    session). ``region`` is the record's ``awsRegion``: a function named only by its session
    takes it. ``invoked_by`` is ``userIdentity.invokedBy`` when a service made the call with
    the role (Step Functions, an event source poller): such a caller is never a function.
    """

    account: str
    region: str
    role: str
    session: str
    invoked_by: str | None = None


#   resource ──trigger──► function        (s3 notification, mapping, subscription, rule)
#   resource ──trigger──► queue / topic   (s3 notification to SQS/SNS, SNS → SQS)
#   function ──trigger──► destination     (on-success / on-failure destinations)
#   state machine ──trigger──► function   (Task states that invoke it)
@dataclass(frozen=True, slots=True)
class Trigger:
    """A configured edge that makes ``target`` run (or receive) when ``source`` changes.

    ``id`` is stable across updates of the same configuration (the mapping's UUID, the
    subscription ARN, ``bus/rule/target-id``), so updates and deletes find it.
    ``events`` and ``prefix``/``suffix`` only matter for S3 notifications: ``events`` holds
    S3 event names as configured (``s3:ObjectCreated:*``, ``s3:ObjectRemoved:Delete``…),
    empty meaning every event. ``detail`` is free text for explanations (rule name,
    filter criteria).
    """

    id: str
    source: str
    target: str
    via: str
    enabled: bool = True
    events: tuple[str, ...] = ()
    prefix: str = ""
    suffix: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FunctionDeclared:
    """CreateFunction / UpdateFunctionConfiguration: a function exists, with this role."""

    time: float
    function: str
    role: str | None  # execution role ARN, when the record carries it


@dataclass(frozen=True, slots=True)
class FunctionsListed:
    """The inventory listed every function of ``account`` (ListFunctions answered in every
    region it read), each declared by its own ``FunctionDeclared``: from now on a session name
    that is none of the account's known functions is not a function (DESIGN §4)."""

    time: float
    account: str


@dataclass(frozen=True, slots=True)
class StateMachineDeclared:
    """CreateStateMachine / UpdateStateMachine: a state machine runs as this execution role.

    Step Functions invokes a function as that role and names no state machine (see
    ``loopwatch.events.cloudtrail.lambda_``), so the role is how the invoker is recognised.
    """

    time: float
    machine: str
    role: str


@dataclass(frozen=True, slots=True)
class FunctionDeleted:
    time: float
    function: str


@dataclass(frozen=True, slots=True)
class TriggerAdded:
    """A trigger edge appears, or replaces the one with the same ``trigger.id``."""

    time: float
    trigger: Trigger


@dataclass(frozen=True, slots=True)
class BucketTriggersReplaced:
    """PutBucketNotification: the bucket's notification triggers become exactly these.

    ``bucket`` is the canonical bucket ARN (``arn:aws:s3:::<name>``).
    """

    time: float
    bucket: str
    triggers: tuple[Trigger, ...]


@dataclass(frozen=True, slots=True)
class TriggerEnabled:
    """UpdateEventSourceMapping with ``enabled``: the mapping keeps existing but may close nothing."""

    time: float
    trigger_id: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class TriggerRemoved:
    time: float
    trigger_id: str


@dataclass(frozen=True, slots=True)
class Write:
    """A data event: ``caller`` changed ``target`` (``count`` items, e.g. a batch send).

    For S3, ``key`` is the object key and ``s3_event`` the notification event it raises
    (``ObjectCreated:Put``, ``ObjectCreated:Copy``, ``ObjectCreated:CompleteMultipartUpload``,
    ``ObjectRemoved:Delete``); both are None elsewhere, and ``key`` is None when the record
    does not say it.
    """

    time: float
    caller: Caller
    target: str
    count: int = 1
    key: str | None = None
    s3_event: str | None = None


@dataclass(frozen=True, slots=True)
class Invoked:
    """One invocation of ``function``.

    ``source`` is the ARN of the resource whose trigger caused it, when known (an invocation
    event's ``source``, an Invoke data event's ``sourceArn``). ``service`` is the invoking
    service principal (``s3.amazonaws.com``) when only that is known. ``role`` is the role ARN
    the service invoked as, when it used one (Step Functions: its state machine's execution
    role, the only trace of which state machine it was). An invocation by another function
    arrives as a separate ``Write`` whose target is this function.
    """

    time: float
    function: str
    source: str | None = None
    service: str | None = None
    role: str | None = None


Fact = (
    FunctionDeclared
    | FunctionsListed
    | StateMachineDeclared
    | FunctionDeleted
    | TriggerAdded
    | BucketTriggersReplaced
    | TriggerEnabled
    | TriggerRemoved
    | Write
    | Invoked
)
