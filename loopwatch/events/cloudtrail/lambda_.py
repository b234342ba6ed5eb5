"""Lambda: functions, event source mappings, destinations and invocations.

CreateEventSourceMapping             queue / stream / table ──event-source-mapping──► function
Put/UpdateFunctionEventInvokeConfig  function ──destination──► queue / topic / bus / function
Invoke (data event)                  an invocation; by a function, also function ──write──► function
LambdaESMDisabled (service event)    Lambda disabled a mapping itself: the edge closes nothing
CreateFunction, UpdateFunctionConfiguration, DeleteFunction: which functions exist, with which role
"""

from __future__ import annotations

from loopwatch.events import arns
from loopwatch.events.cloudtrail.base import (
    JSON,
    MalformedRecord,
    account,
    as_obj,
    caller,
    conf_bool,
    conf_obj,
    conf_request,
    conf_response,
    conf_text,
    event_time,
    handles,
    need,
    obj,
    objects,
    region,
    request,
    response,
    service_principal,
    text,
    versioned,
)
from loopwatch.events.facts import (
    DESTINATION,
    EVENT_SOURCE_MAPPING,
    Fact,
    FunctionDeclared,
    FunctionDeleted,
    Invoked,
    Trigger,
    TriggerAdded,
    TriggerEnabled,
    TriggerRemoved,
    Write,
)

LAMBDA = "lambda.amazonaws.com"


def function_node(rec: JSON, name_or_arn: str) -> str:
    """The function's node id; a bare name takes the record's account and region."""
    if name_or_arn.startswith("arn:"):
        return arns.function_arn(name_or_arn, "", "")
    return arns.function_arn(name_or_arn, account(rec), region(rec))


# --- functions ---------------------------------------------------------------------


@handles(LAMBDA, *versioned("CreateFunction", "UpdateFunctionConfiguration"))
def function_declared(rec: JSON) -> tuple[Fact, ...]:
    """The function and its execution role: CreateFunction20150331 has ``role`` in both
    request and response; UpdateFunctionConfiguration20150331v2 only in the response, and
    may name the function by its full ARN (Stratus Red Team's layer detonation). Older
    records (2015) carry no version suffix (``DeleteFunction``); all spellings register.
    A role (or a name) of the wrong type is MalformedRecord, not a function without a role."""
    params, resp = conf_request(rec), conf_response(rec)
    arn = conf_text(resp, "functionArn", "responseElements")
    name = arn or need(params, "functionName", "requestParameters")
    role = conf_text(params, "role", "requestParameters") or conf_text(
        resp, "role", "responseElements"
    )
    return (FunctionDeclared(event_time(rec), function_node(rec, name), role),)


@handles(LAMBDA, *versioned("DeleteFunction"))
def function_deleted(rec: JSON) -> tuple[Fact, ...]:
    params = conf_request(rec)
    name = need(params, "functionName", "requestParameters")
    # With a qualifier only that version goes; the function itself stays.
    if conf_text(params, "qualifier", "requestParameters") is not None:
        return ()
    return (FunctionDeleted(event_time(rec), function_node(rec, name)),)


# --- event source mappings ---------------------------------------------------------


@handles(LAMBDA, *versioned("CreateEventSourceMapping"))
def mapping_created(rec: JSON) -> tuple[Fact, ...]:
    """A mapping from a queue, stream or table to a function, keyed by its UUID.

    A mapping without ``eventSourceArn`` (self-managed Kafka, MQ brokers) reads from
    outside AWS's resource graph and yields nothing. Real records show ``filterCriteria: {}``
    when the criteria are KMS-encrypted (the Lambda guide's example): no filter is shown.
    A field of the wrong type (``enabled: "no"``, criteria that are no object) is
    MalformedRecord.
    """
    params, resp = conf_request(rec), conf_response(rec)
    source = conf_text(params, "eventSourceArn", "requestParameters") or conf_text(
        resp, "eventSourceArn", "responseElements"
    )
    if source is None:
        return ()
    uuid = _uuid(resp, "responseElements") or need(resp, "UUID", "responseElements")
    name = conf_text(params, "functionName", "requestParameters") or need(
        resp, "functionArn", "responseElements"
    )
    enabled = conf_bool(params, "enabled", "requestParameters")
    trigger = Trigger(
        id=uuid,
        source=arns.canonical(source),
        target=function_node(rec, name),
        via=EVENT_SOURCE_MAPPING,
        enabled=enabled if enabled is not None else True,
        detail=_criteria(params, resp),
    )
    return (TriggerAdded(event_time(rec), trigger),)


