"""The service's topics, and creating them with the configured partitions.

    <prefix>.cloudtrail    CloudTrail records, envelopes, or whole log files per message
    <prefix>.invocations   invocation events, single or batched
    <prefix>.findings      loops, runaways and incident changes, as JSON
    <prefix>.deadletter    what could not be read, with the reason and the original bytes

Messages are keyed by AWS account id, so one account's graph lives on one partition.
"""

from __future__ import annotations

from loopwatch.settings import Settings

CLOUDTRAIL = "cloudtrail"
INVOCATIONS = "invocations"
FINDINGS = "findings"
DEADLETTER = "deadletter"
ALL = (CLOUDTRAIL, INVOCATIONS, FINDINGS, DEADLETTER)

# Kafka's TOPIC_ALREADY_EXISTS error code: creating topics is idempotent for us.
_ALREADY_EXISTS = 36


def bootstrap(settings: Settings) -> str:
    """``host:port`` of the configured broker; ValueError when none is configured."""
    if not settings.kafka_broker:
        raise ValueError("no Kafka broker configured: set LOOPWATCH_KAFKA_BROKER=host:port")
    return settings.kafka_broker.removeprefix("kafka://")


async def create_topics(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Create the four topics (already existing ones are fine); their names."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    names = [settings.topic(name) for name in ALL]
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap(settings), request_timeout_ms=int(timeout * 1000)
    )
    await admin.start()
    try:
        wanted = [
            NewTopic(name, settings.partitions, settings.replication_factor) for name in names
        ]
        response = await admin.create_topics(wanted)
        for name, code, *message in response.topic_errors:
            if code not in (0, _ALREADY_EXISTS):
                raise RuntimeError(f"cannot create topic {name}: Kafka error {code} {message}")
    finally:
        await admin.close()
    return names
