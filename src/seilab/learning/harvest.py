"""Harvest: the production run's extrapolative frames as candidates of the next generation (paper 2.5).

The simulation stage's interface MD grades every atom with γ every K steps and writes the frames whose
max γ exceeds ``simulation.gamma_dump_threshold`` to its run folder (LAMMPS: ``extrapolative.dump``,
``dump custom ... id type element x y z f_pace_gamma``; ASE engine: ``extrapolative.extxyz`` with the
per-atom array ``gamma``), and stops above ``simulation.gamma_halt``. Those are the configurations the
production run actually visits where the model stops knowing what it does. This module turns them into
frames for :func:`seilab.learning.select.make_candidates` (subcells around the atoms in the γ window,
D-optimal selection, labels, refit), the same path as the exploration frames.

Sources (:func:`resolve_sources`): files given explicitly (``seilab learn CONFIG --harvest PATH``: a
LAMMPS text dump or an extxyz file, with a per-atom γ column or without: a plain trajectory such as
``dump.lammpstrj`` is graded with the generation's starting potential) and, with
``learning.harvest_production``, the campaign's production run named by ``simulation/latest.json``
when it *halted* on γ. A source is identified by the SHA-256 of its bytes: one that an earlier
generation harvested is not harvested again.

Reading (:func:`frame_index`, :func:`read_frame`): frames are located by byte offset (a dump with the
MD layer's one dump index, :func:`seilab.md.dump.dump_frame_spans`; an extxyz file by its atom-count
lines) and only the ``learning.harvest_max_frames`` frames picked (evenly spread, always the last: the
one nearest the halt) are parsed (a dump frame with :func:`seilab.md.dump.read_dump_frame`, numpy
``loadtxt`` of the atom block; an extxyz frame with ASE's reader); nothing loops over atoms in Python
here. An unreadable (partial) last frame is skipped.

Filters (:func:`screen`), per frame: non-finite positions or γ, or two atoms closer than
``learning.min_distance_A`` or than the element-pair floors (``learning.min_pair_distance_fraction``,
the floors :func:`seilab.learning.select.too_close` applies to candidates): the frame is dropped (the
model's MD went somewhere no reference calculation should follow). A frame without an atom inside the
window (``subcell_min_gamma`` or the lower end < γ < upper end) gives no centre and is dropped too. A
frame whose max γ is above ``gamma_halt`` is *kept*: its atoms inside the window are the most
informative centres, and a subcell reaching an atom above the window is rejected by
:func:`~seilab.learning.subcells.cut_subcells` as always.

γ is the production potential's (the one that ran the MD); the D-optimal selection then works in the
active set of the generation's starting potential, as for explored frames.

This module reads the simulation stage's files directly (JSON, and dumps through :mod:`seilab.md`, the
MD layer below every stage) and imports nothing of :mod:`seilab.simulation`, which comes later in the
pipeline.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from seilab import provenance
from seilab.errors import SeilabError

PRODUCTION = "production"
EXPLORE = "explore"
GAMMA_COLUMNS = ("gamma", "f_pace_gamma", "c_pace_gamma", "f_gamma", "c_gamma")


def source_kind(atoms) -> str:
    """``production`` for a candidate from a harvested frame, ``explore`` otherwise."""
    return PRODUCTION if atoms.info.get("batch") == PRODUCTION else EXPLORE


# ----------------------------------------------------------------------------------------------- sources
def file_format(path: Path) -> str:
    """``lammps-dump`` or ``extxyz`` (from the name, else the first line)."""
    name = Path(path).name.lower()
    if name.endswith((".dump", ".lammpstrj")) or ".dump." in name:
        return "lammps-dump"
    if name.endswith((".extxyz", ".xyz")):
        return "extxyz"
    with open(path, "rb") as fh:
        first = fh.readline().strip()
    if first.startswith(b"ITEM:"):
        return "lammps-dump"
    if first.isdigit():
        return "extxyz"
    raise SeilabError(f"{path}: neither a LAMMPS text dump nor an extxyz file")


def describe_source(path: Path, origin: str, **extra) -> dict:
    path = Path(path).resolve()
    if not path.is_file():
        raise SeilabError(f"{path}: harvest source not found")
    if path.stat().st_size == 0:
        raise SeilabError(f"{path}: harvest source is empty")
    return {"path": str(path), "sha256": provenance.sha256_file(path), "format": file_format(path),
            "origin": origin, "bytes": path.stat().st_size, **extra}


def _relocate(p: str | None, folder: Path, run_dir: Path | None = None) -> Path | None:
    """A path recorded in latest.json, or the same file under ``folder`` when the campaign was moved."""
    if not p:
        return None
    path = Path(p)
    if not path.is_absolute():
        path = folder / path
    if path.exists():
        return path
    alt = (run_dir / path.name) if run_dir is not None else folder / path.name
    return alt if alt.exists() else None


def production_source(campaign, say: Callable[[str], None] = lambda m: None) -> dict | None:
    """The extrapolative frames of the campaign's latest production run when it halted on γ, else None.

    Reads ``<output>/simulation/latest.json`` (written by the simulation stage: ``run_dir``, ``status``,
    ``extrapolative``, ``max_gamma``, ``steps_done``)."""
    latest = campaign.layout.simulation_latest
    folder = latest.parent
    if not latest.is_file():
        return None
    try:
        rec = provenance.read_json(latest)
    except SeilabError as exc:
        say(f"harvest: {exc}; production run not harvested")
        return None
    if rec.get("status") != "halted":
        return None
    run_dir = _relocate(rec.get("run_dir"), folder)
    extrap = _relocate(rec.get("extrapolative"), folder, run_dir)
    if extrap is None and run_dir is not None:
        extrap = next((p for p in (run_dir / "extrapolative.dump", run_dir / "extrapolative.extxyz") if p.is_file()),
                      None)
    if extrap is None or not extrap.is_file() or extrap.stat().st_size == 0:
        say(f"harvest: the production run in {rec.get('run_dir')} halted but left no extrapolative frames")
        return None
    return describe_source(extrap, PRODUCTION, run_dir=str(run_dir) if run_dir else None,
                           halted=(rec.get("info") or {}).get("halted"), max_gamma=rec.get("max_gamma"),
                           steps_done=rec.get("steps_done"), engine=rec.get("engine"))


def resolve_sources(campaign, paths: Sequence[str | Path] | None, say: Callable[[str], None] = lambda m: None
                    ) -> list[dict]:
    """The harvest request: ``paths`` (``--harvest``) and, with ``learning.harvest_production``, the
    halted production run; duplicates (same bytes) once."""
    out: list[dict] = [describe_source(Path(p), "cli") for p in (paths or [])]
    if campaign.learning.harvest_production:
        prod = production_source(campaign, say)
        if prod is not None:
            out.append(prod)
    seen, unique = set(), []
    for s in out:
        if s["sha256"] not in seen:
            seen.add(s["sha256"])
            unique.append(s)
    return unique


# ----------------------------------------------------------------------------------------------- frames
def frame_index(path: Path, fmt: str) -> list[tuple[int, int, int | None]]:
    """(start byte, end byte, MD step or None) of every frame of ``path``."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        return []
    if fmt == "lammps-dump":  # every frame, also a partial last one whose timestep was written
        from seilab.md.dump import dump_frame_spans

        return dump_frame_spans(path)
    from seilab.dynamics import extxyz_frame_spans

    return [(start, end, None) for start, end in extxyz_frame_spans(path)]  # complete frames only


