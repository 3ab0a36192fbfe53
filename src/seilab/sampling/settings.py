"""Settings of the sampling stage (one section of the campaign YAML)."""

from seilab._settings import Settings


class SamplingSettings(Settings):
    """Settings of the sampling stage."""
