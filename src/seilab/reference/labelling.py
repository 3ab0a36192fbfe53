"""The parallel labeller: a reference single point for every given structure, resumable.

A service of the reference layer, used by the labelling stage (:mod:`seilab.labelling`), active
learning and the production audit.

:func:`label_structures` de-duplicates the structures by :func:`~seilab.reference.store.structure_hash`,
drops those whose hash is already in the :class:`~seilab.reference.store.DatasetStore`, and labels
the rest with :func:`~seilab.reference.calculators.single_point`:

* ``workers == 1``: in this process (one calculator, no start-up cost);
* ``workers > 1``: a ``concurrent.futures.ProcessPoolExecutor`` with the *spawn* context; each
  process sets its torch threads to ``threads`` and builds its calculator once (from a picklable
  factory, by default ``functools.partial(get_calculator, reference_settings)``).

Each label is added to the store as soon as it arrives (one atomically written file per label),
so a run killed halfway keeps every finished label and a rerun computes only the missing ones:
over any sequence of interrupted runs, each unique structure reaches the reference at most once
per run that was killed while it was in flight.

A :class:`~seilab.errors.SeilabError` from the reference for one structure (non-finite numbers,
SCF not converged) is recorded as a failure and the others go on; any other exception stops the
run (pending jobs are cancelled, finished ones are stored) and is re-raised.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from seilab.errors import SeilabError
from seilab.results import scalars

# --- worker side ------------------------------------------------------------------------------

_CALC = None
_FACTORY = None


def set_threads(threads: int, env: bool = True) -> None:
    """Limit this process's compute threads: with ``env``, the OpenMP/BLAS variables (read by torch
    when it is imported later; set in pool workers only); ``torch.set_num_threads`` when torch is
    already imported. (The CHGNet factory also sets torch's threads from the reference settings.)"""
    import sys

    if env:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def watch_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """In a pool worker: exit when the driver process ``parent_pid`` dies (e.g. ``kill -9``).

    A spawned worker whose driver was killed would otherwise sit orphaned forever, blocked on the
    task queue. A daemon thread polls the parent pid and ends the process when it changes. The
    driver's pid is passed in (not read at start-up): a worker still importing when the driver
    died must notice too.
    """
    import threading

    def watch():
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(poll_s)

    threading.Thread(target=watch, name="seilab-watch-parent", daemon=True).start()


def _init(factory: Callable[[], object], threads: int, parent_pid: int | None = None) -> None:
    """Process initialiser: threads now, calculator once on first use; pool workers watch their driver."""
    global _CALC, _FACTORY
    if parent_pid is not None:
        watch_parent(parent_pid)
    set_threads(threads, env=parent_pid is not None)
    _FACTORY, _CALC = factory, None


def _label(h: str, atoms) -> tuple[str, object, float]:
    """Label one structure with this process's calculator: (hash, labelled atoms, seconds)."""
    global _CALC
    from seilab.reference.calculators import single_point

    if _CALC is None:
        _CALC = _FACTORY()
    t = time.perf_counter()
    labelled = single_point(atoms, _CALC, stress=all(atoms.pbc))
    return h, labelled, time.perf_counter() - t


# --- driver side ------------------------------------------------------------------------------

@dataclass
class LabelReport:
    """What a labelling run did (``rows``: the whole store, per kind and phase)."""

    submitted: int = 0
    labelled: int = 0
    already_in_store: int = 0
    duplicates: int = 0
    failed: list = field(default_factory=list)  # (hash, source, message)
    wall_seconds: float = 0.0
    label_seconds: float = 0.0
    rows: list = field(default_factory=list)

    @property
    def total_structures(self) -> int:
        return sum(r["structures"] for r in self.rows)

    @property
    def total_atoms(self) -> int:
        return sum(r["atoms"] for r in self.rows)

    def as_dict(self) -> dict:
        return {"submitted": self.submitted, "labelled": self.labelled, "already_in_store": self.already_in_store,
                "duplicates": self.duplicates, "failed": self.failed, "wall_seconds": round(self.wall_seconds, 2),
                "label_seconds": round(self.label_seconds, 2), "total_structures": self.total_structures,
                "total_atoms": self.total_atoms, "rows": self.rows}

    def summary(self) -> dict:
        """The counts (failures as a number; their list is in the store's summary.json)."""
        return {**scalars(self.as_dict()), "failed": len(self.failed)}


def _meta(atoms) -> tuple[str, str, str]:
    info = atoms.info
    return str(info.get("kind", "other")), str(info.get("phase", "")), str(info.get("source", ""))


def label_structures(frames: Iterable, store, factory: Callable[[], object], workers: int = 1, threads: int = 1,
                     progress: bool = True) -> LabelReport:
    """Label every structure of ``frames`` not yet in ``store`` (see the module docstring).

    ``frames`` are ASE Atoms whose ``info`` may carry ``kind``, ``phase`` and ``source`` (they go
    into the store's metadata). Returns a :class:`LabelReport`.
    """
    from tqdm.auto import tqdm

    from seilab.reference.store import structure_hash

    t0 = time.perf_counter()
    report = LabelReport()
    todo: dict[str, object] = {}
    seen: set[str] = set()
    for atoms in frames:
        h = structure_hash(atoms)
        if h in seen:
            report.duplicates += 1
            continue
        seen.add(h)
        if h in store:
            report.already_in_store += 1
        else:
            todo[h] = atoms
    report.submitted = len(todo)

    bar = tqdm(total=len(todo), desc="labelling", unit="structure", disable=not progress)

    def store_one(h, labelled, seconds):
        kind, phase, source = _meta(todo[h])
        weights = todo[h].arrays.get("force_weight")  # per-atom force weights (subcells), kept with the label
        extra = {"force_weight": [float(w) for w in weights]} if weights is not None else None
        store.add(labelled, kind=kind, phase=phase, source=source, seconds=round(seconds, 4), extra=extra)
        report.labelled += 1
        report.label_seconds += seconds
        bar.update()

    def failed(h, exc):
        report.failed.append((h, _meta(todo[h])[2], str(exc)))
        bar.update()

    try:
        if workers <= 1 or len(todo) <= 1:
            _init(factory, threads)
            for h, atoms in todo.items():
                try:
                    store_one(*_label(h, atoms))
                except SeilabError as exc:
                    failed(h, exc)
        elif todo:
            _label_parallel(todo, factory, workers, threads, store_one, failed)
    finally:
        bar.close()
        report.wall_seconds = time.perf_counter() - t0
        report.rows = store.summary()
    return report


def _label_parallel(todo: dict, factory, workers: int, threads: int, store_one, failed) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=mp.get_context("spawn"),
                               initializer=_init, initargs=(factory, threads, os.getpid()))
    error: BaseException | None = None
    try:
        futures = {pool.submit(_label, h, atoms): h for h, atoms in todo.items()}
        for fut in as_completed(futures):
            if fut.cancelled():
                continue
            exc = fut.exception()
            if exc is None:
                store_one(*fut.result())
            elif isinstance(exc, SeilabError):
                failed(futures[fut], exc)
            elif error is None:
                error = exc  # stop: cancel what has not started, keep storing what finishes
                for other in futures:
                    other.cancel()
    except BaseException:  # Ctrl-C / kill of the driver: do not wait for queued jobs
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True, cancel_futures=True)
    if error is not None:
        raise error


