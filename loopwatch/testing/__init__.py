"""Helpers for tests of loopwatch and of code that uses it: records, scenarios, servers."""
