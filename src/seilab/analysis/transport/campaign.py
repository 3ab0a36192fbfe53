"""Transport campaign: amorphous cells → NVT MD at each temperature → Onsager L per phase.

For every phase (a name and a starting structure, ASE Atoms) and every temperature of
:class:`~seilab.analysis.transport.settings.TransportSettings`:

1. **cell** — repeat the structure to about ``target_atoms`` atoms (near-cubic supercell),
   scale its volume by ``volume_scale``, rattle it and melt it with Langevin dynamics at
   ``melt_temperature_K`` for ``melt_steps`` steps → ``<out>/<phase>/cell.extxyz``;
2. **MD** — NVT Langevin (ASE, ``timestep_fs``, ``friction_per_fs``; centre of mass fixed
   with :class:`ase.constraints.FixCom` unless ``fix_com`` is off) at T: Maxwell–Boltzmann
   velocities, ``n_equil_steps`` of equilibration, then ``n_steps`` production steps with one
   frame every ``sample_every`` steps appended (in chunks of ``flush_every`` frames) to
   ``<out>/<phase>/T0900K/trajectory.part.extxyz``; positions are never wrapped, so the file is
   an unwrapped trajectory. When all frames are there it becomes ``trajectory.extxyz`` with its
   provenance sidecar;
3. **L** — the Onsager estimator on the trajectory → ``<out>/<phase>/T0900K/onsager.json``.

MD that blows up (non-finite energies or positions, or an atom moving more than half a cell vector
between two stored frames, which at a 1–2 fs step means the potential left its fitted range) stops
with :class:`BlowUp` (a :class:`~seilab.errors.SeilabError`) naming the phase, temperature and step. With
``on_error="record"`` that phase/temperature (or the whole phase, when its melt blew up) is written
to ``failed.json`` in its folder, returned as an entry with ``status="failed"`` and the campaign
goes on with the others; a rerun skips it as finished work (delete ``failed.json`` to try again).

Resumable: a cell, trajectory frames or a result already on disk are not recomputed. A killed
run continues from the last complete frame (positions and momenta are stored in every frame;
the thermostat's random stream restarts, so a resumed run is statistically but not bitwise
identical to an uninterrupted one). A finished phase/temperature is skipped on rerun; raising
``n_steps`` extends existing trajectories. Changing a setting that defines the MD
(timestep, sampling, friction, seed, melt) for an existing folder is an error.

Works with any ASE calculator object (the MLIP is passed in by the pipeline). The same object
is attached to every Atoms in turn, so it must tolerate being reused for different systems.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from seilab.errors import SeilabError
from seilab.provenance import load_json, read_json

from .onsager import Onsager, OnsagerResult
from .settings import TransportSettings

log = logging.getLogger("seilab.transport")

STAGE = "analysis.transport"

#: Settings that define an existing MD folder; changing them for that folder is an error.
_MD_KEYS = ("timestep_fs", "sample_every", "friction_per_fs", "seed", "n_equil_steps", "fix_com")
_CELL_KEYS = ("target_atoms", "melt_temperature_K", "melt_steps", "volume_scale", "rattle_A", "seed", "fix_com",
              "timestep_fs", "friction_per_fs")


class BlowUp(SeilabError):
    """The MD of one phase left physical ground (non-finite numbers, atoms jumping across the cell)."""


@dataclass
class Phase:
    """A phase of the campaign: a name (folder name), its starting structure and composition.

    ``composition`` is a label (e.g. ``"Li3P"``); by default the reduced formula of ``atoms``.
    """

    name: str
    atoms: Any
    composition: str = ""

    def __post_init__(self):
        if not self.composition:
            self.composition = self.atoms.get_chemical_formula(mode="metal", empirical=True)
        if not self.name or any(c in self.name for c in "/\\ \t\n"):
            raise SeilabError(f"phase name: {self.name!r} is not usable as a folder name")


def as_phase(obj: Any) -> Phase:
    """Accept a :class:`Phase`, ``(name, atoms)``, ``{"name":…, "atoms":…}`` or bare Atoms."""
    from ase import Atoms

    if isinstance(obj, Phase):
        return obj
    if isinstance(obj, Atoms):
        return Phase(obj.get_chemical_formula(mode="metal", empirical=True), obj)
    if isinstance(obj, dict):
        if "atoms" not in obj:
            raise SeilabError("phases: each entry needs 'atoms'")
        atoms = obj["atoms"]
        return Phase(obj.get("name") or atoms.get_chemical_formula(mode="metal", empirical=True),
                     atoms, obj.get("composition", ""))
    if isinstance(obj, (tuple, list)) and len(obj) == 2 and isinstance(obj[1], Atoms):
        return Phase(str(obj[0]), obj[1])
    raise SeilabError(f"phases: cannot use {type(obj).__name__} as a phase (give name and ASE Atoms)")


@dataclass
class CampaignEntry:
    """One phase at one temperature.

    status: ``"computed"`` (MD ran in this call, fully or partly), ``"skipped"`` (everything
    was already on disk) or ``"failed"`` (the MD blew up; ``result`` is None and ``error`` says
    why). ``md_steps`` counts the MD steps run in this call (melt excluded).
    """

    phase: str
    composition: str
    temperature_K: float
    folder: Path
    trajectory: Path
    result_path: Path
    result: OnsagerResult | None
    status: str
    md_steps: int = 0
    error: str = ""

    def to_dict(self) -> dict:
        d = {"phase": self.phase, "composition": self.composition, "temperature_K": self.temperature_K,
             "trajectory": str(self.trajectory), "result": str(self.result_path), "status": self.status,
             "md_steps": self.md_steps}
        if self.result is None:
            return {**d, "error": self.error}
        return {**d, "species": list(self.result.species), "L": self.result.L.tolist(),
                "L_err": self.result.L_err.tolist()}


# --------------------------------------------------------------------------------------------
# Cell construction
# --------------------------------------------------------------------------------------------

def supercell_repeats(atoms, target_atoms: int) -> tuple[int, int, int]:
    """Repetitions (a, b, c) giving about ``target_atoms`` atoms in a near-cubic cell."""
    n0 = len(atoms)
    lengths = atoms.cell.lengths()
    kmax = max(1, min(12, math.ceil((target_atoms / n0) ** (1 / 3) * 3)))
    best, best_score = (1, 1, 1), float("inf")
    for a in range(1, kmax + 1):
        for b in range(1, kmax + 1):
            for c in range(1, kmax + 1):
                n = n0 * a * b * c
                L = lengths * (a, b, c)
                score = abs(n - target_atoms) / target_atoms + 0.1 * (L.max() / L.min() - 1)
                if score < best_score - 1e-12:
                    best, best_score = (a, b, c), score
    return best


def _thermalize(atoms, T: float, rng) -> None:
    """Maxwell-Boltzmann momenta at T with zero total momentum (ASE >= 3.29 or older)."""
    from ase.md import velocitydistribution as vd

    if hasattr(vd, "thermalize_momenta"):
        vd.thermalize_momenta(atoms, T, rng=rng)
    else:  # ASE < 3.29
        vd.MaxwellBoltzmannDistribution(atoms, temperature_K=T, rng=rng)
    vd.Stationary(atoms)


def _langevin(atoms, T: float, settings: TransportSettings, rng):
    """ASE Langevin at T; centre of mass fixed with FixCom when ``settings.fix_com``."""
    from ase import units
    from ase.md.langevin import Langevin

    if settings.fix_com:
        from ase.constraints import FixCom

        atoms.set_constraint(FixCom())
    return Langevin(atoms, timestep=settings.timestep_fs * units.fs, temperature_K=T,
                    friction=settings.friction_per_fs / units.fs, fixcm=False, rng=rng)


def build_cell(atoms, settings: TransportSettings, calculator=None):
    """Supercell of ``atoms`` near ``target_atoms``, volume-scaled, rattled and melted.

    Melting runs ``melt_steps`` Langevin steps at ``melt_temperature_K`` with ``calculator``
    (skipped when ``melt_steps`` is 0). Returns new, wrapped Atoms without calculator.
    """
    if atoms.cell.rank != 3:
        raise SeilabError("phase structure: needs a periodic 3D cell")
    cell = atoms.repeat(supercell_repeats(atoms, settings.target_atoms))
    cell.pbc = True
    if settings.volume_scale != 1.0:
        cell.set_cell(cell.cell * settings.volume_scale ** (1 / 3), scale_atoms=True)
    rng = np.random.default_rng(settings.seed)
    if settings.rattle_A > 0:
        cell.positions += rng.normal(scale=settings.rattle_A, size=cell.positions.shape)
    if settings.melt_steps > 0:
        if calculator is None:
            raise SeilabError("calculator: needed to melt the cell (melt_steps > 0)")
        cell.calc = calculator
        _thermalize(cell, settings.melt_temperature_K, rng)
        _langevin(cell, settings.melt_temperature_K, settings, rng).run(settings.melt_steps)
        energy = cell.get_potential_energy()
        if not (np.isfinite(energy) and np.all(np.isfinite(cell.positions))):
            raise BlowUp(f"melt at {settings.melt_temperature_K:g} K blew up (non-finite energy or positions "
                         f"after {settings.melt_steps} steps)")
        cell.calc = None
        cell.set_constraint()
    cell.wrap()
    cell.set_momenta(np.zeros((len(cell), 3)))
    cell.info = {}
    return cell


# --------------------------------------------------------------------------------------------
# extxyz chunk files
# --------------------------------------------------------------------------------------------

def count_complete_frames(path: Path, truncate: bool = True) -> int:
    """Number of complete extxyz frames in ``path``; a partial last frame is cut off."""
    if not path.is_file():
        return 0
    n_frames, good = 0, 0
    with open(path, "rb") as fh:
        while True:
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
            n_frames += 1
            good = fh.tell()
    if truncate and good != path.stat().st_size:
        log.warning("%s: cutting a partial frame after %d complete frames", path, n_frames)
        with open(path, "r+b") as fh:
            fh.truncate(good)
    return n_frames


def _append_frames(path: Path, frames: list) -> None:
    from ase.io import write

    buf = io.StringIO()
    write(buf, frames, format="extxyz")
    with open(path, "a") as fh:
        fh.write(buf.getvalue())
        fh.flush()
        os.fsync(fh.fileno())


def _snapshot(atoms, step: int, time_ps: float):
    snap = atoms.copy()
    snap.calc = None
    snap.set_constraint()
    snap.info = {"step": int(step), "time_ps": float(time_ps),
                 "energy_eV": float(atoms.get_potential_energy()),
                 "temperature_K_inst": float(atoms.get_temperature())}
    return snap


# --------------------------------------------------------------------------------------------
# Campaign
# --------------------------------------------------------------------------------------------

def _check_same(path: Path, current: dict, what: str) -> None:
    if path.is_file():
        old = read_json(path)  # paths inside a campaign come back absolute
        diff = [k for k in current if k in old and old[k] != current[k]]
        if diff:
            raise SeilabError(f"{path}: existing {what} made with different {', '.join(diff)}; "
                              f"delete {path.parent} or use another output folder")


def _temperature_dir(phase_dir: Path, T: float) -> Path:
    return phase_dir / (f"T{int(round(T)):04d}K" if abs(T - round(T)) < 1e-9 else f"T{T:g}K")


def run_campaign(phases: Iterable[Any], calculator, out_dir: str | os.PathLike,
                 settings: TransportSettings | None = None,
                 progress: Callable[[dict], None] | None = None,
                 on_error: str = "raise") -> list[CampaignEntry]:
    """Run (or resume) the transport campaign and return one entry per phase and temperature.

    Parameters
    ----------
    phases : :class:`Phase` objects, ``(name, atoms)`` pairs, dicts or bare ASE Atoms.
    calculator : any ASE calculator (attached to each system in turn).
    out_dir : output folder (created).
    settings : :class:`TransportSettings` (default: the defaults).
    progress : called after every chunk written with
        ``{"phase", "temperature_K", "frames_done", "frames_total"}``.
    on_error : ``"raise"`` (default) stops at the first phase whose melt or MD blows up;
        ``"record"`` writes ``failed.json`` for it, returns a ``"failed"`` entry and goes on.
    """
    from seilab.provenance import is_valid_artifact, record, write_json

    settings = settings or TransportSettings()
    if calculator is None:
        raise SeilabError("calculator: an ASE calculator is required")
    if on_error not in ("raise", "record"):
        raise SeilabError(f"on_error: {on_error!r}; use 'raise' or 'record'")
    if settings.error_method != "blocks":
        raise SeilabError(f"error_method: '{settings.error_method}' needs several runs; the campaign makes "
                          f"one per phase and temperature, use 'blocks'")
    phases = [as_phase(p) for p in phases]
    if not phases:
        raise SeilabError("phases: empty list")
    names = [p.name for p in phases]
    if len(set(names)) != len(names):
        raise SeilabError(f"phases: duplicated names {sorted({n for n in names if names.count(n) > 1})}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dump = settings.model_dump(mode="json")
    entries: list[CampaignEntry] = []

    for phase in phases:
        pdir = out / phase.name
        pdir.mkdir(exist_ok=True)
        cell_path = pdir / "cell.extxyz"
        cell_settings = {k: dump[k] for k in _CELL_KEYS}
        _check_same(pdir / "cell.settings.json", cell_settings, "cell")
        failed = _recorded_failure(pdir, cell_settings)
        if failed is None and is_valid_artifact(cell_path):
            from seilab.provenance import read_extxyz

            cell = read_extxyz(cell_path, index=0)
        elif failed is None:
            log.info("%s: building and melting a cell", phase.name)
            try:
                cell = build_cell(phase.atoms, settings, calculator)
            except BlowUp as exc:
                failed = _record_failure(pdir, cell_settings, f"{phase.name}: {exc}", on_error)
            else:
                from seilab.provenance import write_extxyz

                write_extxyz(cell_path, [cell], record(STAGE, settings=dump, phase=phase.name,
                                                       composition=phase.composition, step="cell"))
                write_json(pdir / "cell.settings.json", cell_settings)
        for T in settings.temperatures_K:
            tdir = _temperature_dir(pdir, float(T))
            if failed is not None:
                entries.append(_failed_entry(phase, float(T), tdir, failed))
                continue
            entries.append(_run_temperature(phase, cell, cell_path, float(T), calculator, settings, tdir,
                                            progress, on_error))

    write_json(out / "transport_summary.json", {"entries": [e.to_dict() for e in entries]},
               record(STAGE, settings=dump))
    return entries


def _recorded_failure(folder: Path, settings: dict) -> str | None:
    """The reason stored in ``folder/failed.json`` when it was written with these settings."""
    path = folder / "failed.json"
    if not path.is_file():
        return None
    data = load_json(path)
    if data is None:
        return None
    return data.get("error") if data.get("settings") == json.loads(json.dumps(settings)) else None


def _record_failure(folder: Path, settings: dict, error: str, on_error: str) -> str:
    """Raise (``on_error="raise"``) or write ``failed.json`` and return the reason."""
    from seilab.provenance import record, write_json

    if on_error == "raise":
        raise BlowUp(error)
    log.warning("%s (recorded in %s; the campaign goes on)", error, folder / "failed.json")
    write_json(folder / "failed.json", {"error": error, "settings": settings}, record(STAGE, step="failed"))
    return error


def _failed_entry(phase: Phase, T: float, tdir: Path, error: str) -> CampaignEntry:
    return CampaignEntry(phase.name, phase.composition, T, tdir, tdir / "trajectory.extxyz",
                         tdir / "onsager.json", None, "failed", 0, error)


def _run_temperature(phase: Phase, cell, cell_path: Path, T: float, calculator,
                     settings: TransportSettings, tdir: Path, progress, on_error: str = "raise") -> CampaignEntry:
    from seilab.provenance import write_json

    tdir.mkdir(parents=True, exist_ok=True)
    dump = settings.model_dump(mode="json")
    md_settings = {k: dump[k] for k in _MD_KEYS} | {"temperature_K": T}
    _check_same(tdir / "md.settings.json", md_settings, "trajectory")
    if not (tdir / "md.settings.json").is_file():
        write_json(tdir / "md.settings.json", md_settings)
    failed = _recorded_failure(tdir, md_settings)
    if failed is None:
        try:
            return _run_temperature_unguarded(phase, cell, cell_path, T, calculator, settings, tdir, progress)
        except BlowUp as exc:  # only blow-ups are results; bad input or files still stop the campaign
            failed = _record_failure(tdir, md_settings, str(exc), on_error)
    return _failed_entry(phase, T, tdir, failed)


def _run_temperature_unguarded(phase: Phase, cell, cell_path: Path, T: float, calculator,
                               settings: TransportSettings, tdir: Path, progress) -> CampaignEntry:
    from seilab.provenance import (is_valid_artifact, read_json, record, sha256_file, sidecar_path,
                                   write_json)

    dump = settings.model_dump(mode="json")
    final, part = tdir / "trajectory.extxyz", tdir / "trajectory.part.extxyz"
    result_path = tdir / "onsager.json"
    n_total = settings.n_steps // settings.sample_every + 1
    est_settings = settings.estimator_kwargs()

    # a finished result for this trajectory and these estimator settings: skip everything
    if is_valid_artifact(final) and result_path.is_file():
        side = read_json(sidecar_path(final))
        res = read_json(result_path)
        prov = res.get("provenance", {})
        same_input = [i.get("sha256") for i in prov.get("inputs", [])] == [side.get("sha256")]
        if (side.get("n_frames") == n_total and same_input
                and prov.get("estimator") == json.loads(json.dumps(est_settings))):
            log.info("%s %g K: finished, skipping", phase.name, T)
            return CampaignEntry(phase.name, phase.composition, T, tdir, final, result_path,
                                 OnsagerResult.from_dict(res), "skipped", 0)

    # bring a finished-but-too-short (or sidecar-less) trajectory back into the part file
    if final.is_file():
        n_final = count_complete_frames(final)
        if not is_valid_artifact(final) or n_final < n_total:
            if part.is_file():
                part.unlink()
            os.replace(final, part)
            if sidecar_path(final).is_file():
                sidecar_path(final).unlink()

    md_steps = 0
    if not final.is_file():
        md_steps = _run_md(phase, cell, T, calculator, settings, part, n_total, progress)
        os.replace(part, final)
        prov = record(STAGE, inputs=[cell_path], settings=dump, phase=phase.name,
                      composition=phase.composition, temperature_K=T, step="md")
        prov["sha256"] = sha256_file(final)
        prov["n_frames"] = count_complete_frames(final, truncate=False)
        write_json(sidecar_path(final), prov)

    from .trajectory import load_trajectory

    traj = load_trajectory(final, index=f":{n_total}")
    meta = {"phase": phase.name, "composition": phase.composition}
    result = Onsager(**est_settings).compute(traj.positions, traj.species, settings.timestep_ps,
                                             traj.volume_A3, T, masses=traj.masses,
                                             label=phase.name, meta=meta).result
    write_json(result_path, result.to_dict(),
               record(STAGE, inputs=[final], settings=dump, estimator=est_settings,
                      phase=phase.name, temperature_K=T, step="onsager"))
    return CampaignEntry(phase.name, phase.composition, T, tdir, final, result_path, result,
                         "computed", md_steps)


def _check_blow_up(snap, previous: np.ndarray, inv_cell: np.ndarray, what: str) -> None:
    """Raise :class:`BlowUp` on non-finite numbers or an atom moving > half a cell vector since the last frame."""
    if not (np.isfinite(snap.info["energy_eV"]) and np.all(np.isfinite(snap.positions))):
        raise BlowUp(f"{what} (non-finite energy or positions)")
    jump = float(np.abs((snap.positions - previous) @ inv_cell).max(initial=0.0))
    if jump > 0.5:
        raise BlowUp(f"{what} (an atom moved {jump:.2f} of a cell vector between two frames)")


def _run_md(phase: Phase, cell, T: float, calculator, settings: TransportSettings, part: Path,
            n_total: int, progress) -> int:
    """Append frames to ``part`` until it holds ``n_total``; return the MD steps run."""
    from ase.io import read

    done = count_complete_frames(part)
    rng = np.random.default_rng([settings.seed, int(round(T * 1000)), done])
    steps = 0
    if done == 0:
        atoms = cell.copy()
        atoms.calc = calculator
        _thermalize(atoms, T, rng)
        dyn = _langevin(atoms, T, settings, rng)
        if settings.n_equil_steps:
            log.info("%s %g K: equilibrating %d steps", phase.name, T, settings.n_equil_steps)
            dyn.run(settings.n_equil_steps)
            steps += settings.n_equil_steps
        _append_frames(part, [_snapshot(atoms, 0, 0.0)])
        done = 1
    else:
        last = read(part, index=done - 1, format="extxyz")
        atoms = cell.copy()
        if len(last) != len(atoms) or last.get_chemical_symbols() != atoms.get_chemical_symbols():
            raise SeilabError(f"{part}: frames do not match {phase.name}'s cell; delete the folder")
        atoms.positions = last.positions
        atoms.set_momenta(last.get_momenta())
        atoms.calc = calculator
        dyn = _langevin(atoms, T, settings, rng)
        log.info("%s %g K: resuming at frame %d of %d", phase.name, T, done, n_total)

    dt_frame_ps = settings.timestep_ps
    buf: list = []
    inv_cell = np.linalg.inv(atoms.cell[:])
    previous = atoms.get_positions()
    while done + len(buf) < n_total:
        dyn.run(settings.sample_every)
        steps += settings.sample_every
        k = done + len(buf)
        snap = _snapshot(atoms, k * settings.sample_every, k * dt_frame_ps)
        _check_blow_up(snap, previous, inv_cell, f"{phase.name} {T:g} K: MD blew up at step "
                                                 f"{k * settings.sample_every}")
        previous = snap.positions
        buf.append(snap)
        if len(buf) >= settings.flush_every or done + len(buf) == n_total:
            _append_frames(part, buf)
            done += len(buf)
            buf = []
            log.info("%s %g K: %d/%d frames", phase.name, T, done, n_total)
            if progress is not None:
                progress({"phase": phase.name, "temperature_K": T, "frames_done": done,
                          "frames_total": n_total})
    atoms.calc = None
    atoms.set_constraint()
    return steps
