"""Canonical node ids: unqualified ARNs, one per resource (DESIGN §4).

Every node of the graph is named by the ARN this module builds, so that a queue named by URL
in SendMessage, by ARN in a mapping and by ARN in an invocation event is one node. Functions
lose their alias or version; DynamoDB stream ARNs collapse onto their table.

The same grammar judges the function patterns people write (``LOOPWATCH_PROTECTED_FUNCTIONS``):
``function_pattern_problem`` says why a pattern can match no function, so a typo is refused
where it is set instead of protecting nothing.
"""

from __future__ import annotations

import re
import string

FUNCTION = "function"
BUCKET = "bucket"
QUEUE = "queue"
TOPIC = "topic"
TABLE = "table"
STREAM = "stream"
EVENT_BUS = "event-bus"
STATE_MACHINE = "state-machine"
OTHER = "resource"


def function_arn(name_or_arn: str, account: str, region: str) -> str:
    """The unqualified function ARN for a name, partial ARN or (qualified) ARN.

    Lambda accepts ``name``, ``name:alias``, ``account:function:name`` and full ARNs wherever
    it takes a function; a bare name takes the record's account and region.
    """
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        # arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]
        if len(parts) >= 7:
            return ":".join(parts[:7])
        return name_or_arn
    parts = name_or_arn.split(":")
    if len(parts) >= 3 and parts[1] == "function":  # <account>:function:<name>[:qualifier]
        return f"arn:aws:lambda:{region}:{parts[0]}:function:{parts[2]}"
    return f"arn:aws:lambda:{region}:{account}:function:{parts[0]}"


def unqualified_function(name_or_arn: str) -> str:
    """A function name, partial ARN (``<account>:function:<name>``) or ARN without its
    qualifier (alias, version or ``$LATEST``), in the same spelling: ``thumb:prod`` → ``thumb``.
    Patterns of them too: ``payments-*:prod`` → ``payments-*``."""
    parts = name_or_arn.split(":")
    if parts[0] == "arn":
        keep = 7  # arn:<partition>:lambda:<region>:<account>:function:<name>
    elif len(parts) >= 3 and parts[1] == FUNCTION:
        keep = 3
    else:
        keep = 1
    return ":".join(parts[:keep])


FUNCTION_NAME_LIMIT = 64
"""Characters of a Lambda function name: letters, digits, ``-`` and ``_``."""
_NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_")
_LATEST = ":$LATEST"
_SHAPES = "a name, name:qualifier, <account>:function:<name> or a function ARN"


def function_pattern_problem(pattern: str) -> str | None:
    """Why the fnmatch ``pattern`` of a function name, partial ARN or ARN (maybe qualified)
    can match no function, in a few words; None when it can. Wildcards are ``*``, ``?`` and
    ``[...]`` of name characters; any other character must be one a name or ARN can hold."""
    if not pattern:
        return "it is empty"
    body = pattern.removesuffix(_LATEST)
    index = 0
    while index < len(body):
        char = body[index]
        if char == "[":
            end = body.find("]", index + 1)
            if end < 0:
                return "a '[' is never closed"
            members = body[index + 1 : end].removeprefix("!")
            if not members or not set(members) <= _NAME_CHARACTERS:
                return f"{body[index : end + 1]!r} is no set of name characters"
            index = end
        elif char not in _NAME_CHARACTERS and char not in "*?:":
            hint = " (separate items with ',')" if char == ";" else ""
            return f"{char!r} is in no function name or ARN{hint}"
        index += 1
    unqualified = unqualified_function(pattern)
    parts = unqualified.split(":")
    name = parts[-1]
    if not name or pattern.endswith(":"):
        return "a name or qualifier is missing"
    if len(re.sub(r"\[[^]]*\]", "?", name).replace("*", "")) > FUNCTION_NAME_LIMIT:
        return f"a function name is at most {FUNCTION_NAME_LIMIT} characters"
    if "*" in pattern or "?" in pattern:
        return None  # a wildcard may stand for ':', so the parts need not be where they seem
    arn = len(parts) == 7 and parts[0] == "arn" and parts[2] == "lambda" and parts[5] == FUNCTION
    partial = len(parts) == 3 and parts[1] == FUNCTION
    qualifiers = pattern.count(":") - unqualified.count(":")
    if not (arn or partial or len(parts) == 1) or qualifiers > 1:
        return f"not {_SHAPES}"
    return None


def bucket_arn(bucket: str) -> str:
    if bucket.startswith("arn:"):
        return bucket.split("/", 1)[0]
    return f"arn:aws:s3:::{bucket}"


