"""seilab.md: the MD-engine layer below the stages (LAMMPS ML-PACE or ASE, one interface, resumable).

Learning (exploration) and simulation (production) both run their MD through it; it imports only the
shared leaves and :mod:`seilab.dynamics` (``.importlinter``: below :mod:`seilab.reference`, above
``seilab.dynamics | seilab.geometry``).

Public API (imported lazily, so importing the package costs nothing):

* :class:`MDSpec`, :class:`MDResult`, :class:`Potential`, :class:`MDEngine` (:mod:`.engine`)
* :func:`get_engine`, :func:`run_md` (resumable), :func:`engine_for` ("auto" → lammps when a binary is
  found, else ase) (:mod:`.engines`)
* :class:`LammpsEngine`, :func:`find_lmp` (:mod:`.lammps`); :class:`AseEngine` (:mod:`.ase_engine`)
* LAMMPS text dumps, the one reader (:mod:`.dump`): :func:`dump_frame_index`, :func:`dump_frame_spans`,
  :func:`read_dump_frame`, :func:`truncate_dump`, :func:`write_dump_frame`
* :func:`write_lammps_data`, :func:`read_lammps_data`
"""

from __future__ import annotations

from seilab._lazy import lazy_getattr

_EXPORTS = {
    "MDSpec": "seilab.md.engine",
    "MDResult": "seilab.md.engine",
    "MDEngine": "seilab.md.engine",
    "Potential": "seilab.md.engine",
    "write_lammps_data": "seilab.md.engine",
    "read_lammps_data": "seilab.md.engine",
    "get_engine": "seilab.md.engines",
    "run_md": "seilab.md.engines",
    "engine_for": "seilab.md.engines",
    "LammpsEngine": "seilab.md.lammps",
    "find_lmp": "seilab.md.lammps",
    "AseEngine": "seilab.md.ase_engine",
    "dump_frame_index": "seilab.md.dump",
    "dump_frame_spans": "seilab.md.dump",
    "dump_steps": "seilab.md.dump",
    "read_dump_frame": "seilab.md.dump",
    "truncate_dump": "seilab.md.dump",
    "write_dump_frame": "seilab.md.dump",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
