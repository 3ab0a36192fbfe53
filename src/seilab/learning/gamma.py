"""Per-atom extrapolation grade γ (D-optimality, Lysogorskiy et al.) for any structure.

γ of an atom is the largest |coefficient| needed to express its B-projection vector in the basis
of the *active set* (the most representative atomic environments of the training set, one set per
element): γ <= 1 means interpolation, γ > 1 extrapolation. The structure's grade is its largest
per-atom γ. The model calculator comes from the training backend
(``backend.calculator(potential, gamma=True)``: python-ace's ``PyACECalculator`` with the
potential's ``.asi`` active set); after a calculation ``calc.results["gamma"]`` holds one γ per atom.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from seilab.errors import SeilabError


def model_calculator(potential, backend=None, gamma: bool = True):
    """ASE calculator of ``potential`` (per-atom γ in ``results['gamma']`` when ``gamma``)."""
    from seilab.training.backends import get_backend

    backend = backend or get_backend(potential.backend)
    if gamma and (potential.asi is None or not Path(potential.asi).is_file()):
        raise SeilabError(f"{potential.yaml}: no active set (.asi) beside the potential; the learning stage "
                          "needs one for γ (training.activeset: true)")
    return backend.calculator(potential, gamma=gamma)


def per_atom_gamma(atoms, calc) -> np.ndarray:
    """γ of every atom of ``atoms`` (a copy is evaluated; ``atoms`` is left untouched)."""
    work = atoms.copy()
    work.calc = calc
    work.get_potential_energy()
    g = calc.results.get("gamma")
    if g is None:
        raise SeilabError("learning: the model calculator returned no per-atom γ (is the active set loaded?)")
    g = np.asarray(g, dtype=float).reshape(-1)
    if len(g) != len(atoms):
        raise SeilabError(f"learning: γ has {len(g)} values for {len(atoms)} atoms")
    return g


def potential_cutoff(potential) -> float:
    """Largest radial cutoff (Å) of a pacemaker YAML potential."""
    try:
        from pyace import ACEBBasisSet, BBasisConfiguration

        return float(ACEBBasisSet(BBasisConfiguration(str(potential.yaml))).cutoffmax)
    except Exception as exc:  # not a pacemaker file
        raise SeilabError(f"{potential.yaml}: cannot read the potential's cutoff ({exc}); "
                          "set learning.subcell_cutoff_A") from None


def gamma_stats(gammas: Iterable[np.ndarray], window: tuple[float, float] = (1.0, 2.5)) -> dict:
    """Statistics of per-atom γ over many frames.

    ``max`` / ``mean`` over all atoms, ``frac_gt_1`` (share of atoms with γ > 1: extrapolative),
    ``frac_in_window`` (lower < γ < upper), ``frames_max_mean`` (mean of the per-frame maxima),
    ``n_atoms`` and ``n_frames``.
    """
    arrs = [np.asarray(g, dtype=float).reshape(-1) for g in gammas]
    arrs = [a for a in arrs if a.size]
    if not arrs:
        return {"n_frames": 0, "n_atoms": 0, "max": None, "mean": None, "frac_gt_1": None,
                "frac_in_window": None, "frames_max_mean": None}
    allg = np.concatenate(arrs)
    finite = allg[np.isfinite(allg)]
    lo, hi = window
    return {"n_frames": len(arrs), "n_atoms": int(allg.size),
            "max": float(finite.max()) if finite.size else None,
            "mean": float(finite.mean()) if finite.size else None,
            "frac_gt_1": float(np.mean(allg > 1.0)),
            "frac_in_window": float(np.mean((allg > lo) & (allg < hi))),
            "frames_max_mean": float(np.mean([a.max() for a in arrs]))}