def queue_arn_from_url(url: str, region: str) -> str:
    """``https://sqs.<region>.amazonaws.com/<account>/<queue>`` (or a legacy host) → queue ARN."""
    if url.startswith("arn:"):
        return url
    path = url.split("://", 1)[-1].split("/")
    if len(path) < 3 or not path[1] or not path[2]:
        raise ValueError(f"not an SQS queue URL: {url!r}")
    host = path[0]
    host_parts = host.split(".")
    if host_parts[0] == "sqs" and len(host_parts) > 2:
        region = host_parts[1]
    elif len(host_parts) > 1 and host_parts[1] == "queue":  # <region>.queue.amazonaws.com
        region = host_parts[0]
    return f"arn:aws:sqs:{region}:{path[1]}:{path[2]}"


def table_arn(name_or_arn: str, account: str, region: str) -> str:
    """A table name, table ARN or stream ARN (``…table/<t>/stream/<label>``) → table ARN."""
    if name_or_arn.startswith("arn:"):
        head, _, rest = name_or_arn.partition("table/")
        return f"{head}table/{rest.split('/', 1)[0]}" if rest else name_or_arn
    return f"arn:aws:dynamodb:{region}:{account}:table/{name_or_arn}"


def kinesis_stream_arn(name_or_arn: str, account: str, region: str) -> str:
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    return f"arn:aws:kinesis:{region}:{account}:stream/{name_or_arn}"


def event_bus_arn(name_or_arn: str | None, account: str, region: str) -> str:
    """An event bus name or ARN; None or empty means the account's ``default`` bus."""
    if name_or_arn and name_or_arn.startswith("arn:"):
        return name_or_arn
    return f"arn:aws:events:{region}:{account}:event-bus/{name_or_arn or 'default'}"


def rule_bus_arn(rule_arn: str) -> str:
    """The bus an EventBridge rule ARN belongs to.

    ``arn:aws:events:<r>:<a>:rule/<name>`` is a rule of the default bus, and
    ``…:rule/<bus>/<name>`` one of bus ``<bus>``. Rule names hold no ``/`` but partner bus
    names do (``aws.partner/<saas>/<name>``), so the bus is everything before the last one.
    """
    head, _, rest = rule_arn.partition(":rule/")
    bus = rest.rpartition("/")[0] or "default"
    return f"{head}:event-bus/{bus}"


def canonical(arn: str) -> str:
    """Any ARN as its node id: qualifiers (function or state machine versions and aliases)
    stripped, streams of tables folded onto the table, an EventBridge rule (a real Invoke's
    ``sourceArn``) onto its bus."""
    if arn.startswith("arn:aws:lambda:"):
        parts = arn.split(":")
        if len(parts) >= 7 and parts[5] == "function":
            return ":".join(parts[:7])
        return arn
    if arn.startswith("arn:aws:states:"):
        # arn:aws:states:<region>:<account>:stateMachine:<name>[:<version or alias>]
        parts = arn.split(":")
        if len(parts) > 7 and parts[5] == "stateMachine":
            return ":".join(parts[:7])
        return arn
    if arn.startswith("arn:aws:dynamodb:") and "/stream/" in arn:
        return arn.split("/stream/", 1)[0]
    if arn.startswith("arn:aws:s3:::"):
        return bucket_arn(arn)
    if arn.startswith("arn:aws:events:") and ":rule/" in arn:
        return rule_bus_arn(arn)
    return arn


def kind(node: str) -> str:
    """What sort of resource a canonical node id names."""
    parts = node.split(":", 6)
    service = parts[2] if len(parts) > 2 else ""
    resource = parts[5] if len(parts) > 5 else ""
    if service == "lambda" and resource == "function":
        return FUNCTION
    return _KIND_BY_SERVICE.get(service, OTHER) if service != "dynamodb" else TABLE


_KIND_BY_SERVICE = {
    "s3": BUCKET,
    "sqs": QUEUE,
    "sns": TOPIC,
    "kinesis": STREAM,
    "events": EVENT_BUS,
    "states": STATE_MACHINE,
}


def is_function(node: str) -> bool:
    return node.startswith("arn:aws:lambda:") and ":function:" in node


def name(node: str) -> str:
    """The short name people use: bucket, queue, table, function name."""
    if node.startswith("arn:aws:s3:::"):
        return node[len("arn:aws:s3:::") :]
    tail = node.rsplit(":", 1)[-1]
    return tail.rsplit("/", 1)[-1]


def label(node: str) -> str:
    """``bucket uploads``, ``function thumbnailer``, ``queue jobs``: a node as people say it."""
    return f"{kind(node)} {name(node)}"
