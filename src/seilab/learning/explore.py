"""Exploration: MD with the current model, graded per atom with γ, in three batches (paper 2.5).

* **bulk**: the relaxed crystals (chemistry stage), as supercells of ``bulk_target_atoms``, with the
  lattice isotropically rescaled by each of ``bulk_lattice_scales``, at each of ``bulk_temperatures_K``;
* **amorphous**: the amorphous cells of the sampling stage (MPMorph-like), at ``amorphous_temperatures_K``;
* **interface**: the sampling stage's interfaces, replicated in-plane to about ``interface_atoms``
  (the interface normal is the cell's third axis, as pymatgen builds them), at
  ``interface_temperatures_K``.

Each run is NVT Langevin MD (friction ``md.friction_per_fs``, centre of mass fixed) with the model, on
the engine ``learning.engine`` names (:func:`exploration_engine`; ``auto``: LAMMPS when
:func:`seilab.md.find_lmp` finds a binary, else ASE; the run record's ``engine`` says which ran):

* **LAMMPS** (:func:`run_lammps_gamma`, through the MD layer :func:`seilab.md.run_md`, so with its
  restarts, resume and MPI launch, ``learning.mpi_ranks``): ``pair_style pace/extrapolation`` with the
  potential's ``.yaml`` + ``.asi``; γ per atom every ``md.sample_every`` steps (``fix pair``); the frames
  whose max γ exceeds the lower end of ``gamma_window`` are dumped with their per-atom γ; the run stops
  (``fix halt``) when max γ exceeds ``gamma_halt``, keeping the halting frame; ``fix langevin`` damping
  = 1 / ``md.friction_per_fs``. A killed run (``kill -9``) continues from its newest restart file (one
  every ``md.sample_every`` steps) in ``explore/<run>.md/``; the dump is cut there first, so no frame is
  duplicated. Frames are read from the dump with numpy (:func:`seilab.md.dump.read_dump_frame`) and put
  back into the structure's own cell orientation. A LAMMPS error (atoms lost in a blow-up between two γ
  checks) ends the run like a halt, with the frames dumped until then. Frames below the γ window are
  not kept, so the run's γ statistics are over the frames above it (every graded step's max γ is in
  ``explore/<run>.md/gamma.csv``).
* **ASE** (:func:`run_md_gamma`, the ASE engine's γ runner; in-process, the pyace calculator returns γ
  with every force call): a frame is kept every ``md.sample_every`` steps; when the largest γ exceeds
  ``gamma_halt`` (or energy/positions are non-finite) the run stops, keeping the halting frame and up to
  ``halt_keep_frames`` frames from just before it. While it runs, its kept frames (with momenta) are
  checkpointed in ``explore/<run>.partial.extxyz``, so a killed run continues from its last kept frame.
  It does not go through :class:`seilab.md.AseEngine` (whose γ is a second calculator call every
  ``gamma_every`` steps, with other restart files): this runner gets γ for free with the forces.

Either way one run writes ``explore/<run>.extxyz``, frames with the per-atom array ``gamma`` and info
``md_step``, ``max_gamma``, ``md_T_K`` (+ sidecar with its key, halt info and γ statistics), and is
skipped on rerun while the file is valid and its key (potential, structure, settings, seed, engine)
matches.
"""

from __future__ import annotations

import re
import shutil
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from seilab import provenance
from seilab.dynamics import Observer, StopMD, append_frames, nvt, read_frames, replace_frames, run_dynamics, thermalize
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


