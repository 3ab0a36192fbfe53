"""seilab.analysis: interphase analysis of MD trajectories (paper section 3.2, Figures 6, 7, 9).

Streaming reader (LAMMPS dump / extxyz, unwrapping) → interface frame of reference → composition
and coordination profiles along z → interphase growth with a fast/slow two-regime fit → net ionic
flux across the initial plane → phase identification, layers, Li–P clusters → crystalline Li2S
domains → figures + ``analysis.json``.

Entry points: :func:`run_analysis` (the campaign's production trajectory → ``analysis/``),
:func:`analyze_trajectory` (file → result + outputs), :class:`InterphaseAnalysis`
(streaming, frame by frame), :func:`iter_frames` / :class:`TrajectoryReader`.

The settings are :mod:`seilab.settings.analysis` (re-exported here).
"""

from seilab.analysis.coordination import (
    auto_cutoffs, coordination_numbers, CoordinationProfile, first_minimum, partial_rdf,
)
from seilab.analysis.figures import write_figures
from seilab.analysis.flux import IonicFlux
from seilab.analysis.growth import fit_two_regimes, interphase_boundaries, RegimeFit
from seilab.analysis.interface import find_interface, InterfaceReference, ZBins
from seilab.analysis.nanocrystals import Nanocrystals
from seilab.analysis.neighbors import NeighborSearch
from seilab.analysis.phases import layer_rdfs, layer_sequence, lip_clusters, PhaseClassifier
from seilab.analysis.pipeline import AnalysisResult, analyze_frames, analyze_trajectory, InterphaseAnalysis
from seilab.analysis.stage import run_analysis
from seilab.analysis.trajectory import Frame, frame_from_atoms, iter_frames, TrajectoryReader, write_lammps_dump
from seilab.settings.analysis import AnalysisSettings, PhaseReference

__all__ = [
    'AnalysisResult', 'AnalysisSettings', 'CoordinationProfile', 'Frame', 'InterfaceReference',
    'InterphaseAnalysis', 'IonicFlux', 'Nanocrystals', 'NeighborSearch', 'PhaseClassifier', 'PhaseReference',
    'RegimeFit', 'TrajectoryReader', 'ZBins', 'analyze_frames', 'analyze_trajectory', 'auto_cutoffs',
    'coordination_numbers', 'find_interface', 'first_minimum', 'fit_two_regimes', 'frame_from_atoms',
    'interphase_boundaries', 'iter_frames', 'layer_rdfs', 'layer_sequence', 'lip_clusters', 'partial_rdf',
    'run_analysis', 'write_figures', 'write_lammps_dump',
]