def store_for(campaign):
    """The campaign's dataset store (``<output>/dataset``), bound to its reference."""
    from seilab.reference.calculators import describe
    from seilab.reference.store import DatasetStore

    return DatasetStore(campaign.layout.dataset, reference=describe(campaign.reference))


def summary_table(report: LabelReport):
    """A rich Table: structures and atoms per kind and phase, label time, totals."""
    from rich.table import Table

    table = Table(title="dataset store")
    for col in ("kind", "phase", "structures", "atoms", "label s"):
        table.add_column(col, justify="right" if col in ("structures", "atoms", "label s") else "left")
    for r in report.rows:
        table.add_row(r["kind"], r["phase"], str(r["structures"]), str(r["atoms"]), f"{r['label_seconds']:.1f}")
    table.add_section()
    table.add_row("total", "", str(report.total_structures), str(report.total_atoms),
                  f"{sum(r['label_seconds'] for r in report.rows):.1f}")
    return table


def run_line(report: LabelReport) -> str:
    """One line about this run: labelled / skipped / failed and its wall time."""
    return (f"this run: {report.labelled} labelled in {report.wall_seconds:.1f} s wall "
            f"({report.label_seconds:.1f} s of reference time), {report.already_in_store} already in the store, "
            f"{report.duplicates} duplicates, {len(report.failed)} failed")