def exploration_engine(settings, potential=None) -> str:
    """``lammps`` or ``ase`` for ``learning.engine`` (``auto``: LAMMPS when a binary with ML-PACE is found and the
    potential has the ``.yaml`` + ``.asi`` that ``pace/extrapolation`` needs, else ASE)."""
    from seilab.md.lammps import find_lmp

    want = settings.engine
    has_files = potential is None or (getattr(potential, "yaml", None) is not None
                                      and getattr(potential, "asi", None) is not None
                                      and Path(potential.yaml).is_file() and Path(potential.asi).is_file())
    if want == "ase":
        return "ase"
    lmp = find_lmp()
    if want == "auto":
        return "lammps" if lmp is not None and has_files else "ase"
    if lmp is None:
        raise SeilabError("learning.engine: 'lammps', but no LAMMPS with ML-PACE was found; build it with "
                          "`make lammps` (or set SEILAB_LMP), or use learning.engine: ase")
    if not has_files:
        raise SeilabError("learning.engine: 'lammps' needs the potential's .yaml and .asi (active set) for "
                          "pace/extrapolation; use learning.engine: ase")
    return "lammps"


# --------------------------------------------------------------------------------------- sources
def explored_phases(campaign) -> list[str]:
    s = campaign.learning
    names = s.phases or campaign.sampling.phases or [p.name for p in campaign.phases]
    known = {p.name for p in campaign.phases}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SeilabError(f"learning.phases: {unknown} not in the campaign's phases")
    return list(names)


def _from_store(campaign, kind: str) -> dict:
    from seilab.reference.store import DatasetStore

    root = campaign.layout.dataset
    if not DatasetStore.holds_labels(root):
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


def discover_sources(campaign, say: Callable[[str], None] = lambda m: None,
                     settings=None) -> tuple[dict, list[str]]:
    """{'bulk': {phase: Atoms}, 'amorphous': {name: Atoms}, 'interface': {name: Atoms}} and notes, for the
    batches of ``settings`` (default: the campaign's learning settings)."""
    from seilab.sampling.pipeline import sampled_files

    s = settings or campaign.learning
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
            for path in sampled_files(campaign, "crystalline"):
                a = provenance.read_extxyz(path, index=0)
                ph = str(a.info.get("phase") or path.stem)
                if ph in names:
                    found["bulk"].setdefault(ph, a)
            if found["bulk"]:
                notes.append("bulk: crystals from the sampling stage (no chemistry outputs)")
    if "amorphous" in s.batches:
        for path in sampled_files(campaign, "amorphous"):
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
        for path in sampled_files(campaign, "interface"):
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


def build_jobs(campaign, sources: dict, generation: int, settings=None) -> list[ExplorationJob]:
    """Every exploration run of one generation (deterministic names and seeds); ``settings``: the generation's
    learning settings (default: the campaign's; a harvest generation's come from
    :meth:`~seilab.settings.learning.LearningSettings.for_harvest`)."""
    from seilab.sampling.common import make_supercell, plain, seed_for

    s = settings or campaign.learning
    jobs: list[ExplorationJob] = []
    for phase, atoms in sorted(sources.get("bulk", {}).items()):
        cell = make_supercell(plain(atoms), s.bulk_target_atoms)
        for scale in s.bulk_lattice_scales:
            a = cell.copy()
            a.set_cell(a.cell.array * scale, scale_atoms=True)
            for T in s.bulk_temperatures_K:
                name = safe_name(f"bulk_{phase}_x{scale:g}_T{T:g}")
                jobs.append(ExplorationJob(name, "bulk", phase, a, T, s.md.steps,
                                           seed_for(s.seed, generation, name), scale))
    for phase, atoms in sorted(sources.get("amorphous", {}).items()):
        for T in s.amorphous_temperatures_K:
            name = safe_name(f"amorphous_{phase}_T{T:g}")
            jobs.append(ExplorationJob(name, "amorphous", phase, plain(atoms), T, s.md.steps,
                                       seed_for(s.seed, generation, name)))
    for iname, atoms in sorted(sources.get("interface", {}).items()):
        big, reps = replicate_in_plane(plain(atoms), s.interface_atoms)
        phase = str(atoms.info.get("phase") or iname)
        for T in s.interface_temperatures_K:
            name = safe_name(f"interface_{iname}_{reps[0]}x{reps[1]}_T{T:g}")
            jobs.append(ExplorationJob(name, "interface", phase, big, T, s.interface_md_steps or s.md.steps,
                                       seed_for(s.seed, generation, name)))
    return jobs