@handles(LAMBDA, *versioned("UpdateEventSourceMapping"))
def mapping_updated(rec: JSON) -> tuple[Fact, ...]:
    """``enabled`` switches the edge; a new ``functionName`` re-points it (same id). A field
    of the wrong type is MalformedRecord."""
    params, resp = conf_request(rec), conf_response(rec)
    uuid = _uuid(params, "requestParameters") or need(resp, "uUID", "responseElements")
    enabled = conf_bool(params, "enabled", "requestParameters")
    time = event_time(rec)
    facts: list[Fact] = []
    source = conf_text(resp, "eventSourceArn", "responseElements")
    function = conf_text(resp, "functionArn", "responseElements")
    state = conf_text(resp, "state", "responseElements") or ""
    detail = _criteria(params, resp)
    if conf_text(params, "functionName", "requestParameters") and source and function:
        trigger = Trigger(
            id=uuid,
            source=arns.canonical(source),
            target=arns.canonical(function),
            via=EVENT_SOURCE_MAPPING,
            enabled=enabled if enabled is not None else state not in _DISABLED,
            detail=detail,
        )
        facts.append(TriggerAdded(time, trigger))
    if enabled is not None:
        facts.append(TriggerEnabled(time, uuid, enabled))
    return tuple(facts)


_DISABLED = frozenset({"Disabled", "Disabling"})


@handles(LAMBDA, *versioned("DeleteEventSourceMapping"))
def mapping_deleted(rec: JSON) -> tuple[Fact, ...]:
    params, resp = conf_request(rec), conf_response(rec)
    uuid = _uuid(params, "requestParameters") or need(resp, "uUID", "responseElements")
    return (TriggerRemoved(event_time(rec), uuid),)


def _uuid(parent: JSON, where: str) -> str | None:
    """The mapping's UUID, spelt ``uUID`` (CloudTrail's rendering) or ``UUID``."""
    return conf_text(parent, "uUID", where) or conf_text(parent, "UUID", where)


def _criteria(params: JSON, resp: JSON) -> str:
    """The filter summary of a mapping record's ``filterCriteria`` (the request's, else the
    response's); MalformedRecord when either is of the wrong type."""
    for parent, where in ((params, "requestParameters"), (resp, "responseElements")):
        # A JSON API: ``filters`` is a list, and an empty one (criteria removed) is valid.
        filters = conf_obj(parent, "filterCriteria", where).get("filters")
        if filters is not None and not isinstance(filters, list):
            raise MalformedRecord(f"{where}.filterCriteria.filters is not a list")
        for item in filters or ():
            if not isinstance(item, dict):
                raise MalformedRecord(f"{where}.filterCriteria.filters holds a non-object")
            conf_text(item, "pattern", f"{where}.filterCriteria.filters")
    return filter_summary(params.get("filterCriteria") or resp.get("filterCriteria"))


def filter_summary(criteria: object) -> str:
    """``filter: <pattern> | <pattern>`` for explanations: a filtered mapping may not loop."""
    patterns = [p for f in objects(as_obj(criteria).get("filters")) if (p := text(f, "pattern"))]
    if not patterns:
        return ""
    summary = "filter: " + " | ".join(patterns)
    return summary if len(summary) <= 200 else summary[:199] + "…"


# --- destinations ------------------------------------------------------------------

_OUTCOMES = (("onSuccess", "on-success"), ("onFailure", "on-failure"))


def destination_id(function: str, outcome: str) -> str:
    """``destination:<function ARN>:on-success`` (or ``on-failure``)."""
    return f"destination:{function}:{outcome}"


@handles(LAMBDA, *versioned("PutFunctionEventInvokeConfig", "UpdateFunctionEventInvokeConfig"))
def destinations_set(rec: JSON) -> tuple[Fact, ...]:
    """Destinations as edges function → destination.

    Put replaces the whole configuration, so an outcome it leaves out loses its edge;
    Update changes only the outcomes it names (an empty destination removes one). A
    ``destinationConfig`` or destination of the wrong type is MalformedRecord: read as empty,
    a Put would erase the function's destinations.
    """
    params = conf_request(rec)
    function = function_node(rec, need(params, "functionName", "requestParameters"))
    config = conf_obj(params, "destinationConfig", "requestParameters")
    replace = str(rec["eventName"]).startswith("Put")
    time = event_time(rec)
    facts: list[Fact] = []
    for key, outcome in _OUTCOMES:
        trigger_id = destination_id(function, outcome)
        where = f"destinationConfig.{key}"
        destination = conf_text(conf_obj(config, key, "destinationConfig"), "destination", where)
        if destination is not None:
            trigger = Trigger(
                trigger_id, function, arns.canonical(destination), DESTINATION, detail=outcome
            )
            facts.append(TriggerAdded(time, trigger))
        elif replace or key in config:
            facts.append(TriggerRemoved(time, trigger_id))
    return tuple(facts)


