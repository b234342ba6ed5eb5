"""The always-on service: Kafka topics, Faust agents and web views around the pure engine.

Modules without Faust (``decode``, ``accounts``) hold the logic and are tested without a
broker; the Faust modules only move bytes between topics and those.
"""
