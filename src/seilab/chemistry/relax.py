"""Relaxation of a structure with any ASE calculator (positions and, optionally, the cell)."""

from __future__ import annotations

import numpy as np

from seilab.errors import SeilabError


def relax(atoms, calc, fmax: float = 0.05, steps: int = 300, cell: bool = True, logfile=None):
    """Relax ``atoms`` (a copy) with FIRE, cell included through ASE's ``FrechetCellFilter``.

    Returns ``(relaxed_atoms, converged, n_steps)``; the relaxed copy carries a
    SinglePointCalculator with the final energy, forces and stress.
    """
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    work = atoms.copy()
    work.calc = calc
    target = FrechetCellFilter(work) if cell and all(work.pbc) else work
    opt = FIRE(target, logfile=logfile)
    try:
        converged = bool(opt.run(fmax=fmax, steps=steps))
    except SeilabError:
        raise
    except Exception as exc:  # calculator blew up on a bad geometry
        raise SeilabError(f"relaxation of {atoms.get_chemical_formula()} failed ({type(exc).__name__}: {exc})") from None
    energy = float(work.get_potential_energy())
    forces = work.get_forces()
    results = {"energy": energy, "forces": forces}
    if all(work.pbc):
        results["stress"] = work.get_stress(voigt=True)
    if not np.isfinite(energy) or not np.all(np.isfinite(forces)):
        raise SeilabError(f"relaxation of {atoms.get_chemical_formula()} gave non-finite energy/forces")
    out = work.copy()
    out.calc = SinglePointCalculator(out, **results)
    return out, converged, int(opt.nsteps)
