"""Settings of the learning stage (one section of the campaign YAML)."""

from seilab._settings import Settings


class LearningSettings(Settings):
    """Settings of the learning stage."""
