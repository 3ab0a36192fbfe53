"""The MD engines behind :class:`~seilab.simulation.engine.MDEngine`, by name, and :func:`run_md`.

:mod:`.engine` holds the interface and what both engines share (spec, result, state, dump and thermo
files); :mod:`.lammps` and :mod:`.ase_engine` implement it. This module is the one place that knows
both, so neither implementation imports the other and the interface imports neither.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from seilab.errors import SeilabError
from seilab.simulation.engine import MDEngine, MDResult, MDSpec


def get_engine(name: str) -> MDEngine:
    if name == "lammps":
        from seilab.simulation.lammps import LammpsEngine

        return LammpsEngine()
    if name == "ase":
        from seilab.simulation.ase_engine import AseEngine

        return AseEngine()
    raise SeilabError(f"simulation.engine: unknown engine {name!r} (known: lammps, ase)")


def run_md(spec: MDSpec, workdir: str | os.PathLike, engine: str | MDEngine = "lammps",
           progress: Callable[[str], None] | None = None) -> MDResult:
    """Run ``spec`` in ``workdir`` with ``engine``; calling it again after a kill continues the run."""
    eng = get_engine(engine) if isinstance(engine, str) else engine
    return eng.run(spec.validate(), Path(workdir), progress=progress)
