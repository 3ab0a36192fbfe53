"""Settings of the training stage (one section of the campaign YAML)."""

from seilab._settings import Settings


class TrainingSettings(Settings):
    """Settings of the training stage."""