# --------------------------------------------------------------------------------------- MD
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

    stored = [] if checkpoint is None else read_frames(checkpoint)
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
        replace_frames(checkpoint, frames)
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

    def watch(step: int) -> None:
        """γ of every step (the calculator returns it with the forces): halt above ``gamma_halt``, keep a
        frame every ``sample_every`` steps and a buffer of recent ones for the halt."""
        g = np.asarray(calc.results.get("gamma"), dtype=float)
        e = calc.results.get("energy")
        finite = np.all(np.isfinite(work.positions)) and e is not None and np.isfinite(e) and np.all(np.isfinite(g))
        gmax = float(np.max(g)) if finite and g.size else np.inf
        if not finite or gmax > gamma_halt:
            info.update(halted=True, halt_step=step,
                        reason=(f"max γ {gmax:.3g} > {gamma_halt:g}" if finite else "non-finite energy or positions"))
            if keep_before_halt > 0:
                have = {f.info["md_step"] for f in frames}
                frames.extend(b for b in buffer if b.info["md_step"] not in have)
            if finite:
                frames.append(snap(step))
            raise StopMD(info["reason"])
        if step % sample_every == 0:
            frames.append(snap(step, momenta=checkpoint is not None))
            if checkpoint is not None:
                append_frames(checkpoint, frames[-1:])
        elif keep_before_halt > 0 and step % buffer_every == 0:
            buffer.append(snap(step))

    step = run_dynamics(dyn, steps, [Observer(watch, 1)], start=step).step
    info["steps_run"] = step
    frames.sort(key=lambda f: f.info["md_step"])
    for f in frames:
        if "momenta" in f.arrays:
            del f.arrays["momenta"]
    return frames, info


