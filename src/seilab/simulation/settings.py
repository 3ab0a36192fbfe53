"""Settings of the simulation stage (one section of the campaign YAML)."""

from seilab._settings import Settings


class SimulationSettings(Settings):
    """Settings of the simulation stage."""
