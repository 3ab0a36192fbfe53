"""seilab.md: the MD-engine layer below the stages (LAMMPS ML-PACE or ASE, one interface, resumable).

Learning (exploration) and simulation (production) both run their MD through it; it imports only the
shared leaves and :mod:`seilab.dynamics` (``.importlinter``: below :mod:`seilab.reference`, above
``seilab.dynamics | seilab.geometry``).

Public API:

* :class:`MDSpec`, :class:`MDResult`, :class:`Potential`, :class:`MDEngine` (:mod:`.engine`)
* :func:`get_engine`, :func:`run_md` (resumable), :func:`engine_for` ("auto" → lammps when a binary is
  found, else ase) (:mod:`.engines`)
* :class:`LammpsEngine`, :func:`find_lmp` (:mod:`.lammps`); :class:`AseEngine` (:mod:`.ase_engine`)
* LAMMPS text dumps, the one reader (:mod:`.dump`): :func:`dump_frame_index`, :func:`dump_frame_spans`,
  :func:`read_dump_frame`, :func:`truncate_dump`, :func:`write_dump_frame`
* :func:`write_lammps_data`, :func:`read_lammps_data`
"""

from seilab.md.ase_engine import AseEngine
from seilab.md.dump import (
    dump_frame_index, dump_frame_spans, dump_steps, read_dump_frame, truncate_dump, write_dump_frame,
)
from seilab.md.engine import MDEngine, MDResult, MDSpec, Potential, read_lammps_data, write_lammps_data
from seilab.md.engines import engine_for, get_engine, run_md
from seilab.md.lammps import find_lmp, LammpsEngine

__all__ = [
    'AseEngine', 'LammpsEngine', 'MDEngine', 'MDResult', 'MDSpec', 'Potential', 'dump_frame_index',
    'dump_frame_spans', 'dump_steps', 'engine_for', 'find_lmp', 'get_engine', 'read_dump_frame',
    'read_lammps_data', 'run_md', 'truncate_dump', 'write_dump_frame', 'write_lammps_data',
]