def run_lammps_gamma(atoms, potential, elements, temperature_K: float, steps: int, timestep_fs: float,
                     friction_per_fs: float, sample_every: int, gamma_lower: float, gamma_halt: float, seed: int,
                     workdir: Path, mpi_ranks: int = 1, progress: Callable[[str], None] | None = None
                     ) -> tuple[list, dict]:
    """Langevin NVT in LAMMPS with per-atom γ every ``sample_every`` steps (:mod:`seilab.md`); returns (frames, info)
    like :func:`run_md_gamma`.

    Frames: those graded frames after step 0 whose max γ exceeds ``gamma_lower`` (the halting one included), as plain Atoms in
    ``atoms``' cell (the LAMMPS box is that cell rotated; positions are mapped back through fractional
    coordinates) with the per-atom array ``gamma`` and info ``md_step``, ``max_gamma``, ``md_T_K`` (the thermo
    temperature of that step). ``info``: steps run, halted, halt step, reason, resumed_from_step, plus the engine's
    numbers (frames graded, max γ over every graded step, MD-loop atom-steps/s, segments, LAMMPS version). Calling
    it again on the same ``workdir`` after a kill continues the run from its newest restart file.
    """
    from ase import Atoms

    from seilab.md.dump import read_dump_frame, scan_dump
    from seilab.md.engine import MDSpec, Potential, load_state, merge_segments
    from seilab.md.engines import run_md
    from seilab.md.lammps import EXTRAP_DUMP, GAMMA_TXT, parse_log, read_gamma

    work = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
    spec = MDSpec(structure=work, potential=Potential.from_any(potential, "learning potential"),
                  elements=tuple(elements), ensemble="nvt", temperature_K=float(temperature_K),
                  timestep_fs=float(timestep_fs), steps=int(steps), thermo_every=sample_every,
                  dump_every=int(steps), restart_every=sample_every, keep_restarts=2,
                  thermostat_damp_fs=1.0 / friction_per_fs, seed=1 + int(seed) % 900_000_000,
                  gamma_every=sample_every, gamma_dump_threshold=float(gamma_lower), gamma_halt=float(gamma_halt),
                  velocities=True, mpi_ranks=int(mpi_ranks), section="learning")
    workdir = Path(workdir)
    error = None
    try:
        res = run_md(spec, workdir, "lammps", progress=progress)
    except SeilabError as exc:  # e.g. atoms lost in a blow-up between two γ checks: the run ends there
        res, error = None, str(exc)
    state = load_state(workdir)
    segs = state.get("segments", [])
    rows = merge_segments([(sg["start_step"], parse_log(workdir / sg["log"])["rows"]) for sg in segs])
    temps = {r["step"]: r.get("temperature_K") for r in rows}
    graded = {k: v for k, v in read_gamma(workdir / GAMMA_TXT) if k > 0}  # (step 0: the starting structure)
    cell = np.asarray(work.cell.array, dtype=float)
    frames: dict[int, Atoms] = {}
    dump = workdir / EXTRAP_DUMP
    index, good_end, _ = scan_dump(dump) if dump.is_file() else ([], 0, None)  # complete frames only
    ends = [off for _, off in index[1:]] + [good_end]
    for (step, start), end in zip(index, ends):
        if step == 0:  # the starting structure, not an MD frame (ASE keeps none at step 0 either)
            continue
        fr = read_dump_frame(dump, (start, end), specorder=elements)
        box = fr.cell
        if not np.allclose(box.cellpar(), work.cell.cellpar(), rtol=1e-6, atol=1e-6):
            raise SeilabError(f"{dump}: step {step}: the box {box.cellpar().round(4).tolist()} is not the NVT cell "
                              f"{work.cell.cellpar().round(4).tolist()}")
        frac = np.linalg.solve(box.array.T, (fr.positions - fr.get_celldisp().reshape(3)).T).T
        g = np.asarray(fr.arrays["f_pace_gamma"], dtype=float)
        a = Atoms(fr.numbers, positions=frac @ cell, cell=cell, pbc=True)
        a.arrays["gamma"] = g
        T = temps.get(step)
        a.info.update(md_step=int(step), max_gamma=float(g.max()) if g.size else 0.0,
                      md_T_K=float(T) if T is not None else float("nan"))
        frames[int(step)] = a  # (a resumed dump has each step once; a dict keeps it so whatever happens)
    last = rows[-1]["step"] if rows else 0
    halted_msg = state.get("halted")
    if error is not None:
        halted, reason = True, f"LAMMPS stopped: {error.split(': ', 1)[-1][:200]}"
    elif halted_msg:
        gmax = graded.get(last, max(graded.values()) if graded else float("nan"))
        halted, reason = True, f"max γ {gmax:.3g} > {gamma_halt:g}"
    else:
        halted, reason = False, "finished"
    resumed = [sg["start_step"] for sg in segs if sg.get("restart")]
    info = {"steps_run": int(last), "halted": halted, "halt_step": int(last) if halted else None, "reason": reason,
            "resumed_from_step": resumed[-1] if resumed else None, "frames_graded": len(graded),
            "max_gamma_graded": max(graded.values()) if graded else None, "segments": len(segs),
            "md_loop_atom_steps_per_s": round(res.atom_steps_per_s, 1) if res and res.atom_steps_per_s else None,
            "lammps_version": (res.info.get("lammps_version") if res else None), "mpi_ranks": int(mpi_ranks)}
    return [frames[k] for k in sorted(frames)], info


def _clean_md_folder(folder: Path) -> None:
    """After a LAMMPS run's frames are in its extxyz: drop the bulky files (restarts, dumps, data file);
    logs, inputs, thermo.csv, gamma.csv, run.json and result.json stay."""
    from seilab.md.engine import DUMP
    from seilab.md.lammps import EXTRAP_DUMP

    shutil.rmtree(folder / "restart", ignore_errors=True)
    for name in (DUMP, EXTRAP_DUMP, "structure.data"):
        (folder / name).unlink(missing_ok=True)


