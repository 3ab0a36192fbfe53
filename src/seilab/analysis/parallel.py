"""Frames of one trajectory analysed on a Dask cluster, with the serial path's numbers.

:func:`analyse_on_cluster` is what :func:`~seilab.analysis.pipeline.analyze_trajectory` calls when
``analysis.workers > 1`` or ``analysis.cluster`` is not ``local``:

* the client reads the first frame and runs :meth:`InterphaseAnalysis.begin` on it (frame of reference,
  bins, cutoffs, parent compositions), then sends that analysis object to every worker once;
* frames are streamed: a LAMMPS dump whose frames unwrap on their own (``xu yu zu`` columns or image
  flags) is indexed lazily into byte ranges (:meth:`TrajectoryReader.spans`) and each worker reads its
  frame itself; otherwise (extxyz, minimum-image unwrapping, which needs every earlier frame) the client
  reads the frames in order and ships each one to a worker;
* each task is :meth:`InterphaseAnalysis.analyse_frame`, the function the serial path runs; at most
  ``workers x tasks_per_worker`` tasks are in flight, and their results are :meth:`~InterphaseAnalysis.add`-ed
  in frame order, so memory stays bounded and the result is the serial one;
* the cluster (``LocalCluster``, ``SLURMCluster`` or a client of a running scheduler) is shut down
  whatever happens; Dask's temporary and config folders live in a scratch folder that is removed at the
  end (nothing is written to ``$HOME``).

Warnings raised while reading or analysing a frame become the result's notes in the serial order;
Dask's own warnings go to the log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from seilab.errors import SeilabError

if TYPE_CHECKING:  # pragma: no cover
    from seilab.analysis.pipeline import InterphaseAnalysis
    from seilab.settings.analysis import AnalysisSettings
    from seilab.analysis.trajectory import Frame, TrajectoryReader
    from seilab.settings.cluster import StageResources

__all__ = ["analyse_on_cluster", "dask_client", "slurm_cluster_options"]

log = logging.getLogger(__name__)

#: Slurm memory per core when the campaign's ``cluster:`` section gives none (MB)
DEFAULT_MEMORY_PER_CORE_MB = 4000


# ----------------------------------------------------------------------------- worker side
_THREADS_PINNED = False


def _one_thread() -> None:
    """freud (nanocrystals) would start a thread per core in every worker process: one each, like
    the worker's own single thread (it does not change freud's numbers)."""
    global _THREADS_PINNED
    if not _THREADS_PINNED:
        try:
            import freud

            freud.parallel.set_num_threads(1)
        except Exception:  # freud missing: the numpy backend is used
            pass
        _THREADS_PINNED = True


def _frame_task(ana: "InterphaseAnalysis", reader: "TrajectoryReader", item, structure: bool, final: bool,
                atoms: bool):
    """One frame on a worker: read it (a byte span) or take it (a shipped frame), analyse it with the
    serial path's function; returns (FrameResult, warning messages in the order raised). ``atoms``: with
    the per-atom phase labels (first and last frame only: the serial path keeps no others, and they are
    ~4 MB of a 100,000-atom frame's ~4.7 MB result)."""
    from seilab.analysis.trajectory import FrameSpan

    _one_thread()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = reader.read_span(item) if isinstance(item, FrameSpan) else item
        res = ana.analyse_frame(frame, structure=structure, final=final, atoms=atoms)
    return res, [str(w.message) for w in caught]


# ----------------------------------------------------------------------------- clusters
def slurm_cluster_options(resources: "StageResources | None", scratch: Path) -> dict:
    """``SLURMCluster`` keyword arguments for one Dask worker (one thread per core) per Slurm job, from
    the analysis stage's entry of the campaign's ``cluster:`` section: ``cores_per_rank`` → ``cores``
    (Slurm ``--cpus-per-task``, default 1), ``memory_per_core_MB`` x cores → ``memory`` (``--mem``,
    default :data:`DEFAULT_MEMORY_PER_CORE_MB` per core), ``walltime_min`` → ``walltime`` (``--time``; unset:
    the Dask config's ``jobqueue.slurm.walltime``). ``mpi_ranks`` is not used (a worker is one process).
    Partition and account come from the Dask config (``jobqueue.slurm.queue`` / ``.account``)."""
    cores = (resources.cores_per_rank if resources else None) or 1
    per_core = (resources.memory_per_core_MB if resources else None) or DEFAULT_MEMORY_PER_CORE_MB
    opts = {
        "cores": cores,
        "processes": 1,
        "memory": f"{cores * per_core}MiB",  # Slurm megabytes (--mem=...M), as the jobflow path reserves
        "job_name": "seilab-analysis",
        "local_directory": str(scratch / "worker"),
        "log_directory": str(scratch / "slurm-logs"),
        "python": sys.executable,
    }
    if resources and resources.walltime_min:
        total = int(round(resources.walltime_min * 60))
        opts["walltime"] = f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"
    return opts


def _check_slurm() -> None:
    """A one-line SeilabError unless ``sbatch`` is here and a Slurm controller answers ``sinfo``."""
    import subprocess

    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        raise SeilabError("analysis.cluster: 'slurm' needs Slurm's sbatch and sinfo on PATH")
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise SeilabError("analysis.cluster: 'slurm', but sinfo timed out (is slurmctld up? SLURM_CONF?)") from None
    if out.returncode:
        why = " ".join((out.stderr or out.stdout).split())[:160]
        raise SeilabError(f"analysis.cluster: 'slurm', but no Slurm controller answers (sinfo: {why})")


#: Dask config for the workers this module starts. Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its
#: workers (to hand freed memory back to the OS), which makes glibc mmap and unmap every large array: measured
#: here, +0.1 s of system time per 100,000-atom frame (+12 %). The frames in flight are bounded anyway, so it
#: is unset (a None value unsets a variable of distributed.nanny.pre-spawn-environ).
WORKER_CONFIG = {"distributed": {"nanny": {"pre-spawn-environ": {"MALLOC_TRIM_THRESHOLD_": None}},
                                  "worker": {"profile": {"enabled": False}}}}


@contextlib.contextmanager
def _dask_env(scratch: Path) -> Iterator[None]:
    """Dask's config and temporary folders under ``scratch`` unless the environment already names them
    (``DASK_CONFIG`` / ``DASK_TEMPORARY_DIRECTORY``), their workers' config (:data:`WORKER_CONFIG`) in that
    config folder, and no ``MALLOC_TRIM_THRESHOLD_`` (an earlier nanny in this process exports its own into
    ``os.environ``, which workers and Slurm jobs would inherit); all restored afterwards."""
    keys = {"DASK_CONFIG": scratch / "config", "DASK_TEMPORARY_DIRECTORY": scratch / "tmp"}
    saved = {k: os.environ.get(k) for k in [*keys, "MALLOC_TRIM_THRESHOLD_"]}
    for k, v in keys.items():
        if saved[k] is None:
            v.mkdir(parents=True, exist_ok=True)
            os.environ[k] = str(v)
    if saved["DASK_CONFIG"] is None:
        import yaml

        (keys["DASK_CONFIG"] / "seilab-workers.yaml").write_text(yaml.safe_dump(WORKER_CONFIG))
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def dask_client(settings: "AnalysisSettings", resources: "StageResources | None" = None,
                scratch: str | os.PathLike | None = None) -> Iterator[object]:
    """A ``distributed.Client`` on the cluster ``settings`` name (``cluster``, ``workers``), with the
    workers connected (``cluster_timeout_s``); the cluster it started is closed on exit, whatever happens.
    ``scratch``: folder for Dask's files (default: a new temporary folder, removed on exit)."""
    own = scratch is None
    scratch = Path(tempfile.mkdtemp(prefix="seilab-dask-")) if own else Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        with _dask_env(scratch):
            try:
                import dask
                from distributed import Client, LocalCluster
            except ImportError as exc:
                raise SeilabError(f"analysis.workers: analysing frames in parallel needs Dask distributed "
                                  f"(requirements/base.txt; {exc})") from None
            if settings.cluster == "slurm" and "dask_jobqueue" not in sys.modules:
                # importing dask_jobqueue copies its default config into dask.config.PATH, which is
                # ~/.config/dask when dask was imported before DASK_CONFIG was set
                dask.config.PATH = os.environ["DASK_CONFIG"]

            with dask.config.set({"temporary-directory": os.environ["DASK_TEMPORARY_DIRECTORY"],
                                  "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                                  "distributed.worker.profile.enabled": False}):
                with contextlib.ExitStack() as stack:
                    kind = settings.cluster
                    if kind == "local":
                        # the scheduler's HTTP server (health, metrics) on a free port, not 8787: runs side by side
                        target = stack.enter_context(LocalCluster(
                            n_workers=settings.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                            local_directory=str(scratch / "worker"), silence_logs=logging.ERROR))
                    elif kind == "slurm":
                        _check_slurm()
                        try:
                            from dask_jobqueue import SLURMCluster
                        except ImportError as exc:
                            raise SeilabError(f"analysis.cluster: 'slurm' needs dask-jobqueue ({exc})") from None
                        options = dict(dask.config.get("jobqueue.slurm.scheduler-options") or {})
                        options.setdefault("dashboard_address", ":0")
                        options.setdefault("dashboard", False)
                        target = stack.enter_context(SLURMCluster(
                            **slurm_cluster_options(resources, scratch), silence_logs="error",
                            scheduler_options=options))
                        target.scale(jobs=settings.workers)
                    else:
                        target = kind  # a running scheduler's address
                    try:
                        client = stack.enter_context(Client(target, timeout=settings.cluster_timeout_s))
                    except OSError as exc:
                        raise SeilabError(f"analysis.cluster: no Dask scheduler at {kind} ({exc})") from None
                    try:
                        client.wait_for_workers(settings.workers, timeout=settings.cluster_timeout_s)
                    except TimeoutError:
                        n = len(client.scheduler_info(n_workers=-1).get("workers", {}))
                        raise SeilabError(
                            f"analysis.cluster_timeout_s: {n} of {settings.workers} Dask workers connected to the "
                            f"{kind} cluster within {settings.cluster_timeout_s:g} s"
                            + (f" (Slurm job logs: {scratch / 'slurm-logs'})" if kind == "slurm" and not own else "")
                        ) from None
                    yield client
    finally:
        if own:
            shutil.rmtree(scratch, ignore_errors=True)


# ----------------------------------------------------------------------------- the pass
_END = object()


class _Ahead:
    """The selected frames (or their spans) one ahead, so that each is known to be the last or not.
    Warnings raised while reading the k-th one (the end counts as one more) are noted as (k, 0, message)."""

    def __init__(self, source, notes: list):
        self.it = iter(source)
        self.notes = notes
        self.k = 0
        self.nxt = self._read()

    def _read(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                item = next(self.it)
            except StopIteration:
                item = _END
            finally:
                self.notes.extend((self.k, 0, str(w.message)) for w in caught)
        self.k += 1
        return item

    def pop(self):
        """(item, is_last), or None after the last."""
        cur = self.nxt
        if cur is _END:
            return None
        self.nxt = self._read()
        return cur, self.nxt is _END


def analyse_on_cluster(ana: "InterphaseAnalysis", reader: "TrajectoryReader", settings: "AnalysisSettings",
                       resources: "StageResources | None" = None,
                       scratch: str | os.PathLike | None = None,
                       keep_last: bool = True) -> tuple["Frame | None", "Frame | None", list[str]]:
    """Feed every selected frame of ``reader`` through ``ana`` on a Dask cluster (see the module
    docstring); returns (first frame, last frame (None unless ``keep_last``: a worker read it), warning
    messages in the serial path's order). After it,
    ``ana`` holds what the serial ``for frame in reader: ana.update(frame)`` leaves, and ``reader`` its
    ``truncated`` / ``unwrap_method``."""
    notes: list[tuple[int, int, str]] = []  # (frame position, 0 read / 1 analysed, message)
    spans = reader.spans()
    every = settings.structure_every
    first = last = None
    with warnings.catch_warnings(record=True) as dask_noise:  # Dask's own warnings (any thread): to the log
        warnings.simplefilter("always")
        ahead = _Ahead(spans if spans is not None else reader, notes)
        head = ahead.pop()
        if head is not None:
            first_item = head[0]
            first = reader.read_span(first_item) if spans is not None else first_item
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                ana.begin(first)
            notes.extend((0, 1, str(w.message)) for w in caught)
            last_item = None
            with dask_client(settings, resources, scratch) as client:
                window = settings.tasks_per_worker * max(settings.workers, sum(client.nthreads().values()))
                shared = client.scatter([ana, reader], broadcast=True, hash=False)  # once per worker
                pending: deque = deque()

                def collect() -> None:
                    pos, fut = pending.popleft()
                    res, messages = fut.result()  # a worker's SeilabError is raised here, in frame order
                    notes.extend((pos, 1, m) for m in messages)
                    ana.add(res)

                try:
                    pos = 0
                    while head is not None:
                        item, is_last = head
                        if is_last:
                            last_item = item
                        if spans is None:  # a parsed frame: straight to a worker, not through the scheduler
                            item = client.scatter(item, hash=False)
                        structure = pos % every == 0 or is_last
                        pending.append((pos, client.submit(_frame_task, *shared, item, structure, is_last,
                                                           pos == 0 or is_last, pure=False)))
                        while len(pending) >= window:
                            collect()
                        pos += 1
                        head = ahead.pop()
                    while pending:
                        collect()
                finally:
                    for _, fut in pending:
                        fut.cancel()
            if spans is None:
                last = last_item  # the parsed frame itself (``first`` when it is the only one)
            elif keep_last:  # the client reads the last frame again (for the snapshot figure)
                last = first if last_item is first_item else reader.read_span(last_item)
    for w in dask_noise:
        log.info("dask: %s", w.message)
    notes.sort(key=lambda x: (x[0], x[1]))
    return first, last, [m for _, _, m in notes]