def pick(n: int, k: int) -> list[int]:
    """``k`` of ``n`` indices evenly spread, always the last one."""
    if n <= k:
        return list(range(n))
    if k == 1:
        return [n - 1]
    return sorted(set(int(round(x)) for x in np.linspace(0, n - 1, k)))


def read_frame(path: Path, fmt: str, span: tuple[int, int, int | None], elements: Sequence[str]):
    """One frame as plain Atoms with its per-atom ``gamma`` (when the file has one) and ``md_step``."""
    from ase import Atoms
    from ase.io import read

    start, end, step = span
    if fmt == "lammps-dump":
        from seilab.md.dump import read_dump_frame

        a = read_dump_frame(path, (start, end), specorder=list(elements))
    else:
        with open(path, "rb") as fh:
            fh.seek(start)
            text = fh.read(end - start).decode()
        a = read(io.StringIO(text), index=0, format="extxyz")
    out = Atoms(a.numbers, positions=a.get_positions(), cell=a.cell, pbc=a.pbc if a.cell.rank == 3 else False)
    for name in GAMMA_COLUMNS:
        if name in a.arrays:
            out.arrays["gamma"] = np.asarray(a.arrays[name], dtype=float).reshape(-1)
            break
    if step is None:
        step = a.info.get("md_step", a.info.get("step", a.info.get("timestep")))
    out.info["md_step"] = None if step is None else int(step)
    return out


