"""SNS: subscriptions (trigger edges) and publishes (write edges).

Subscribe (protocol lambda / sqs)    topic ──sns-subscription──► function / queue
Publish, PublishBatch                caller ──write──► topic

Real records (Elastic's captured test events): an email Subscribe answers
``subscriptionArn: "pending confirmation"`` and is no edge; a Publish carries ``topicArn``
(the topic also in ``resources[]``) and may come from an EC2 instance-profile session
(``assumed-role/<role>/i-…``), which ``loopwatch.graph.identity`` rules out as a function.
"""

from __future__ import annotations

from loopwatch.events import arns
from loopwatch.events.cloudtrail.base import (
    JSON,
    MalformedRecord,
    caller,
    conf_obj,
    conf_request,
    conf_response,
    conf_text,
    count_of,
    event_time,
    handles,
    need,
    request,
    text,
)
from loopwatch.events.cloudtrail.lambda_ import function_node
from loopwatch.events.facts import (
    SNS_SUBSCRIPTION,
    Fact,
    Trigger,
    TriggerAdded,
    TriggerRemoved,
    Write,
)

SNS = "sns.amazonaws.com"


@handles(SNS, "Subscribe")
def subscribed(rec: JSON) -> tuple[Fact, ...]:
    """A ``lambda`` or ``sqs`` subscription; other protocols (email, http…) leave AWS.

    The id is the subscription ARN, so that Unsubscribe finds it; when the response
    lacks one, ``sns:<topic>|<protocol>|<endpoint>`` (which Unsubscribe cannot match).
    A field of the wrong type (a protocol that is no string…) is MalformedRecord.
    """
    params = conf_request(rec)
    protocol = (conf_text(params, "protocol", "requestParameters") or "").lower()
    if protocol not in ("lambda", "sqs"):
        return ()
    topic = arns.canonical(need(params, "topicArn", "requestParameters"))
    endpoint = need(params, "endpoint", "requestParameters")
    target = function_node(rec, endpoint) if protocol == "lambda" else arns.canonical(endpoint)
    subscription = conf_text(conf_response(rec), "subscriptionArn", "responseElements")
    if subscription is None or not subscription.startswith("arn:"):
        subscription = f"sns:{topic}|{protocol}|{endpoint}"
    attributes = conf_obj(params, "attributes", "requestParameters")
    policy = conf_text(attributes, "FilterPolicy", "requestParameters.attributes")
    detail = f"filter policy: {policy}" if policy else ""
    trigger = Trigger(subscription, topic, target, SNS_SUBSCRIPTION, detail=detail)
    return (TriggerAdded(event_time(rec), trigger),)


@handles(SNS, "Unsubscribe")
def unsubscribed(rec: JSON) -> tuple[Fact, ...]:
    subscription = need(request(rec), "subscriptionArn", "requestParameters")
    return (TriggerRemoved(event_time(rec), subscription),)


@handles(SNS, "Publish", "PublishBatch")
def published(rec: JSON) -> tuple[Fact, ...]:
    """A publish to a topic; one to a phone number or a mobile endpoint reaches no node."""
    who = caller(rec)
    if who is None:
        return ()
    params = request(rec)
    topic = text(params, "topicArn")
    if topic is None:
        if text(params, "targetArn") or text(params, "phoneNumber"):
            return ()
        raise MalformedRecord("requestParameters.topicArn is missing or not a string")
    count = count_of(params.get("publishBatchRequestEntries"))
    return (Write(event_time(rec), who, arns.canonical(topic), count=count),)