def job_key(job: ExplorationJob, potential_sha: str, settings, engine: str = "ase") -> str:
    parts = {"potential": potential_sha, "structure": structure_key(job.atoms), "T": job.temperature_K,
             "steps": job.steps, "seed": job.seed, "dt": settings.md.timestep_fs,
             "friction": settings.md.friction_per_fs, "every": settings.md.sample_every,
             "halt": settings.gamma_halt, "keep": settings.halt_keep_frames}
    if engine != "ase":  # (ASE runs keep the key they always had)
        parts.update(engine=engine, gamma_lower=settings.gamma_window[0])
    return provenance.digest(parts, 24)


def run_job(job: ExplorationJob, calc, settings, folder: Path, potential_sha: str, engine: str = "ase",
            potential=None, elements=None) -> dict:
    """Run one exploration job into ``folder/<name>.extxyz`` unless done; returns its record.

    ``engine`` ``ase``: :func:`run_md_gamma` with ``calc`` (the model calculator with γ); ``lammps``:
    :func:`run_lammps_gamma` with ``potential`` (its files) and ``elements`` (the potential's element order) in
    ``folder/<name>.md/``."""
    path = Path(folder) / f"{job.name}.extxyz"
    key = job_key(job, potential_sha, settings, engine)
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
    md_dir = Path(folder) / f"{job.name}.md"
    partial_key = Path(folder) / f"{job.name}.partial.key"
    if not partial_key.is_file() or partial_key.read_text().strip() != key:
        partial.unlink(missing_ok=True)  # frames of a run with other settings or another potential
        shutil.rmtree(md_dir, ignore_errors=True)
    Path(folder).mkdir(parents=True, exist_ok=True)
    provenance.atomic_write_text(partial_key, key + "\n")
    if engine == "lammps":
        if potential is None or not elements:
            raise SeilabError("learning: a LAMMPS exploration run needs the potential and its elements")
        frames, info = run_lammps_gamma(job.atoms, potential, elements, job.temperature_K, job.steps,
                                        settings.md.timestep_fs, settings.md.friction_per_fs,
                                        settings.md.sample_every, settings.gamma_window[0], settings.gamma_halt,
                                        job.seed, md_dir, mpi_ranks=settings.mpi_ranks)
    elif engine == "ase":
        frames, info = run_md_gamma(job.atoms, calc, job.temperature_K, job.steps, settings.md.timestep_fs,
                                    settings.md.friction_per_fs, settings.md.sample_every, settings.gamma_halt,
                                    settings.halt_keep_frames, job.seed, checkpoint=partial)
    else:
        raise SeilabError(f"learning.engine: unknown engine {engine!r} (known: lammps, ase)")
    seconds = time.perf_counter() - t0
    for f in frames:
        f.info.update(batch=job.batch, phase=job.phase, run=job.name, md_target_T_K=job.temperature_K)
    stats = gamma_stats([f.arrays["gamma"] for f in frames], settings.gamma_window)
    run = {"name": job.name, "batch": job.batch, "phase": job.phase, "n_atoms": len(job.atoms),
           "temperature_K": job.temperature_K, "lattice_scale": job.lattice_scale, "steps": job.steps,
           "seed": job.seed, "frames": len(frames), "seconds": round(seconds, 2),
           "atom_steps_per_s": round(len(job.atoms) * (info["steps_run"] - (info["resumed_from_step"] or 0))
                                     / max(seconds, 1e-9), 1),
           "engine": engine, "gamma": stats, **info}
    rec = provenance.record("learning.explore", settings={"md": settings.md.model_dump(), **{k: getattr(settings, k) for k in (
        "gamma_halt", "gamma_window", "halt_keep_frames", "engine", "mpi_ranks")}},
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
    if md_dir.is_dir():
        _clean_md_folder(md_dir)
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