@handles(LAMBDA, *versioned("DeleteFunctionEventInvokeConfig"))
def destinations_deleted(rec: JSON) -> tuple[Fact, ...]:
    function = function_node(rec, need(request(rec), "functionName", "requestParameters"))
    time = event_time(rec)
    return tuple(TriggerRemoved(time, destination_id(function, o)) for _, o in _OUTCOMES)


# --- mappings Lambda disables itself ------------------------------------------------


@handles(LAMBDA, "LambdaESMDisabled")
def mapping_disabled_by_lambda(rec: JSON) -> tuple[Fact, ...]:
    """Lambda turned a mapping off by itself (SQS, DynamoDB and Kinesis sources only).

    A service event that CloudTrail logs by default, as a data event. Its published parts
    (Lambda developer guide, "Using CloudTrail to troubleshoot disabled event sources") are
    the name and ``serviceEventDetails.ESMDisableReason`` ("Lambda Function not found",
    permission errors…); AWS publishes no complete record, so the mapping's UUID is read
    from wherever a record carries one: ``serviceEventDetails`` (``UUID``/``uUID``/``uuid``),
    ``requestParameters``/``responseElements`` (``uUID``), or a resource ARN
    ``arn:aws:lambda:<r>:<a>:event-source-mapping:<uuid>``. A record naming no mapping is
    malformed: it cannot say which edge stopped.
    """
    details = obj(rec, "serviceEventDetails")
    uuid = (
        text(details, "UUID")
        or text(details, "uUID")
        or text(details, "uuid")
        or text(request(rec), "uUID")
        or text(response(rec), "uUID")
        or _mapping_resource(rec)
    )
    if uuid is None:
        raise MalformedRecord("LambdaESMDisabled names no event source mapping")
    return (TriggerEnabled(event_time(rec), uuid, False),)


def _mapping_resource(rec: JSON) -> str | None:
    for resource in objects(rec.get("resources")):
        arn = text(resource, "ARN") or ""
        _, found, uuid = arn.partition(":event-source-mapping:")
        if found and uuid:
            return uuid
    return None


# --- invocations -------------------------------------------------------------------


@handles(LAMBDA, *versioned("Invoke"))
def invoked(rec: JSON) -> tuple[Fact, ...]:
    """One invocation, and who made it.

    Real shapes (aidansteele's published data events, the serverless blog's S3 one):

    - a trigger service: ``userIdentity {type: AWSService, invokedBy: s3.amazonaws.com}``,
      ``requestParameters {functionName: <ARN, maybe qualified>, sourceArn, sourceAccount,
      invocationType}``. ``sourceArn`` is the trigger: a bucket, queue, topic… For
      EventBridge it is the **rule** (``…:rule/<name>`` on the default bus,
      ``…:rule/<bus>/<name>`` otherwise); ``arns.canonical`` turns it into the bus node,
      the one the loop runs through.
    - Step Functions: ``userIdentity {type: AssumedRole, invokedBy: states.amazonaws.com,
      arn: …assumed-role/<state machine's execution role>/<random 32-letter session>}``,
      ``requestParameters: null``, the function only in ``resources[]``. Nothing names the
      state machine; its execution role is the one trace, so the fact carries the role and
      the engine finds the state machine that runs as it (or the only one configured to
      invoke the function). The session is not a function and makes no write.
    - a function (or anyone else) through the API: an AssumedRole without ``invokedBy``:
      an invocation, plus a write caller → function that counts only if the caller turns
      out to be a function (``loopwatch.graph.identity``). A caller-supplied ``sourceArn``
      is no trigger: only a service's is.
    - ``InvokeExecution`` (same requestID, invokedBy lambda.amazonaws.com) is the second
      record of an asynchronous invoke, the run itself: not registered, else one
      invocation would count twice.
    """
    params = request(rec)
    name = next(
        (
            arn
            for r in objects(rec.get("resources"))
            if r.get("type") == "AWS::Lambda::Function" and (arn := text(r, "ARN"))
        ),
        None,
    ) or need(params, "functionName", "requestParameters")
    function = function_node(rec, name)
    time = event_time(rec)
    identity = obj(rec, "userIdentity")
    service = service_principal(identity)
    if service is None:
        who = caller(rec)
        if who is None:  # a person or an account root: counts as a run, triggers nothing
            return (Invoked(time, function),)
        return (Invoked(time, function), Write(time, who, function))
    source = text(params, "sourceArn")
    role = None
    if identity.get("type") == "AssumedRole":
        who = caller(rec)
        role = f"arn:aws:iam::{who.account}:role/{who.role}" if who is not None else None
    return (Invoked(time, function, arns.canonical(source) if source else None, service, role),)
