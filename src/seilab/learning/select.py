"""Candidates and selection: γ window, subcells of large frames, de-duplication, D-optimal choice.

:func:`make_candidates` turns exploration frames into labelling candidates. A frame with at most
``2 * subcell_atoms`` atoms is a candidate as a whole when its largest γ is inside the window
(``lower < max γ < upper``); a larger frame (an interface) is cut into subcells around its atoms
with γ in the window (:mod:`seilab.learning.subcells`), each kept when the largest parent-frame γ of
its atoms is below the upper end. Exact duplicates (structure hash) and near-duplicate subcells
(same centre environment within a distance tolerance) are removed.

:func:`d_optimal` picks at most ``budget`` of them with pacemaker's ``pace_select`` (MaxVol on the
B-projections, seeded with the potential's active set, so only structures that extend the active
set are chosen); :func:`random_subset` is the baseline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seilab.errors import SeilabError
from seilab.learning.subcells import cut_subcells, deduplicate


def whole_frame_limit(settings) -> int:
    """Frames up to this many atoms are candidates as a whole; larger ones are cut into subcells."""
    return 2 * settings.subcell_atoms


def too_close(atoms, floors: dict[str, float]) -> str | None:
    """The closest pair of ``atoms`` below its floor (``floors``: "A-B" → Å), as text; None if none."""
    from seilab.geometry import neighbour_list

    if not floors or len(atoms) < 2:
        return None
    i, j, d = neighbour_list("ijd", atoms, max(floors.values()))
    sym = np.asarray(atoms.get_chemical_symbols())
    keys = np.array(["-".join(sorted(p)) for p in zip(sym[i], sym[j])], dtype=object)
    below = d < np.array([floors.get(k, 0.0) for k in keys])
    if not below.any():
        return None
    k = int(np.flatnonzero(below)[np.argmin(d[below])])
    return f"{keys[k]} {d[k]:.2f} Å < {floors[keys[k]]:.2f} Å"


def make_candidates(frames, settings, cutoff: float, elements: list[str],
                    pair_floors: dict[str, float] | None = None) -> tuple[list, dict]:
    """Candidates (ASE Atoms with info: batch, phase, run, md_step, gamma_max, source) and a report.

    ``frames`` (any iterable, consumed once: frames can be streamed) carry per-atom ``gamma`` arrays.
    ``pair_floors`` ("A-B" → Å): a candidate with a pair closer than its floor is rejected (counted as a
    close contact), see ``learning.min_pair_distance_fraction``.
    """
    from ase.data import atomic_numbers

    from seilab.reference.store import structure_hash
    from seilab.geometry import min_distance

    lo, hi = settings.gamma_window
    zs = [atomic_numbers[e] for e in elements]
    report = {"frames": 0, "frames_whole": 0, "frames_cut": 0, "whole_in_window": 0,
              "whole_below_window": 0, "whole_above_window": 0, "whole_close_contact": 0, "subcells_cut": 0,
              "subcell_centres_available": 0, "subcells_above_window": 0, "subcells_close_contact": 0,
              "subcell_boundary_atoms_removed": 0, "duplicates_exact": 0, "duplicates_similar": 0}
    whole: list = []
    subs: list = []
    fps: list = []
    for f in frames:
        report["frames"] += 1
        g = np.asarray(f.arrays["gamma"], dtype=float)
        meta = {k: f.info[k] for k in ("batch", "phase", "run", "md_step") if k in f.info}
        if len(f) <= whole_frame_limit(settings):
            report["frames_whole"] += 1
            gmax = float(np.max(g))
            if gmax <= lo:
                report["whole_below_window"] += 1
                continue
            if gmax >= hi:
                report["whole_above_window"] += 1
                continue
            if min_distance(f) < settings.min_distance_A or too_close(f, pair_floors or {}):
                report["whole_close_contact"] += 1
                continue
            a = f.copy()
            a.info = {**meta, "gamma_max": gmax, "source": f"learning:{meta.get('run')}:{meta.get('md_step')}"}
            whole.append(a)
            report["whole_in_window"] += 1
            continue
        report["frames_cut"] += 1
        cells, rep = cut_subcells(f, g, cutoff=cutoff, n_atoms=settings.subcell_atoms, vacuum=settings.subcell_vacuum_A,
                                  min_distance=settings.min_distance_A, max_subcells=settings.subcells_per_frame,
                                  min_gamma=settings.centre_gamma, max_gamma=hi, elements=zs,
                                  boundary=settings.subcell_boundary_A)
        report["subcell_centres_available"] += rep["centres_available"]
        report["subcells_above_window"] += rep["above_window"]
        report["subcells_close_contact"] += rep["close_contact"]
        report["subcell_boundary_atoms_removed"] += rep["boundary_atoms_removed"]
        for sc in cells:
            a = sc.atoms
            if too_close(a, pair_floors or {}):
                report["subcells_close_contact"] += 1
                continue
            a.info.update(meta)
            a.info["source"] = f"learning:{meta.get('run')}:{meta.get('md_step')}:atom{sc.centre}"
            subs.append(a)
            fps.append(sc.fingerprint)
            report["subcells_cut"] += 1
    if subs:
        keep, drop = deduplicate(subs, fps, settings.subcell_duplicate_tol_A,
                                 scores=[a.info.get("gamma_centre", 0.0) for a in subs])
        report["duplicates_similar"] = len(drop)
        subs = [subs[i] for i in keep]
    out, seen = [], set()
    for a in whole + subs:
        h = structure_hash(a)
        if h in seen:
            report["duplicates_exact"] += 1
            continue
        seen.add(h)
        a.info["candidate_hash"] = h
        out.append(a)
    report["candidates"] = len(out)
    report["candidates_whole"] = sum(1 for a in out if "subcell_centre" not in a.info)
    report["candidates_subcells"] = len(out) - report["candidates_whole"]
    return out, report


def plain_copy(atoms):
    from ase import Atoms

    return Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)


def candidates_frame(candidates: list):
    """pacemaker's DataFrame for ``pace_select``: ``name`` and plain ``ase_atoms``."""
    import pandas as pd

    return pd.DataFrame({"name": [f"c{i:06d}" for i in range(len(candidates))],
                         "ase_atoms": [plain_copy(a) for a in candidates]})


