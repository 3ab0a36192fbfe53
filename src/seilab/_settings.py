"""Base class for every settings model (the campaign YAML is made of these)."""

from pydantic import BaseModel, ConfigDict


class Settings(BaseModel):
    """Strict settings: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def distinct_names(v):
    """Validator body for an optional list of phase names: non-empty and without repeats."""
    if v is not None and (not v or len(set(v)) != len(v)):
        raise ValueError("give a non-empty list of distinct phase names (or leave it out)")
    return v


def distinct_temperatures(v):
    """Validator body for a list of MD temperatures (K): each in (0, 10000), no repeats; as floats."""
    if any(not (0 < t < 1e4) for t in v):
        raise ValueError(f"temperatures must be in (0, 10000) K, got {v}")
    if len(set(v)) != len(v):
        raise ValueError("repeated temperature")
    return [float(t) for t in v]
