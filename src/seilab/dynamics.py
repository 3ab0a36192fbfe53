"""The ASE molecular-dynamics pieces every stage shares: the MD loop, initial velocities, thermostats and
barostats, appended checkpoints.

A service below the stages (like :mod:`seilab.reference`): sampling (reference MD), validation (stability
and RDF runs), active learning (exploration with γ), transport (Onsager runs) and the ASE engine of
:mod:`seilab.md` all build their dynamics here and advance it with :func:`run_dynamics`, so "Maxwell–Boltzmann
at T", "Langevin with the centre of mass fixed", "a frame appended to a checkpoint" or "stop when γ is too
high" mean one thing across the package.

* :func:`run_dynamics` — **the one MD loop**: advances an ASE integrator to a step and calls
  :class:`Observer` s (frame writers, finite / blow-up checks, γ watch, thermo, restart files, a temperature
  ramp) on their schedule, in absolute step numbers, so a resumed run keeps its time axis; an observer ends
  the run cleanly by raising :class:`StopMD` (a γ halt, a failed check). What each stage does at a step is
  its observers; how the steps are taken is here. (ASE's own ``dyn.attach`` calls observers on the
  integrator's step counter, which restarts at 0 on every new integrator and on every resume.)

* :func:`thermalize` — Maxwell–Boltzmann momenta at T (``ase.md.velocitydistribution.thermalize_momenta``),
  total momentum removed (``Stationary``);
* :func:`nvt` — an NVT (or NVE) integrator by name: ``langevin`` (per-atom friction, ``friction_per_fs``),
  ``bussi`` (global CSVR velocity rescaling, ``taut_fs``), ``nose_hoover`` (a Nosé–Hoover chain,
  ``taut_fs``), ``nve`` (velocity Verlet); the centre of mass fixed with :class:`ase.constraints.FixCom`
  when ``fix_com`` (ASE >= 3.28 deprecates Langevin's own ``fixcm`` in favour of the constraint);
  :func:`npt_berendsen` — Berendsen NpT (isotropic or with anisotropic cell scaling), for equilibrating a
  volume (not for sampling fluctuations);
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

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


def npt_berendsen(atoms, *, temperature_K: float, timestep_fs: float, pressure_GPa: float = 0.0, taut_fs: float,
                  taup_fs: float, compressibility_per_GPa: float, anisotropic: bool = False):
    """Berendsen NpT (:class:`ase.md.nptberendsen.NPTBerendsen`, or ``Inhomogeneous_NPTBerendsen`` with
    ``anisotropic``: the three cell lengths scale independently) at ``pressure_GPa``.

    A first-order relaxation of the volume towards the target pressure with a Berendsen thermostat: robust
    within a few hundred steps on ~100 atoms, so it is used to find a volume, not to sample its fluctuations.
    """
    from ase import units
    from ase.md.nptberendsen import Inhomogeneous_NPTBerendsen, NPTBerendsen

    kind = Inhomogeneous_NPTBerendsen if anisotropic else NPTBerendsen
    return kind(atoms, timestep_fs * units.fs, temperature_K=temperature_K, pressure_au=pressure_GPa * units.GPa,
                taut=taut_fs * units.fs, taup=taup_fs * units.fs,
                compressibility_au=compressibility_per_GPa / units.GPa)  # (ASE's default fixcm=True: COM fixed)


# ----------------------------------------------------------------------------------- the MD loop
class StopMD(Exception):
    """Raised by an :class:`Observer` to end the run at the current step (a γ halt, a failed check).

    Not an error: :func:`run_dynamics` finishes that step's observers (the ``at_end`` ones included, so
    the last thermo line and restart file are written) and returns with ``reason`` in
    :attr:`MDLoop.stopped`."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Observer:
    """``fn(step)`` after every step that is a multiple of ``every`` (absolute step numbers; 0: never on a
    schedule) and, with ``at_end``, after the run's last step whether it finished or was stopped."""

    fn: Callable[[int], None]
    every: int = 1
    at_end: bool = False


@dataclass
class MDLoop:
    """Where a :func:`run_dynamics` call is: ``step`` done (absolute), ``target`` the step the running
    chunk advances to (the step an exception from the integrator or calculator happened by), ``stopped``
    the :class:`StopMD` reason or None."""

    start: int = 0
    step: int = 0
    target: int = 0
    stopped: str | None = None

    @property
    def steps_run(self) -> int:
        return self.step - self.start


def run_dynamics(dyn, steps: int, observers: Sequence[Observer] = (), *, start: int = 0, at_start: bool = False,
                 loop: MDLoop | None = None) -> MDLoop:
    """Advance the ASE integrator ``dyn`` from step ``start`` to step ``steps``, calling ``observers``.

    The integrator runs in chunks up to the next step some observer is due (``dyn.run(n)``: ASE keeps the
    forces of the last step, so chunking changes no number). At a step the due observers are called in
    list order; one that raises :class:`StopMD` ends the run there, after the remaining due observers and
    the ``at_end`` ones. ``at_start`` also calls the observers due at ``start`` itself (the initial frame
    of a fresh run, as LAMMPS writes step 0). Exceptions of the integrator or the calculator propagate;
    pass ``loop`` to read the step they happened by (:attr:`MDLoop.target`).
    """
    loop = loop if loop is not None else MDLoop()
    loop.start = loop.step = loop.target = int(start)
    loop.stopped = None
    steps = int(steps)
    scheduled = [o for o in observers if o.every > 0]

    def call_due(step: int) -> None:
        for o in observers:
            if (o.every > 0 and step % o.every == 0) or (o.at_end and (step == steps or loop.stopped)):
                try:
                    o.fn(step)
                except StopMD as stop:
                    loop.stopped = loop.stopped or stop.reason

    if at_start:
        call_due(loop.step)
    while loop.step < steps and not loop.stopped:
        n = min([steps - loop.step] + [o.every - loop.step % o.every for o in scheduled])
        loop.target = loop.step + n
        dyn.run(n)
        loop.step += n
        call_due(loop.step)
    return loop


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


def replace_frames(path: str | os.PathLike, frames: Sequence) -> None:
    """Replace the checkpoint ``path`` by ``frames`` atomically: only when stored frames are dropped (a run
    with other settings, a shorter run); new frames are appended (:func:`append_frames`)."""
    from ase.io import write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp, list(frames), format="extxyz")
    os.replace(tmp, path)


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
