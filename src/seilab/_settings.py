"""Base class for every settings model (the campaign YAML is made of these)."""

from pydantic import BaseModel, ConfigDict


class Settings(BaseModel):
    """Strict settings: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
