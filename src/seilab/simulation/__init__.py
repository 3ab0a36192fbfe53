"""seilab.simulation: large-scale interface MD (LAMMPS ML-PACE or ASE) with γ monitoring and restart.

Public API (imported lazily, so ``seilab.config`` can import the settings without ASE/pymatgen):

* :class:`MDSpec`, :class:`MDResult`, :class:`PotentialFiles`, :class:`MDEngine`, :func:`get_engine`,
  :func:`run_md` (resumable), :class:`LammpsEngine`, :class:`AseEngine`, :func:`find_lmp`
* :func:`build_interface`, :func:`bulk_phases`, :func:`sampling_seed`, :func:`write_lammps_data`
* :func:`run_simulation` (the stage), :class:`SimulationSettings`
"""

from __future__ import annotations

from seilab._lazy import lazy_getattr

_EXPORTS = {
    "MDSpec": "seilab.simulation.engine",
    "MDResult": "seilab.simulation.engine",
    "MDEngine": "seilab.simulation.engine",
    "PotentialFiles": "seilab.simulation.engine",
    "get_engine": "seilab.simulation.engines",
    "run_md": "seilab.simulation.engines",
    "write_lammps_data": "seilab.simulation.engine",
    "read_lammps_data": "seilab.simulation.engine",
    "LammpsEngine": "seilab.simulation.lammps",
    "find_lmp": "seilab.simulation.lammps",
    "AseEngine": "seilab.simulation.ase_engine",
    "build_interface": "seilab.simulation.interface",
    "bulk_phases": "seilab.simulation.interface",
    "sampling_seed": "seilab.simulation.interface",
    "run_simulation": "seilab.simulation.stage",
    "SimulationSettings": "seilab.simulation.settings",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
