"""Shared pieces of the sampling generators: calculator factories, supercells, distance floor,
reproducible seeds, frame metadata and the parallel job runner.

A *calculator factory* is a picklable zero-argument callable returning an ASE calculator; the
default is ``functools.partial(get_calculator, campaign.reference)``. Tests pass cheap ones
(e.g. Lennard-Jones). Each process builds its calculator once.
"""

from __future__ import annotations

import functools
import itertools
import os
import zlib
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from seilab.errors import SeilabError
from seilab.geometry import min_distance

CalculatorFactory = Callable[[], object]


def reference_factory(reference_settings) -> CalculatorFactory:
    """A picklable factory building the campaign's reference calculator (one per process)."""
    from seilab.reference.calculators import get_calculator

    return functools.partial(get_calculator, reference_settings)


def set_threads(threads: int, env: bool = True) -> None:
    """Limit torch / BLAS threads of this process (see :func:`seilab.reference.labelling.set_threads`)."""
    from seilab.reference.labelling import set_threads as _set

    _set(threads, env)


def seed_for(seed: int, *parts) -> int:
    """A reproducible seed for one job, independent of the order jobs run in."""
    return (seed * 1_000_003 + zlib.crc32("|".join(map(str, parts)).encode())) % (2**32)


def split_by_floor(frames: Iterable, floor_A: float) -> tuple[list, list]:
    """(kept, rejected): frames whose closest pair is at least ``floor_A`` apart, and the others."""
    kept, rejected = [], []
    for f in frames:
        (kept if min_distance(f) >= floor_A else rejected).append(f)
    return kept, rejected


def tag(atoms, kind: str, phase: str, source: str, **extra):
    """A plain copy of ``atoms`` (no calculator, no momenta) carrying kind/phase/source in info."""
    out = atoms.copy()
    out.calc = None
    if "momenta" in out.arrays:
        del out.arrays["momenta"]
    # scalars only; numpy ones (what extxyz gives back, e.g. a resumed MD checkpoint's md_step) as Python's
    out.info = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in atoms.info.items()
                if isinstance(v, (int, float, str, bool, np.integer, np.floating, np.bool_))}
    for key in ("energy", "free_energy", "stress", "ckpt_key"):
        out.info.pop(key, None)
    out.info.update(kind=kind, phase=phase, source=source, **extra)
    return out


def plain(atoms):
    """Copy without calculator, momenta, or per-frame info (positions, cell, pbc, species only)."""
    from ase import Atoms

    return Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)


def cell_heights(cell) -> np.ndarray:
    """Distances between opposite faces of a cell (Å): the sizes that matter for periodic images."""
    cell = np.asarray(cell, dtype=float)
    vol = abs(np.linalg.det(cell))
    return np.array([vol / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)])


#: Crystalline supercells are kept between these fractions of ``target_atoms`` when possible.
SIZE_WINDOW = (0.6, 1.6)


def _shape_score(heights, n: int, target_atoms: int) -> float:
    """Lower is better: anisotropy of the face-to-face heights, plus a mild pull to the target."""
    return (heights.max() / heights.min() - 1.0) + 0.25 * abs(np.log(n / target_atoms))


def best_repeats(cell, n_atoms: int, target_atoms: int, max_repeat: int = 12) -> tuple[tuple[int, int, int], float]:
    """Diagonal repeats giving the most cube-like supercell near ``target_atoms``, and its score.

    Candidates are restricted to ``SIZE_WINDOW`` x target atoms (always reachable when the unit
    cell is smaller than the window's top, since the window spans more than a factor 2); among
    them the most isotropic face-to-face heights win, ties broken by closeness to the target.
    A unit cell already larger than the window is used as it is.
    """
    h = cell_heights(cell)
    lo, hi = SIZE_WINDOW[0] * target_atoms, SIZE_WINDOW[1] * target_atoms
    best, best_score = (1, 1, 1), np.inf
    for reps in itertools.product(range(1, max_repeat + 1), repeat=3):
        n = n_atoms * reps[0] * reps[1] * reps[2]
        if not lo <= n <= hi:
            continue
        score = _shape_score(h * np.array(reps), n, target_atoms)
        if score < best_score - 1e-9:
            best, best_score = reps, score
    if best_score == np.inf:  # unit cell bigger than the window
        best_score = _shape_score(h, n_atoms, target_atoms) + 10.0
    return best, best_score


def make_supercell(atoms, target_atoms: int):
    """The most cube-like diagonal supercell of ``atoms`` (or of its primitive cell) near the target.

    Both the given cell and its standard primitive cell (spglib through pymatgen) are tried as the
    base, so that e.g. a 2-atom bcc cell may become 125 primitive cells instead of 128 atoms.
    """
    candidates = [plain(atoms)]
    try:
        from pymatgen.io.ase import AseAtomsAdaptor
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        prim = SpacegroupAnalyzer(AseAtomsAdaptor.get_structure(plain(atoms)), symprec=0.01)
        prim = prim.get_primitive_standard_structure()
        if len(prim) < len(atoms) and len(atoms) % len(prim) == 0:
            candidates.append(AseAtomsAdaptor.get_atoms(prim))
    except Exception:  # symmetry search can fail on distorted cells; the given cell always works
        pass
    best, best_score = None, np.inf
    for base in candidates:
        reps, score = best_repeats(base.cell, len(base), target_atoms)
        if score < best_score - 1e-9:
            best, best_score = base.repeat(reps), score
    best.wrap()
    return best


