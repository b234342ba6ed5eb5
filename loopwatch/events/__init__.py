"""Reading the world: record parsing, canonical ARNs and input sources.

Nothing here keeps state between records; the engine (``loopwatch.detect``) does.
"""
