"""``run_analysis``: the analysis stage on the campaign's production trajectory.

The trajectory is the one ``simulation/latest.json`` names (the simulation stage's hand-off, read by
:func:`seilab.simulation.stage.production_trajectory`); the results go to ``analysis/`` (``analysis.json`` + figures). With
``analysis.type_map`` unset, LAMMPS atom types map to the campaign's elements in order (the order the
simulation stage writes its data file in).
"""

from __future__ import annotations

from pathlib import Path

from seilab.analysis.pipeline import AnalysisResult, analyze_trajectory
from seilab.simulation.stage import production_trajectory


def run_analysis(campaign, *, progress=None) -> AnalysisResult:
    """Analyse the production trajectory into ``analysis/``; returns the
    :class:`~seilab.analysis.pipeline.AnalysisResult` (``.summary()``: the headline numbers, with whether the
    potential that made the trajectory passed validation)."""
    info = production_trajectory(campaign)
    settings = campaign.analysis
    if not settings.type_map:
        settings = settings.model_copy(update={"type_map": list(campaign.elements)})
    if progress is not None:
        progress(f"analysing {info['trajectory']}")
    # on a Slurm Dask cluster (analysis.cluster: slurm) the worker jobs get the analysis stage's resources
    result = analyze_trajectory(Path(info["trajectory"]), settings=settings, out_dir=campaign.stage_dir("analysis"),
                                resources=campaign.cluster.for_stage("analysis"))
    result.validated = (info.get("potential_gate") or {}).get("validated")  # of the potential that made it
    return result
