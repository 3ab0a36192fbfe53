"""Settings of the validation stage (one section of the campaign YAML)."""

from seilab._settings import Settings


class ValidationSettings(Settings):
    """Settings of the validation stage."""
