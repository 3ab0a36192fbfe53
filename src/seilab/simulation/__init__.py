"""seilab.simulation: large-scale interface MD (LAMMPS ML-PACE or ASE) with γ monitoring and restart.

The MD engines themselves (spec, result, LAMMPS and ASE, resume, dump files) are :mod:`seilab.md`, the
layer below the stages; this stage builds the interface, runs it through that layer and audits it.

Public API:

* :func:`build_interface`, :func:`bulk_phases`, :func:`sampling_seed`
* :func:`run_simulation` (the stage), :class:`SimulationSettings`
"""

from seilab.settings.simulation import SimulationSettings
from seilab.simulation.interface import build_interface, bulk_phases, sampling_seed
from seilab.simulation.stage import run_simulation

__all__ = [
    'SimulationSettings', 'build_interface', 'bulk_phases', 'run_simulation', 'sampling_seed',
]
