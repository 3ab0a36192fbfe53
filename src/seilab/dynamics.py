"""The ASE molecular-dynamics pieces every stage shares: initial velocities, thermostats, appended checkpoints.

A service below the stages (like :mod:`seilab.reference`): sampling (reference MD), validation (stability
and RDF runs), active learning (exploration with γ), transport (Onsager runs) and the simulation stage's ASE
engine all build their dynamics here, so "Maxwell–Boltzmann at T", "Langevin with the centre of mass
fixed" or "a frame appended to a checkpoint" mean one thing across the package.

* :func:`thermalize` — Maxwell–Boltzmann momenta at T (``ase.md.velocitydistribution.thermalize_momenta``),
  total momentum removed (``Stationary``);
* :func:`nvt` — an NVT (or NVE) integrator by name: ``langevin`` (per-atom friction, ``friction_per_fs``),
  ``bussi`` (global CSVR velocity rescaling, ``taut_fs``), ``nose_hoover`` (a Nosé–Hoover chain,
  ``taut_fs``), ``nve`` (velocity Verlet); the centre of mass fixed with :class:`ase.constraints.FixCom`
  when ``fix_com`` (ASE >= 3.28 deprecates Langevin's own ``fixcm`` in favour of the constraint);
* :func:`append_frames` / :func:`read_frames` / :func:`count_complete_frames` — an extxyz checkpoint that
  grows by appending (a kill loses at most the frame being written: an incomplete last frame is cut off
  on reading), instead of rewriting every kept frame; :func:`extxyz_frame_spans` locates the complete
  frames of any extxyz file by byte offset (the harvest and the audit read single frames with it).

Units: temperatures K, times fs, friction 1/fs (ASE's internal units are converted here).
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Iterable

from seilab.errors import SeilabError

log = logging.getLogger("seilab.dynamics")

NVT_KINDS = ("langevin", "bussi", "nose_hoover", "nve")


def thermalize(atoms, temperature_K: float, rng) -> None:
    """Maxwell–Boltzmann momenta at ``temperature_K`` from ``rng`` (a numpy Generator), zero total momentum."""
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    thermalize_momenta(atoms, temperature_K, rng=rng)
    Stationary(atoms)


def nvt(atoms, kind: str, *, temperature_K: float, timestep_fs: float, rng=None, friction_per_fs: float | None = None,
        taut_fs: float | None = None, fix_com: bool = True):
    """The ASE integrator ``kind`` (:data:`NVT_KINDS`) on ``atoms`` at ``temperature_K``.

    ``friction_per_fs`` is Langevin's friction (1/fs); ``taut_fs`` the coupling time of Bussi and of the
    Nosé–Hoover chain (fs). ``rng`` feeds the stochastic ones (Langevin, Bussi).
    """
    from ase import units

    dt = timestep_fs * units.fs
    if kind not in NVT_KINDS:
        raise SeilabError(f"thermostat: {kind!r} is not one of {', '.join(NVT_KINDS)}")
    if fix_com:
        from ase.constraints import FixCom

        atoms.set_constraint(FixCom())
    if kind == "langevin":
        from ase.md.langevin import Langevin

        if friction_per_fs is None:
            raise SeilabError("thermostat langevin: needs friction_per_fs")
        return Langevin(atoms, dt, temperature_K=temperature_K, friction=friction_per_fs / units.fs, fixcm=False,
                        rng=rng)
    if kind in ("bussi", "nose_hoover") and taut_fs is None:
        raise SeilabError(f"thermostat {kind}: needs taut_fs")
    if kind == "bussi":
        from ase.md.bussi import Bussi

        return Bussi(atoms, dt, temperature_K=temperature_K, taut=taut_fs * units.fs, rng=rng)
    if kind == "nose_hoover":
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        return NoseHooverChainNVT(atoms, dt, temperature_K=temperature_K, tdamp=taut_fs * units.fs)
    from ase.md.verlet import VelocityVerlet

    return VelocityVerlet(atoms, dt)


# ----------------------------------------------------------------------------------- appended checkpoints
def extxyz_frame_spans(path: str | os.PathLike) -> list[tuple[int, int]]:
    """(start, end) byte offsets of each complete extxyz frame of ``path``, in order; the walk stops at the
    first frame that is incomplete or malformed (a writer killed mid-frame leaves that only at the end)."""
    path = Path(path)
    if not path.is_file():
        return []
    spans = []
    with open(path, "rb") as fh:
        while True:
            start = fh.tell()
            head = fh.readline()
            if not head:
                break
            try:
                n_atoms = int(head.strip())
            except ValueError:
                break
            lines = [fh.readline() for _ in range(n_atoms + 1)]
            if len(lines) != n_atoms + 1 or not all(ln.endswith(b"\n") for ln in lines):
                break
            spans.append((start, fh.tell()))
    return spans


def count_complete_frames(path: str | os.PathLike, truncate: bool = True) -> int:
    """Number of complete extxyz frames in ``path``; with ``truncate``, a partial last frame is cut off."""
    path = Path(path)
    if not path.is_file():
        return 0
    spans = extxyz_frame_spans(path)
    good = spans[-1][1] if spans else 0
    if truncate and good != path.stat().st_size:
        log.warning("%s: cutting a partial frame after %d complete frames", path, len(spans))
        with open(path, "r+b") as fh:
            fh.truncate(good)
    return len(spans)


def read_frames(path: str | os.PathLike) -> list:
    """The complete frames of an appended checkpoint ([] when absent or unreadable: the run restarts);
    a partial last frame (a kill while writing) is cut off first."""
    from ase.io import read

    path = Path(path)
    n = count_complete_frames(path)
    if n == 0:
        return []
    try:
        return list(read(path, index=f":{n}", format="extxyz"))
    except Exception:  # a damaged checkpoint is not fatal: it is recomputed
        return []


def append_frames(path: str | os.PathLike, frames: Iterable) -> None:
    """Append ``frames`` to the extxyz checkpoint ``path`` and flush them to disk."""
    from ase.io import write

    frames = list(frames)
    if not frames:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    write(buf, frames, format="extxyz")
    with open(path, "a") as fh:
        fh.write(buf.getvalue())
        fh.flush()
        os.fsync(fh.fileno())
