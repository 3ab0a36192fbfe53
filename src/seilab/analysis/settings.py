"""Settings of the analysis stage (one section of the campaign YAML)."""

from seilab._settings import Settings


class AnalysisSettings(Settings):
    """Settings of the analysis stage."""