def fingerprint(settings: dict, files: Iterable = (), structures: Iterable = ()) -> str:
    """Digest of what an output depends on: settings, input files' bytes, structures.

    Outputs record it in their provenance; :func:`up_to_date` compares it, so a changed setting or
    input regenerates an output instead of silently reusing a stale one. MD checkpoints carry it too.
    """
    from seilab.provenance import digest, sha256_file
    from seilab.reference.store import structure_hash

    payload = {"settings": settings, "files": [sha256_file(f) for f in files],
               "structures": [structure_hash(a) for a in structures]}
    return "fp-" + digest(payload, 24)


def up_to_date(path: str | Path, fp: str) -> bool:
    """True when ``path`` is a valid artefact whose provenance records the fingerprint ``fp``."""
    import json

    from seilab import provenance

    path = Path(path)
    if not provenance.is_valid_artifact(path):
        return False
    try:
        if path.suffix == ".extxyz":
            rec = json.loads(provenance.sidecar_path(path).read_text())
        else:
            rec = json.loads(path.read_text()).get("provenance") or {}
    except (OSError, ValueError):
        return False
    return rec.get("fingerprint") == fp


def select_phases(campaign, names: Sequence[str] | None = None) -> list[str]:
    """Phase names to sample: ``sampling.phases`` (checked against the campaign) or all of them."""
    known = [p.name for p in campaign.phases]
    names = list(names) if names is not None else (campaign.sampling.phases or known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SeilabError(f"sampling.phases: {unknown} not among the campaign's phases {known}")
    return names


def check_input_phase(name: str, atoms, floor_A: float, path: str | Path = "") -> None:
    d = min_distance(atoms)
    if d < floor_A:
        where = f" ({path})" if path else ""
        raise SeilabError(f"phase {name}{where}: atoms {d:.2f} Å apart, below sampling.min_distance_A {floor_A}")


# --- processes ------------------------------------------------------------------------------

_WORKER_CALC = None
_WORKER_FACTORY = None


def _init_worker(factory: CalculatorFactory, threads: int, parent_pid: int | None = None) -> None:
    global _WORKER_CALC, _WORKER_FACTORY
    if parent_pid is not None:  # a pool process: exit if the driver is killed
        from seilab.reference.labelling import watch_parent

        watch_parent(parent_pid)
    set_threads(threads, env=parent_pid is not None)
    _WORKER_FACTORY = factory
    _WORKER_CALC = None  # built lazily, once, on the first task that needs it


def worker_calculator():
    """The calculator of this worker process (built once from the factory given to the pool)."""
    global _WORKER_CALC
    if _WORKER_CALC is None:
        if _WORKER_FACTORY is None:
            raise RuntimeError("worker_calculator() called outside a worker initialised by run_jobs")
        _WORKER_CALC = _WORKER_FACTORY()
    return _WORKER_CALC


def _call(job):
    fn, kwargs = job
    return fn(calc=worker_calculator(), **kwargs)


def run_jobs(jobs: list[tuple[Callable, dict]], factory: CalculatorFactory, workers: int, threads: int = 1,
             desc: str = "jobs", progress: bool = True) -> list:
    """Run ``fn(calc=<this process's calculator>, **kwargs)`` for each job; results in job order.

    ``workers == 1`` runs in this process (one calculator); more uses a spawn-context process
    pool, each process building its own calculator once. The first failing job stops the run
    after the jobs already running have finished (their results were written by the jobs).
    """
    from tqdm.auto import tqdm

    if not jobs:
        return []
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress, leave=False)
    try:
        if workers <= 1 or len(jobs) == 1:
            _init_worker(factory, threads)
            out = []
            for job in jobs:
                out.append(_call(job))
                bar.update()
            return out
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        results: dict[int, object] = {}
        pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=mp.get_context("spawn"),
                                   initializer=_init_worker, initargs=(factory, threads, os.getpid()))
        error = None
        try:
            futures = {pool.submit(_call, job): i for i, job in enumerate(jobs)}
            for fut in as_completed(futures):
                if fut.cancelled():
                    continue
                exc = fut.exception()
                if exc is not None:
                    if error is None:  # stop: cancel what has not started, let running jobs finish
                        error = exc
                        for other in futures:
                            other.cancel()
                    continue
                results[futures[fut]] = fut.result()
                bar.update()
        except BaseException:  # Ctrl-C: do not wait for the queued jobs (running ones checkpoint)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True, cancel_futures=True)
        if error is not None:
            raise error
        return [results[i] for i in range(len(jobs))]
    finally:
        bar.close()