def d_optimal(candidates: list, potential, elements: list[str], budget: int, workdir: Path,
              threads: int = 1) -> list[int]:
    """Indices (into ``candidates``) chosen by ``pace_select`` (at most ``budget``, most informative first)."""
    import pandas as pd

    from seilab.training.pacemaker import run_tool, tool

    if not candidates:
        return []
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cand_path = workdir / "candidates.pckl.gzip"
    df = candidates_frame(candidates)
    df.to_pickle(cand_path, compression="gzip")
    out = workdir / "selected.pkl.gz"
    out.unlink(missing_ok=True)
    cmd = [tool("pace_select"), "-p", str(Path(potential.yaml).resolve()), "-e", " ".join(elements),
           "-m", str(int(budget)), "-o", out.name, cand_path.name]
    if potential.asi is not None and Path(potential.asi).is_file():
        cmd[3:3] = ["-a", str(Path(potential.asi).resolve())]
    run_tool(cmd, cwd=workdir, log=workdir / "pace_select.log", threads=threads, what="pace_select")
    if not out.is_file():
        raise SeilabError(f"{out}: pace_select wrote no selection (see {workdir / 'pace_select.log'})")
    sel = pd.read_pickle(out)
    index = {n: i for i, n in enumerate(df["name"])}
    chosen = [index[n] for n in sel["name"]]
    return chosen[:budget]


def random_subset(n: int, budget: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(n, size=min(budget, n), replace=False))


def cap_candidates(candidates: list, max_candidates: int) -> list:
    """The ``max_candidates`` candidates with the highest γ (all when fewer)."""
    if len(candidates) <= max_candidates:
        return candidates
    order = np.argsort([-float(a.info.get("gamma_max", 0.0)) for a in candidates], kind="stable")
    return [candidates[i] for i in sorted(order[:max_candidates])]


__all__ = ["make_candidates", "d_optimal", "random_subset", "cap_candidates", "candidates_frame"]
