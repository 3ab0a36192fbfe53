"""The one equation-of-state fit of the package: third-order Birch–Murnaghan, by ``ase.eos``.

A shared leaf, so the two stages that fit an E(V) use the same function: sampling (the ⟨E_pot⟩(V) minimum
of the amorphous EOS runs, :mod:`seilab.sampling.amorphous`) and validation (model vs reference equations of
state, :mod:`seilab.validation.eos`). Each judges the fit with its own checks (sampling: a noisy MD average
over four volumes; validation: a convex scan of at least five points with V0 inside it).

Units: volumes Å³, energies eV, B0 eV/Å³ (× ``1 / ase.units.GPa`` for GPa).
"""

from __future__ import annotations

import warnings

import numpy as np


def birch_murnaghan(v, e0, v0, b0, bp):
    """Third-order Birch–Murnaghan E(V) (``ase.eos.birchmurnaghan``; b0 in eV/Å³)."""
    from ase.eos import birchmurnaghan

    with np.errstate(invalid="ignore"):
        return birchmurnaghan(v, e0, b0, bp, v0)


def fit_birch_murnaghan_parameters(volumes, energies) -> tuple[float, float, float, float]:
    """``(E0, V0, B0, B0')`` of the Birch–Murnaghan E(V) through the points: ``ase.eos.EquationOfState(...,
    eos="birchmurnaghan").fit()`` (a parabola start, then ``scipy.optimize.curve_fit``). Raises what the fit
    raises (RuntimeError: no convergence); scipy's warnings about the covariance are silenced, the callers
    judge the result."""
    from ase.eos import EquationOfState

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eos = EquationOfState(np.asarray(volumes, float), np.asarray(energies, float), eos="birchmurnaghan")
        eos.fit(warn=False)
    e0, b0, bp, v0 = (float(x) for x in eos.eos_parameters)
    return e0, v0, b0, bp
