"""Exploration: MD with the current model, graded per atom with γ, in three batches (paper 2.5).

* **bulk**: the relaxed crystals (chemistry stage), as supercells of ``bulk_target_atoms``, with the
  lattice isotropically rescaled by each of ``bulk_lattice_scales``, at each of ``bulk_temperatures_K``;
* **amorphous**: the amorphous cells of the sampling stage (MPMorph-like), at ``amorphous_temperatures_K``;
* **interface**: the sampling stage's interfaces, replicated in-plane to about ``interface_atoms``
  (the interface normal is the cell's third axis, as pymatgen builds them), at
  ``interface_temperatures_K``.

Each run is NVT Langevin MD (ASE) with the model calculator that also returns per-atom γ. A frame is
kept every ``md_sample_every`` steps with its γ as the per-atom array ``gamma``; when the largest γ
exceeds ``gamma_halt`` the run stops, keeping the halting frame and up to ``halt_keep_frames``
frames from just before it (the configurations where the model starts to fail). One run writes
``explore/<run>.extxyz`` (+ sidecar with its key and γ statistics) and is skipped on rerun while the
file is valid and its key (potential, structure, settings, seed) matches; while it runs, its kept frames
(with momenta) are checkpointed in ``explore/<run>.partial.extxyz``, so a killed run continues from
its last kept frame.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from seilab import provenance
from seilab.dynamics import append_frames, nvt, read_frames, thermalize
from seilab.errors import SeilabError
from seilab.learning.gamma import gamma_stats


@dataclass
class ExplorationJob:
    name: str
    batch: str
    phase: str
    atoms: object
    temperature_K: float
    steps: int
    seed: int
    lattice_scale: float = 1.0


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-")[:120] or "x"


def structure_key(atoms) -> str:
    from seilab.reference.store import structure_hash

    return structure_hash(atoms)


# --------------------------------------------------------------------------------------- sources
def explored_phases(campaign) -> list[str]:
    s = campaign.learning
    names = s.phases or campaign.sampling.phases or [p.name for p in campaign.phases]
    known = {p.name for p in campaign.phases}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SeilabError(f"learning.phases: {unknown} not in the campaign's phases")
    return list(names)


def _manifest_files(campaign, kind: str) -> list[Path]:
    from seilab.sampling.pipeline import manifest_path

    root = campaign.stage_dir("sampling")
    out = []
    if manifest_path(campaign).is_file():
        for entry in provenance.read_json(manifest_path(campaign)).get("files", []):
            if entry.get("kind") == kind:
                out.append(root / entry["path"])
    else:
        sub = {"amorphous": "amorphous", "interface": "interfaces", "crystalline": "crystalline"}[kind]
        if (root / sub).is_dir():
            out = sorted((root / sub).glob("*.extxyz"))
    return [p for p in out if provenance.is_valid_artifact(p)]


def _from_store(campaign, kind: str) -> dict:
    from seilab.reference.store import DatasetStore

    root = Path(campaign.output) / "dataset"
    if not (root / "labels").is_dir():
        return {}
    best: dict = {}
    for lab in DatasetStore(root):
        if lab.meta.get("kind") != kind:
            continue
        name = lab.meta.get("phase") or lab.atoms.get_chemical_formula()
        if name not in best or len(lab.atoms) > len(best[name]):
            a = lab.atoms.copy()
            a.calc = None
            best[name] = a
    return best


def discover_sources(campaign, say: Callable[[str], None] = lambda m: None) -> tuple[dict, list[str]]:
    """{'bulk': {phase: Atoms}, 'amorphous': {name: Atoms}, 'interface': {name: Atoms}} and notes."""
    s = campaign.learning
    found: dict = {"bulk": {}, "amorphous": {}, "interface": {}}
    notes: list[str] = []
    names = explored_phases(campaign)
    if "bulk" in s.batches:
        from seilab.chemistry import load_relaxed_phases

        for n in names:
            try:
                found["bulk"][n] = load_relaxed_phases(campaign, names=[n])[n]
            except SeilabError as exc:
                notes.append(f"bulk {n}: {exc}")
        if not found["bulk"]:
            for path in _manifest_files(campaign, "crystalline"):
                a = provenance.read_extxyz(path, index=0)
                ph = str(a.info.get("phase") or path.stem)
                if ph in names:
                    found["bulk"].setdefault(ph, a)
            if found["bulk"]:
                notes.append("bulk: crystals from the sampling stage (no chemistry outputs)")
    if "amorphous" in s.batches:
        for path in _manifest_files(campaign, "amorphous"):
            a = provenance.read_extxyz(path, index=-1)
            ph = str(a.info.get("phase") or path.stem)
            if ph in names:
                found["amorphous"].setdefault(ph, a)
        if not found["amorphous"]:
            found["amorphous"] = {k: v for k, v in _from_store(campaign, "amorphous").items()}
            if found["amorphous"]:
                notes.append("amorphous: largest labelled amorphous cells of the dataset store")
    if "interface" in s.batches:
        frames = []
        for path in _manifest_files(campaign, "interface"):
            for k, a in enumerate(provenance.read_extxyz(path)):
                frames.append((f"{path.stem}-{k}", a, k))
        # one interface per plane pair first, then the next ones
        frames.sort(key=lambda t: (t[2], t[0]))
        for name, a, _ in frames[: s.interface_max_structures]:
            found["interface"][name] = a
        if not found["interface"]:
            store = _from_store(campaign, "interface")
            for name in sorted(store)[: s.interface_max_structures]:
                found["interface"][name] = store[name]
            if store:
                notes.append("interface: largest labelled interfaces of the dataset store")
    for b in s.batches:
        if not found[b]:
            notes.append(f"{b}: no structures found (batch skipped)")
    for n in notes:
        say(n)
    return found, notes


def replicate_in_plane(atoms, target_atoms: int, normal_axis: int = 2, max_repeat: int = 2000):
    """Repeat ``atoms`` along the two in-plane cell axes to about ``target_atoms`` atoms, keeping the
    in-plane lengths balanced. Returns (supercell, (na, nb))."""
    axes = [i for i in range(3) if i != normal_axis]
    n = len(atoms)
    want = max(1.0, target_atoms / max(n, 1))
    lengths = atoms.cell.lengths()[axes]
    best, best_score = (1, 1), np.inf
    top = int(min(max_repeat, np.ceil(want) + 1))
    for na in range(1, top + 1):
        # the nb that best completes na for the target, and its neighbours
        guess = max(1, int(round(want / na)))
        for nb in {max(1, guess - 1), guess, guess + 1}:
            score = abs(np.log(na * nb / want)) + 0.3 * abs(np.log((na * lengths[0]) / (nb * lengths[1])))
            if score < best_score - 1e-12:
                best, best_score = (na, nb), score
    reps = [1, 1, 1]
    reps[axes[0]], reps[axes[1]] = best
    big = atoms.repeat(tuple(reps))
    return big, best


def build_jobs(campaign, sources: dict, generation: int) -> list[ExplorationJob]:
    """Every exploration run of one generation (deterministic names and seeds)."""
    from seilab.sampling.common import make_supercell, plain, seed_for

    s = campaign.learning
    jobs: list[ExplorationJob] = []
    for phase, atoms in sorted(sources.get("bulk", {}).items()):
        cell = make_supercell(plain(atoms), s.bulk_target_atoms)
        for scale in s.bulk_lattice_scales:
            a = cell.copy()
            a.set_cell(a.cell.array * scale, scale_atoms=True)
            for T in s.bulk_temperatures_K:
                name = safe_name(f"bulk_{phase}_x{scale:g}_T{T:g}")
                jobs.append(ExplorationJob(name, "bulk", phase, a, T, s.md_steps,
                                           seed_for(s.seed, generation, name), scale))
    for phase, atoms in sorted(sources.get("amorphous", {}).items()):
        for T in s.amorphous_temperatures_K:
            name = safe_name(f"amorphous_{phase}_T{T:g}")
            jobs.append(ExplorationJob(name, "amorphous", phase, plain(atoms), T, s.md_steps,
                                       seed_for(s.seed, generation, name)))
    for iname, atoms in sorted(sources.get("interface", {}).items()):
        big, reps = replicate_in_plane(plain(atoms), s.interface_atoms)
        phase = str(atoms.info.get("phase") or iname)
        for T in s.interface_temperatures_K:
            name = safe_name(f"interface_{iname}_{reps[0]}x{reps[1]}_T{T:g}")
            jobs.append(ExplorationJob(name, "interface", phase, big, T, s.interface_md_steps or s.md_steps,
                                       seed_for(s.seed, generation, name)))
    return jobs


# --------------------------------------------------------------------------------------- MD
def _read_checkpoint(path: Path | None) -> list:
    return [] if path is None else read_frames(path)


def _write_checkpoint(path: Path, frames: list) -> None:
    """Replace the checkpoint by ``frames`` atomically (only when stored frames are dropped; new frames are
    appended, :func:`seilab.dynamics.append_frames`)."""
    import os

    from ase.io import write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp, frames, format="extxyz")
    os.replace(tmp, path)


def run_md_gamma(atoms, calc, temperature_K: float, steps: int, timestep_fs: float, friction_per_fs: float,
                 sample_every: int, gamma_halt: float, keep_before_halt: int, seed: int,
                 checkpoint: Path | None = None) -> tuple[list, dict]:
    """Langevin NVT with per-atom γ; returns (frames, info).

    Frames are plain Atoms with the per-atom array ``gamma`` and info ``md_step``, ``max_gamma``,
    ``md_T_K``. ``info``: steps run, halted (bool), halt step, reason. With ``checkpoint`` every kept
    frame (with momenta) is also written there, and a run that finds frames in it continues from the
    last one (the thermostat noise is reseeded from the step; the pre-halt buffer starts empty).
    """
    from ase import Atoms

    stored = _read_checkpoint(checkpoint)
    frames = [f for f in stored if int(f.info.get("md_step", -1)) <= steps]
    step = int(frames[-1].info["md_step"]) if frames else 0
    start = frames[-1] if frames else atoms
    work = Atoms(start.numbers, positions=start.positions, cell=start.cell, pbc=start.pbc)
    work.calc = calc
    if frames and "momenta" in frames[-1].arrays:
        work.set_momenta(frames[-1].get_momenta())
    else:
        frames, step = [], 0
        thermalize(work, temperature_K, np.random.default_rng(seed))
    if checkpoint is not None and len(frames) != len(stored):
        _write_checkpoint(Path(checkpoint), frames)
    dyn = nvt(work, "langevin", temperature_K=temperature_K, timestep_fs=timestep_fs,
              rng=np.random.default_rng([seed, step]), friction_per_fs=friction_per_fs, fix_com=True)

    def snap(step: int, momenta: bool = False):
        g = np.asarray(calc.results["gamma"], dtype=float).reshape(-1).copy()
        a = Atoms(work.numbers, positions=work.positions.copy(), cell=work.cell, pbc=work.pbc)
        if momenta:
            a.set_momenta(work.get_momenta())
        a.arrays["gamma"] = g
        a.info.update(md_step=int(step), max_gamma=float(np.max(g)) if g.size else 0.0,
                      md_T_K=float(work.get_temperature()))
        return a

    buffer: deque = deque(maxlen=max(keep_before_halt, 0) or 1)
    buffer_every = max(1, sample_every // 4)
    info = {"steps_run": step, "halted": False, "halt_step": None, "reason": "finished",
            "resumed_from_step": step or None}
    work.get_potential_energy()
    while step < steps:
        dyn.run(1)
        step += 1
        g = np.asarray(calc.results.get("gamma"), dtype=float)
        e = calc.results.get("energy")
        finite = np.all(np.isfinite(work.positions)) and e is not None and np.isfinite(e) and np.all(np.isfinite(g))
        gmax = float(np.max(g)) if finite and g.size else np.inf
        if not finite or gmax > gamma_halt:
            info.update(halted=True, halt_step=step,
                        reason=(f"max γ {gmax:.3g} > {gamma_halt:g}" if finite else "non-finite energy or positions"))
            if keep_before_halt > 0:
                have = {f.info["md_step"] for f in frames}
                frames += [b for b in buffer if b.info["md_step"] not in have]
            if finite:
                frames.append(snap(step))
            break
        if step % sample_every == 0:
            frames.append(snap(step, momenta=checkpoint is not None))
            if checkpoint is not None:
                append_frames(checkpoint, frames[-1:])
        elif keep_before_halt > 0 and step % buffer_every == 0:
            buffer.append(snap(step))
    info["steps_run"] = step
    frames.sort(key=lambda f: f.info["md_step"])
    for f in frames:
        if "momenta" in f.arrays:
            del f.arrays["momenta"]
    return frames, info


def job_key(job: ExplorationJob, potential_sha: str, settings) -> str:
    parts = {"potential": potential_sha, "structure": structure_key(job.atoms), "T": job.temperature_K,
             "steps": job.steps, "seed": job.seed, "dt": settings.md_timestep_fs,
             "friction": settings.md_friction_per_fs, "every": settings.md_sample_every,
             "halt": settings.gamma_halt, "keep": settings.halt_keep_frames}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def run_job(job: ExplorationJob, calc, settings, folder: Path, potential_sha: str) -> dict:
    """Run one exploration job into ``folder/<name>.extxyz`` unless done; returns its record."""
    path = Path(folder) / f"{job.name}.extxyz"
    key = job_key(job, potential_sha, settings)
    side = provenance.sidecar_path(path)
    if provenance.is_valid_artifact(path):
        try:
            rec = provenance.read_json(side)
        except SeilabError:
            rec = {}
        if rec.get("key") == key and "run" in rec:
            return {**rec["run"], "skipped": True}
    t0 = time.perf_counter()
    partial = Path(folder) / f"{job.name}.partial.extxyz"
    partial_key = Path(folder) / f"{job.name}.partial.key"
    if partial.is_file() and (not partial_key.is_file() or partial_key.read_text().strip() != key):
        partial.unlink()  # frames of a run with other settings or another potential
    provenance.atomic_write_text(partial_key, key + "\n")
    frames, info = run_md_gamma(job.atoms, calc, job.temperature_K, job.steps, settings.md_timestep_fs,
                                settings.md_friction_per_fs, settings.md_sample_every, settings.gamma_halt,
                                settings.halt_keep_frames, job.seed, checkpoint=partial)
    seconds = time.perf_counter() - t0
    for f in frames:
        f.info.update(batch=job.batch, phase=job.phase, run=job.name, md_target_T_K=job.temperature_K)
    stats = gamma_stats([f.arrays["gamma"] for f in frames], settings.gamma_window)
    run = {"name": job.name, "batch": job.batch, "phase": job.phase, "n_atoms": len(job.atoms),
           "temperature_K": job.temperature_K, "lattice_scale": job.lattice_scale, "steps": job.steps,
           "seed": job.seed, "frames": len(frames), "seconds": round(seconds, 2),
           "atom_steps_per_s": round(len(job.atoms) * (info["steps_run"] - (info["resumed_from_step"] or 0))
                                     / max(seconds, 1e-9), 1),
           "gamma": stats, **info}
    rec = provenance.record("learning.explore", settings={k: getattr(settings, k) for k in (
        "md_timestep_fs", "md_friction_per_fs", "md_sample_every", "gamma_halt", "gamma_window", "halt_keep_frames")},
        key=key, run=run)
    if frames:
        provenance.write_extxyz(path, frames, rec)
    else:  # halted before the first frame: an empty marker keeps the run from being redone
        path.parent.mkdir(parents=True, exist_ok=True)
        provenance.atomic_write_text(path, "")
        rec["sha256"] = provenance.sha256_file(path)
        rec["n_frames"] = 0
        provenance.write_json(side, rec)
    partial.unlink(missing_ok=True)
    partial_key.unlink(missing_ok=True)
    return {**run, "skipped": False}


def iter_frames(path: Path):
    """Frames of an exploration file one at a time (an empty file: a run halted before its first frame)."""
    from ase.io import iread

    if Path(path).stat().st_size == 0:
        return
    try:
        yield from iread(path, index=":", format="extxyz")
    except Exception as exc:  # ASE raises many types for malformed files
        raise SeilabError(f"{path}: not a readable extxyz file ({type(exc).__name__}: {exc})") from None
