"""loopwatch: catches runaway AWS Lambda loops from CloudTrail and invocation events."""

__version__ = "0.1.0"
