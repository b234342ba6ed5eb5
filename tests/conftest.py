"""Shared fixtures: the session's Kafka broker comes from loopwatch's own testing plugin."""

pytest_plugins = (
    "loopwatch.testing.broker",
)  # session fixture `kafka_broker` (Tansu or $LOOPWATCH_TEST_KAFKA)
