"""Jobs of tests/workflows/test_remote.py that run in jobflow-remote's workers (importable there through
the worker's PYTHONPATH); not science."""

from __future__ import annotations

import os
import re

from jobflow import job


@job
def lammps_md(structure: str, potential: str, workdir: str, mpi_ranks: int) -> dict:
    """A few NVE steps of ``structure`` with LAMMPS ML-PACE on ``mpi_ranks`` ranks; what ran, and where."""
    from ase.io import read

    from seilab.md.engine import MDSpec, Potential, read_thermo_csv
    from seilab.md.engines import run_md

    spec = MDSpec(structure=read(structure), potential=Potential.from_any(potential), elements=("Li", "P", "S"),
                  ensemble="nve", steps=10, thermo_every=10, dump_every=10, restart_every=10, seed=11,
                  mpi_ranks=mpi_ranks)
    r = run_md(spec, workdir, engine="lammps")
    logs = sorted(p for p in r.workdir.glob("log.*") if p.is_file())  # log.seg000.lammps, ...
    procs = sorted({int(n) for p in logs for n in re.findall(r"Loop time of \S+ on (\d+) procs", p.read_text())})
    thermo = read_thermo_csv(r.thermo)
    return {"status": r.status, "steps": r.steps_done, "procs": procs, "pe0_eV": thermo[0]["pe_eV"],
            "etot_eV": thermo[-1]["etotal_eV"], "slurm_job": os.environ.get("SLURM_JOB_ID"),
            "slurm_ntasks": os.environ.get("SLURM_NTASKS")}
