"""CloudTrail record handlers, one module per service, registered by event name.

``REGISTRY[eventName][eventSource]`` is the handler for a relevant record; a record whose
name or source is not there carries no fact. Importing this package imports every
service module, which is what fills the registry.
"""

from loopwatch.events.cloudtrail import (  # noqa: F401  (imported to register handlers)
    dynamodb,
    eventbridge,
    kinesis,
    lambda_,
    s3,
    sns,
    sqs,
    states,
)
from loopwatch.events.cloudtrail.base import REGISTRY, Handler, MalformedRecord

__all__ = ["REGISTRY", "Handler", "MalformedRecord"]
