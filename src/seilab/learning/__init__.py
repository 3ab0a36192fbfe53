"""seilab.learning: the active-learning loop (paper sections 2.5-2.6).

Public API:

* :func:`run_learning` (stage function: explore [+ harvest] → subcells → select → label → refit →
  validate, generation by generation, resumable), :func:`learn` (typer command)
* :class:`LearningSettings`
* γ: :func:`model_calculator`, :func:`per_atom_gamma`, :func:`gamma_stats`
* subcells: :func:`cut_subcells`, :class:`PaddedFrame`, :func:`deduplicate`
* selection: :func:`make_candidates`, :func:`d_optimal`, :func:`random_subset`
* exploration (through the MD layer :mod:`seilab.md`): :func:`exploration_engine` (``learning.engine``),
  :func:`run_lammps_gamma` (LAMMPS), :func:`run_md_gamma` (ASE), :func:`replicate_in_plane`, :func:`discover_sources`
* harvest of the production run's extrapolative frames (γ dumps, trajectories): :func:`resolve_sources`,
  :func:`harvest_frames`
"""

from seilab.learning.explore import (
    discover_sources, exploration_engine, replicate_in_plane, run_lammps_gamma, run_md_gamma,
)
from seilab.learning.gamma import gamma_stats, model_calculator, per_atom_gamma, potential_cutoff
from seilab.learning.harvest import harvest_frames, resolve_sources
from seilab.learning.select import d_optimal, make_candidates, random_subset
from seilab.learning.stage import run_learning
from seilab.learning.subcells import cut_subcells, deduplicate, PaddedFrame, Subcell
from seilab.settings.learning import LearningSettings

__all__ = [
    'LearningSettings', 'PaddedFrame', 'Subcell', 'cut_subcells', 'd_optimal', 'deduplicate',
    'discover_sources', 'exploration_engine', 'gamma_stats', 'harvest_frames', 'make_candidates',
    'model_calculator', 'per_atom_gamma', 'potential_cutoff', 'random_subset', 'replicate_in_plane',
    'resolve_sources', 'run_lammps_gamma', 'run_learning', 'run_md_gamma',
]
