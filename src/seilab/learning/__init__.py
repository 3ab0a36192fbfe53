"""seilab.learning: the active-learning loop (paper sections 2.5-2.6).

Public API (imported lazily, so ``seilab.config`` can import the settings without TensorFlow):

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

from __future__ import annotations

from seilab._lazy import lazy_getattr

_EXPORTS = {
    "run_learning": "seilab.learning.stage",
    "LearningSettings": "seilab.learning.settings",
    "model_calculator": "seilab.learning.gamma",
    "per_atom_gamma": "seilab.learning.gamma",
    "gamma_stats": "seilab.learning.gamma",
    "potential_cutoff": "seilab.learning.gamma",
    "cut_subcells": "seilab.learning.subcells",
    "PaddedFrame": "seilab.learning.subcells",
    "Subcell": "seilab.learning.subcells",
    "deduplicate": "seilab.learning.subcells",
    "make_candidates": "seilab.learning.select",
    "d_optimal": "seilab.learning.select",
    "random_subset": "seilab.learning.select",
    "run_md_gamma": "seilab.learning.explore",
    "run_lammps_gamma": "seilab.learning.explore",
    "exploration_engine": "seilab.learning.explore",
    "replicate_in_plane": "seilab.learning.explore",
    "discover_sources": "seilab.learning.explore",
    "resolve_sources": "seilab.learning.harvest",
    "harvest_frames": "seilab.learning.harvest",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
