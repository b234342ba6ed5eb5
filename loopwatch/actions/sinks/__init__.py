"""Alert sinks: the registry, and the sinks that ship with loopwatch (imported to register)."""

from loopwatch.actions.sinks import slack, webhook
from loopwatch.actions.sinks.registry import Rendered, Sink, registered, sink, sink_for

__all__ = ["Rendered", "Sink", "registered", "sink", "sink_for", "slack", "webhook"]
