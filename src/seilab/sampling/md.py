"""NVT molecular dynamics with the reference calculator, checkpointed so a killed run resumes.

The paper's AIMD is NVT with a Nosé–Hoover thermostat at 2 fs; here any ASE calculator drives ASE's
Langevin, Bussi or Nosé–Hoover-chain integrator (``sampling.md.thermostat``).

Checkpoints: every kept frame (positions, momenta, step, energy) is appended to a checkpoint
extxyz (:func:`seilab.dynamics.append_frames`; a partial last frame is cut off on reading), so a kill
loses at most ``stride`` steps. A rerun reads the
checkpoint and continues from its last frame with its momenta; a finished checkpoint is simply
returned. (The thermostat's random stream restarts from a seed derived from the step, so a resumed
run is reproducible but not bit-identical to an uninterrupted one.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seilab.dynamics import Observer, append_frames, nvt, read_frames, replace_frames, run_dynamics, thermalize
from seilab.errors import SeilabError


def _make_dynamics(atoms, settings, temperature_K: float, rng):
    """The sampling thermostat (:func:`seilab.dynamics.nvt`): Langevin with the centre of mass fixed, or
    Bussi / a Nosé–Hoover chain with ``md.damp_fs``."""
    md = settings.md
    return nvt(atoms, temperature_K=temperature_K, rng=rng, fix_com=md.thermostat == "langevin", **md.nvt_kwargs())


def read_checkpoint(path: Path) -> list:
    """Frames of a checkpoint file ([] when absent or unreadable: the run restarts)."""
    return read_frames(path)


def _snapshot(atoms, step: int, temperature_K: float):
    from ase import Atoms

    snap = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc,
                 momenta=atoms.get_momenta())
    snap.info.update(md_step=int(step), md_energy_eV=float(atoms.get_potential_energy()),
                     md_T_K=float(atoms.get_temperature()), md_target_T_K=float(temperature_K))
    pressure = _pressure_GPa(atoms)
    if pressure is not None:
        snap.info["md_pressure_GPa"] = pressure
    return snap


def _pressure_GPa(atoms) -> float | None:
    """Instantaneous pressure of a periodic cell, virial plus kinetic (ideal-gas) part, GPa.

    ``None`` when the calculator has no stress or the cell is not 3-D periodic. The kinetic part
    matters here: at 1500 K a 64-atom cell of ~1000 Å^3 carries N k T / V ≈ 1.3 GPa of it.
    """
    from ase import units
    from ase.calculators.calculator import PropertyNotImplementedError

    if not atoms.pbc.all() or atoms.calc is None or "stress" not in getattr(atoms.calc, "implemented_properties", ()):
        return None
    try:
        stress = atoms.get_stress(voigt=True, include_ideal_gas=True)
    except (PropertyNotImplementedError, NotImplementedError):
        return None
    return float(-np.mean(stress[:3]) / units.GPa)


def run_nvt(atoms, calc, settings, temperature_K: float, steps: int, stride: int, seed: int,
            checkpoint: Path | None = None, key: str = "") -> list:
    """Run ``steps`` NVT steps from ``atoms``; return the frames at steps stride, 2*stride, ...

    Each frame is a plain Atoms (with momenta) whose info has ``md_step``, ``md_energy_eV``
    (potential energy), ``md_T_K`` and, when the calculator gives a stress, ``md_pressure_GPa``
    (virial + kinetic). With ``checkpoint``, frames are checkpointed as they come and
    a rerun continues from the last one. ``key`` (e.g. a fingerprint of the settings and start
    structure) is stored in each checkpointed frame; frames with another key are discarded, so a
    checkpoint of a run with different settings is never continued.
    """
    stored = read_checkpoint(checkpoint) if checkpoint is not None else []
    frames = [f for f in stored if str(f.info.get("ckpt_key", "")) == key]
    frames = [f for f in frames if int(f.info.get("md_step", -1)) <= steps]
    if checkpoint is not None and len(frames) != len(stored):
        replace_frames(checkpoint, frames)
    done = int(frames[-1].info["md_step"]) if frames else 0
    if done >= steps:
        return frames
    work = (frames[-1] if frames else atoms).copy()
    work.calc = calc
    if frames:
        work.set_momenta(frames[-1].get_momenta())
    else:
        thermalize(work, temperature_K, np.random.default_rng(seed))
    dyn = _make_dynamics(work, settings, temperature_K, np.random.default_rng([seed, done]))

    def check(step: int) -> None:
        energy = work.get_potential_energy()
        if not np.isfinite(energy) or not np.all(np.isfinite(work.positions)):
            raise SeilabError(f"MD at {temperature_K:g} K: non-finite energy or positions at step {step} "
                              f"({work.get_chemical_formula()}); lower sampling.md.timestep_fs")

    def keep(step: int) -> None:
        frames.append(_snapshot(work, step, temperature_K))
        if key:
            frames[-1].info["ckpt_key"] = key
        if checkpoint is not None:
            append_frames(checkpoint, frames[-1:])

    run_dynamics(dyn, steps, [Observer(check, stride, at_end=True), Observer(keep, stride)], start=done)
    return frames


def md_job(calc, *, kind: str, name: str, phase: str, start_file: str, temperature_K: float, steps: int, stride: int,
           settings, settings_rec: dict, out: Path, fp: str, start_index: int = 0, keep_arrays: tuple = (),
           keep_info: tuple = (), summary_extra: dict | None = None) -> dict:
    """One resumable reference-MD job of the sampling stage (hot MD, interface MD); returns its summary.

    Skips the run when ``out`` is up to date with the fingerprint ``fp``; otherwise runs (or continues
    from ``<out dir>/work/<out stem>.partial.extxyz``) ``steps`` NVT steps at ``temperature_K`` from
    frame ``start_index`` of ``start_file``, tags every ``stride``-th frame as ``kind`` (source
    ``<kind>:<name>:<T>K:step<n>``, ``temperature_K`` in info, plus the start's ``keep_info`` keys and
    per-atom ``keep_arrays``), rejects close contacts below ``settings.min_distance_A`` and writes
    the kept frames to ``out`` with provenance (stage ``sampling.<kind>``, ``settings_rec``, ``fp``).
    """
    from seilab import provenance
    from seilab.sampling.common import seed_for, split_by_floor, tag, up_to_date

    out = Path(out)
    if up_to_date(out, fp):
        return provenance.read_json(provenance.sidecar_path(out)).get("summary", {})
    start = provenance.read_extxyz(start_file, index=start_index)
    checkpoint = out.parent / "work" / f"{out.stem}.partial.extxyz"
    seed = seed_for(settings.seed, kind, name, temperature_K)
    frames = run_nvt(start, calc, settings, temperature_K, steps, stride, seed, checkpoint, key=fp)
    extra = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in start.info.items() if k in keep_info}
    tagged = []
    for f in frames:
        t = tag(f, kind, phase, f"{kind}:{name}:{temperature_K:g}K:step{f.info['md_step']}",
                temperature_K=float(temperature_K), **extra)
        for key in keep_arrays:
            if key in start.arrays:
                t.arrays[key] = start.arrays[key].copy()
        tagged.append(t)
    kept, rejected = split_by_floor(tagged, settings.min_distance_A)
    summary = {"phase": phase, "temperature_K": float(temperature_K), "frames": len(kept),
               "rejected_close_contacts": len(rejected), "steps": steps,
               "mean_T_K": float(sum(f.info["md_T_K"] for f in frames) / max(len(frames), 1)), **(summary_extra or {})}
    rec = provenance.record(f"sampling.{kind}", inputs=[start_file], settings=settings_rec, summary=summary,
                            fingerprint=fp)
    provenance.write_extxyz(out, kept, rec)
    return summary