def screen(frame, settings, floors: dict[str, float]) -> str | None:
    """Why ``frame`` (with ``arrays['gamma']``) is dropped, or None when it is kept."""
    from seilab.geometry import min_distance
    from seilab.learning.select import too_close

    g = frame.arrays.get("gamma")
    if not np.all(np.isfinite(frame.positions)) or g is None or not np.all(np.isfinite(g)):
        return "nonfinite"
    lo, hi = settings.centre_gamma, settings.gamma_window[1]
    if not np.any((g > lo) & (g < hi)):
        return "outside_window"
    if len(frame) > 1 and (min_distance(frame) < settings.min_distance_A or too_close(frame, floors)):
        return "close_contact"
    return None


def harvest_frames(sources: list[dict], settings, elements: Sequence[str], floors: dict[str, float],
                   grade: Callable | None = None, say: Callable[[str], None] = lambda m: None) -> tuple[list, dict]:
    """The kept frames of every source (info ``batch`` = ``production``, ``run``, ``md_step``,
    ``harvest_source``) and a report per source: frames in the file, read, dropped per reason, kept,
    above ``gamma_halt``, graded with the model (``grade(atoms) -> γ`` for files without γ)."""
    import time

    kept: list = []
    per_source = []
    for src in sources:
        path, fmt = Path(src["path"]), src["format"]
        t0 = time.perf_counter()
        spans = frame_index(path, fmt)
        chosen = pick(len(spans), settings.harvest_max_frames)
        rep = {"path": src["path"], "origin": src["origin"], "sha256": src["sha256"], "frames_in_file": len(spans),
               "frames_read": 0, "unreadable": 0, "nonfinite": 0, "outside_window": 0, "close_contact": 0,
               "graded": 0, "kept": 0, "kept_above_halt": 0, "atoms_in_window": 0}
        run = src.get("run_dir") and Path(src["run_dir"]).name or path.stem
        for i in chosen:
            try:
                f = read_frame(path, fmt, spans[i], elements)
            except Exception as exc:  # a partial last frame (killed writer) or a malformed one
                rep["unreadable"] += 1
                say(f"harvest: {path.name} frame {i}: not readable ({type(exc).__name__}: {exc})")
                continue
            rep["frames_read"] += 1
            if "gamma" not in f.arrays and np.all(np.isfinite(f.positions)):
                if grade is None:
                    raise SeilabError(f"{path}: no per-atom γ column ({', '.join(GAMMA_COLUMNS)}) and no model to "
                                      "grade the frames with")
                f.arrays["gamma"] = np.asarray(grade(f), dtype=float).reshape(-1)
                rep["graded"] += 1
            why = screen(f, settings, floors)
            if why is not None:
                rep[why] += 1
                continue
            g = f.arrays["gamma"]
            gmax = float(np.max(g))
            rep["kept_above_halt"] += int(gmax > settings.gamma_halt)
            rep["atoms_in_window"] += int(np.sum((g > settings.centre_gamma) & (g < settings.gamma_window[1])))
            f.info.update(batch=PRODUCTION, phase="interface", run=f"{PRODUCTION}:{run}", max_gamma=gmax,
                          harvest_source=src["sha256"][:12], harvest_frame=int(i))
            kept.append(f)
            rep["kept"] += 1
        rep["seconds"] = round(time.perf_counter() - t0, 3)
        say(f"harvest: {path.name}: {rep['kept']} of {rep['frames_read']} frames read kept "
            f"({rep['frames_in_file']} in the file; dropped: {rep['outside_window']} outside the γ window, "
            f"{rep['close_contact']} close contact, {rep['nonfinite']} non-finite; "
            f"{rep['kept_above_halt']} kept above γ {settings.gamma_halt:g})")
        per_source.append(rep)
    return kept, {"sources": per_source, "frames": len(kept)}


__all__ = ["resolve_sources", "production_source", "describe_source", "frame_index", "read_frame", "pick",
           "screen", "harvest_frames", "source_kind", "PRODUCTION", "EXPLORE"]
