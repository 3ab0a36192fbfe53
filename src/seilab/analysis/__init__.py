"""seilab.analysis: interphase analysis of MD trajectories (paper section 3.2, Figures 6, 7, 9).

Streaming reader (LAMMPS dump / extxyz, unwrapping) → interface frame of reference → composition
and coordination profiles along z → interphase growth with a fast/slow two-regime fit → net ionic
flux across the initial plane → phase identification, layers, Li–P clusters → crystalline Li2S
domains → figures + ``analysis.json``.

Entry points: :func:`run_analysis` (the campaign's production trajectory → ``analysis/``),
:func:`analyze_trajectory` (file → result + outputs), :class:`InterphaseAnalysis`
(streaming, frame by frame), :func:`iter_frames` / :class:`TrajectoryReader`.

Exports are loaded lazily so that ``from seilab.analysis.settings import AnalysisSettings`` (the
config loader) does not pull in numpy/scipy.
"""

from __future__ import annotations


from seilab._lazy import lazy_getattr

_EXPORTS = {
    "run_analysis": "seilab.analysis.stage",
    "AnalysisSettings": "seilab.analysis.settings",
    "PhaseReference": "seilab.analysis.settings",
    "Frame": "seilab.analysis.trajectory",
    "TrajectoryReader": "seilab.analysis.trajectory",
    "iter_frames": "seilab.analysis.trajectory",
    "frame_from_atoms": "seilab.analysis.trajectory",
    "write_lammps_dump": "seilab.analysis.trajectory",
    "NeighborSearch": "seilab.analysis.neighbors",
    "InterfaceReference": "seilab.analysis.interface",
    "find_interface": "seilab.analysis.interface",
    "ZBins": "seilab.analysis.interface",
    "partial_rdf": "seilab.analysis.coordination",
    "first_minimum": "seilab.analysis.coordination",
    "auto_cutoffs": "seilab.analysis.coordination",
    "coordination_numbers": "seilab.analysis.coordination",
    "CoordinationProfile": "seilab.analysis.coordination",
    "interphase_boundaries": "seilab.analysis.growth",
    "fit_two_regimes": "seilab.analysis.growth",
    "RegimeFit": "seilab.analysis.growth",
    "IonicFlux": "seilab.analysis.flux",
    "PhaseClassifier": "seilab.analysis.phases",
    "layer_sequence": "seilab.analysis.phases",
    "lip_clusters": "seilab.analysis.phases",
    "layer_rdfs": "seilab.analysis.phases",
    "Nanocrystals": "seilab.analysis.nanocrystals",
    "InterphaseAnalysis": "seilab.analysis.pipeline",
    "AnalysisResult": "seilab.analysis.pipeline",
    "analyze_frames": "seilab.analysis.pipeline",
    "analyze_trajectory": "seilab.analysis.pipeline",
    "write_figures": "seilab.analysis.figures",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())


def __dir__():
    return sorted(list(globals()) + __all__)
