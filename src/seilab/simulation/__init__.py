"""seilab.simulation: large-scale interface MD (LAMMPS ML-PACE or ASE) with γ monitoring and restart.

The MD engines themselves (spec, result, LAMMPS and ASE, resume, dump files) are :mod:`seilab.md`, the
layer below the stages; this stage builds the interface, runs it through that layer and audits it.

Public API (imported lazily, so ``seilab.config`` can import the settings without ASE/pymatgen):

* :func:`build_interface`, :func:`bulk_phases`, :func:`sampling_seed`
* :func:`run_simulation` (the stage), :class:`SimulationSettings`
"""

from __future__ import annotations

from seilab._lazy import lazy_getattr

_EXPORTS = {
    "build_interface": "seilab.simulation.interface",
    "bulk_phases": "seilab.simulation.interface",
    "sampling_seed": "seilab.simulation.interface",
    "run_simulation": "seilab.simulation.stage",
    "SimulationSettings": "seilab.simulation.settings",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
