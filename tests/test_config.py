"""Detection knobs: defaults and validation in one place (DetectionConfig), which the
environment's Settings take as they are."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from loopwatch.config import DetectionConfig
from loopwatch.settings import Settings

BAD = {
    "horizon_seconds": ("0", "horizon must be a positive"),
    "window_seconds": ("-1", "window must be a positive"),
    "active_after": ("0", "active_after must be at least 1"),
    "min_gain": ("0", "min_gain must be positive"),
    "max_cycle_length": ("33", "max_cycle_length must be from 1 to 32"),
    "rate_window_seconds": ("0", "rate_window must be a positive"),
    "rate_floor_per_min": ("-5", "rate_floor_per_min must be 0 or more"),
    "rate_growth": ("1", "rate_growth must be more than 1"),
    "rate_growth_windows": ("0", "rate_growth_windows must be at least 1"),
    "rate_ceiling_per_min": ("0", "rate_ceiling_per_min positive"),
    "quiet_seconds": ("0", "quiet must be a positive"),
}


def test_settings_defaults_are_the_engines() -> None:
    assert Settings().detection() == DetectionConfig()


@pytest.mark.parametrize("field", list(BAD))
def test_a_bad_knob_is_refused_with_the_engines_reason(
    field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    value, reason = BAD[field]
    monkeypatch.setenv(f"LOOPWATCH_{field.upper()}", value)
    with pytest.raises(ValidationError, match=reason):
        Settings()


def test_every_detection_knob_has_a_setting() -> None:
    knobs = {f.name for f in dataclasses.fields(DetectionConfig)}
    assert len(knobs) == len(BAD)
