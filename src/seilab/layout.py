"""Where things are in a campaign: the stages in pipeline order (paper Figure 1).

Import-light on purpose (no seilab imports), so any layer can read it: the runner
(:mod:`seilab.workflows.stages`) defines each stage in this order, and the report
(:mod:`seilab.report`) sorts what it finds by it without importing the runner.
"""

from __future__ import annotations

#: Stage names in pipeline order; each is also the name of its folder under the campaign output.
STAGE_ORDER: tuple[str, ...] = (
    "chemistry", "sampling", "labelling", "training", "validation", "learning",
    "simulation", "analysis", "transport", "report",
)
