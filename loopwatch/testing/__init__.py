"""Helpers for tests, shipped in the package so every test suite can reuse them.

``records``: realistic CloudTrail records, EventBridge envelopes and invocation events.
``aws``: a local AWS API emulator (moto server on 127.0.0.1) and clients pointed at it; a
server that rejects every credential as AWS does; an environment without credentials.
``ports``: a closed port, and a port held by a listener, on 127.0.0.1.
``scenario``: engine facts in a few words.
``data``: third-party data sets beside the repository (skip when absent).
``browser``, ``png``: a headless Chromium from its command line, and its screenshots read back.
``inventory``: an AWS estate with a trigger of every kind, built in the emulator.
``trail``: a trail's buckets announcing new files on a queue (S3, SNS, EventBridge), in the
emulator, and records cut into CloudTrail-named log files.
``processes``: ``loopwatch up`` as a process of its own, and every process it started (/proc).
"""
