"""The MD engines behind :class:`~seilab.md.engine.MDEngine`, by name, and :func:`run_md`.

:mod:`.engine` holds the interface and what both engines share (spec, result, state and thermo files),
:mod:`.dump` the LAMMPS text dumps; :mod:`.lammps` and :mod:`.ase_engine` implement the interface. This
module is the one place that knows both, so neither implementation imports the other and the interface
imports neither.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from seilab.errors import SeilabError
from seilab.md.engine import MDEngine, MDResult, MDSpec

ENGINES = ("lammps", "ase")


def get_engine(name: str, field: str = "simulation.engine") -> MDEngine:
    """The engine called ``name`` (``field`` names the setting in the error for an unknown one)."""
    if name == "lammps":
        from seilab.md.lammps import LammpsEngine

        return LammpsEngine()
    if name == "ase":
        from seilab.md.ase_engine import AseEngine

        return AseEngine()
    raise SeilabError(f"{field}: unknown engine {name!r} (known: {', '.join(ENGINES)})")


def engine_for(name: str, field: str = "engine") -> str:
    """``lammps`` / ``ase`` for a setting that may also be ``auto``: LAMMPS when :func:`~seilab.md.lammps.find_lmp`
    finds a binary with ML-PACE, else ASE."""
    if name == "auto":
        from seilab.md.lammps import find_lmp

        return "lammps" if find_lmp() is not None else "ase"
    if name not in ENGINES:
        raise SeilabError(f"{field}: unknown engine {name!r} (known: auto, {', '.join(ENGINES)})")
    return name


def run_md(spec: MDSpec, workdir: str | os.PathLike, engine: str | MDEngine = "lammps",
           progress: Callable[[str], None] | None = None) -> MDResult:
    """Run ``spec`` in ``workdir`` with ``engine``; calling it again after a kill continues the run."""
    eng = get_engine(engine) if isinstance(engine, str) else engine
    return eng.run(spec.validate(), Path(workdir), progress=progress)
