"""Detection knobs: defaults and validation in one place (DetectionConfig), which the
environment's Settings take as they are."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from loopwatch.config import DetectionConfig
from loopwatch.settings import Settings

# setting → (its knob, a bad value, what DetectionConfig says of it)
BAD = {
    "horizon_seconds": ("horizon", 0, "horizon must be more than 0"),
    "window_seconds": ("window", -1, "window must be more than 0"),
    "active_after": ("active_after", 0, "active_after must be at least 1"),
    "min_gain": ("min_gain", 0, "min_gain must be more than 0"),
    "max_cycle_length": ("max_cycle_length", 33, "max_cycle_length must be at most 32"),
    "rate_window_seconds": ("rate_window", 0, "rate_window must be more than 0"),
    "rate_floor_per_min": ("rate_floor_per_min", -5, "rate_floor_per_min must be at least 0"),
    "rate_growth": ("rate_growth", 1, "rate_growth must be more than 1"),
    "rate_growth_windows": ("rate_growth_windows", 0, "rate_growth_windows must be at least 1"),
    "rate_ceiling_per_min": ("rate_ceiling_per_min", 0, "rate_ceiling_per_min must be more than 0"),
    "quiet_seconds": ("quiet", 0, "quiet must be more than 0"),
}


def test_settings_defaults_are_the_engines() -> None:
    assert Settings().detection() == DetectionConfig()


@pytest.mark.parametrize("field", list(BAD))
def test_a_bad_knob_is_refused_by_the_engine_and_the_settings_alike(
    field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    knob, value, reason = BAD[field]
    with pytest.raises(ValueError, match=reason):
        DetectionConfig(**{knob: value})
    monkeypatch.setenv(f"LOOPWATCH_{field.upper()}", str(value))
    with pytest.raises(ValidationError):  # the same bounds (config.BOUNDS) on the field
        Settings()


def test_every_detection_knob_has_a_setting() -> None:
    knobs = {f.name for f in dataclasses.fields(DetectionConfig)}
    assert len(knobs) == len(BAD)
