"""Benchmark: frames per second of the analysis stage with 1 worker (the serial path) and 2 Dask workers.

Run: ``python benchmarks/bench_analysis_dask.py`` (options: ``--atoms``, ``--frames``, ``--workers``).

The trajectory is synthetic (``seilab.analysis.synthetic``): a ~100,000-atom periodic
Li | Li3P | Li2S | Li7P3S11 stack (0.048 atoms Å⁻³) whose interphase grows as t^0.5 while every atom
random-walks, written as a LAMMPS dump with image flags to a temporary folder (not timed). Each run is
``analyze_trajectory`` on the whole file without figures, the stage's code path:

* 1 worker: the serial path, in this process (no Dask);
* N workers, pass only: ``cluster`` = the address of the LocalCluster of N one-thread worker processes that
  ``cluster: local`` starts, started (and its workers' imports done) before the clock starts: the rate of
  the parallel pass;
* N workers, end to end: ``cluster: local``, so the LocalCluster's start-up and shut-down are timed too.

32 frames by default: the parallel pass has ~0.4 s of serial work whatever the length (the client reads the
first frame and sets the analysis up before any worker starts; the last frame's layer analysis runs while the
other worker has nothing left), which a 16-frame run weighs twice as much as a 32-frame one; a production
trajectory has thousands of frames.

The machine's own ceiling for this work is measured beside it, without Dask: the per-frame function
(:meth:`InterphaseAnalysis.analyse_frame`, read included) on the same frames in 1 process, then in N
processes at once, each doing all of them (a ``multiprocessing`` pool, started before the clock). Its ratio
N x t1 / tN is what N cores give this memory-heavy numpy/freud work here (shared caches and memory
bandwidth); Dask's efficiency is the parallel pass's speed-up over that ceiling.

One thread per worker: BLAS/OpenMP pinned to 1 before numpy loads, freud to 1 thread in this process
(the parallel path pins its workers' freud to 1 itself). The machine's load average is printed before
and after: other processes on the cores lower the parallel rate. The parallel results are checked to
equal the serial ones (every number of analysis.json).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from seilab.analysis.parallel import dask_client  # noqa: E402
from seilab.analysis.pipeline import analyze_trajectory  # noqa: E402
from seilab.settings.analysis import AnalysisSettings  # noqa: E402
from seilab.analysis.synthetic import layered_frame  # noqa: E402
from seilab.analysis.trajectory import write_lammps_dump  # noqa: E402

LI, LI3P, LI2S, SSE = {"Li": 1}, {"Li": 3, "P": 1}, {"Li": 2, "S": 1}, {"Li": 7, "P": 3, "S": 11}
TYPES = ["Li", "P", "S"]


def trajectory(path: Path, n_atoms: int, n_frames: int) -> Path:
    """A growing interphase (thickness ∝ t^0.5) in a ~n_atoms periodic box; atoms random-walk (σ 0.5 Å per
    frame, so some cross the interface planes and the flux is not zero). Same atoms in every frame."""
    spacing = 2.75  # 0.048 atoms / Å^3
    nz = max(8, int(round(n_atoms / 900)))
    lx, lz = 30 * spacing, nz * spacing
    h = lz / 2
    rng = np.random.default_rng(0)
    walk = None
    frames = []
    for k in range(n_frames):
        g = 0.3 * h * np.sqrt(k / max(n_frames - 1, 1))
        regions = [(g, h, LI), (g / 3, g, LI3P), (-g, g / 3, LI2S), (-h, -g, SSE)] if g > 0 else [(0, h, LI), (-h, 0, SSE)]
        fr = layered_frame(regions, (lx, lx, lz), spacing=(spacing,) * 3, jitter=0.4, seed=k, time_ps=10.0 * k,
                           index=k)
        walk = np.zeros_like(fr.unwrapped) if walk is None else walk + rng.normal(0, 0.5, walk.shape)
        fr.unwrapped = fr.unwrapped + walk
        s = (fr.unwrapped - fr.origin) @ fr.inv_cell
        fr.positions = fr.origin + (s - np.floor(s)) @ fr.cell
        fr.step = 10_000 * k
        frames.append(fr)
    return write_lammps_dump(path, frames, type_map=TYPES)


def numbers(res) -> str:
    d = res.to_dict()
    d.pop("trajectory", None)
    return json.dumps(d, sort_keys=True)


def worker_cpu(client) -> float:
    """CPU seconds (user + system) the cluster's worker processes have used so far."""
    def cpu():
        import psutil

        c = psutil.Process().cpu_times()
        return c.user + c.system

    return sum(client.run(cpu).values())


_CEIL: dict = {}


def _warm() -> None:
    """A worker's imports of the per-frame analysis (0.3 s of freud, scipy.spatial, ase in a fresh process),
    paid before the clock of the pass-only row starts (the end-to-end row pays them)."""
    import ase.cell  # noqa: F401
    import freud  # noqa: F401
    import scipy.sparse.csgraph  # noqa: F401
    import scipy.spatial  # noqa: F401

    import seilab.analysis.pipeline  # noqa: F401


def _ceiling_init(path, settings) -> None:
    """A pool process: the analysis after its first frame, and the frame spans (not timed)."""
    from seilab.analysis.pipeline import InterphaseAnalysis
    from seilab.analysis.trajectory import TrajectoryReader

    try:
        import freud

        freud.parallel.set_num_threads(1)
    except Exception:
        pass
    reader = TrajectoryReader(path, type_map=settings.type_map)
    spans = list(reader.spans())
    ana = InterphaseAnalysis(settings)
    ana.begin(reader.read_span(spans[0]))
    _CEIL.update(reader=reader, spans=spans, ana=ana)


def _ceiling_work(n_frames: int) -> float:
    """Wall seconds to read and analyse the first n_frames frames (structure part included), in this process."""
    r, spans, ana = _CEIL["reader"], _CEIL["spans"], _CEIL["ana"]
    t = time.perf_counter()
    for sp in spans[:n_frames]:
        ana.analyse_frame(r.read_span(sp), structure=True, atoms=False)
    return time.perf_counter() - t


def machine_ceiling(path, settings, workers: int, n_frames: int) -> tuple[float, float, float]:
    """(t1, tN, N x t1 / tN): the per-frame work on n_frames frames in one process, then in ``workers``
    processes at once, each doing the same n_frames (no Dask, no transfers)."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(workers, initializer=_ceiling_init, initargs=(path, settings)) as pool:
        pool.map(_ceiling_work, [1] * workers)  # warm (imports, first-touch memory)
        t1 = pool.apply(_ceiling_work, (n_frames,))
        tn = max(pool.map(_ceiling_work, [n_frames] * workers, chunksize=1))
    return t1, tn, workers * t1 / tn


def timed_run(path, settings):
    """(result, wall s, CPU s of this process)."""
    c, t = time.process_time(), time.perf_counter()
    res = analyze_trajectory(path, settings)
    return res, time.perf_counter() - t, time.process_time() - c


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", type=int, default=100_000)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        import freud

        freud.parallel.set_num_threads(1)
    except Exception:
        pass
    print(f"cores: {os.cpu_count()}, load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"nice {os.nice(0)}")
    with tempfile.TemporaryDirectory(prefix="seilab-bench-dask-") as tmp:
        t = time.perf_counter()
        path = trajectory(Path(tmp) / "bench.lammpstrj", args.atoms, args.frames)
        base = AnalysisSettings(type_map=TYPES, figures=False)
        n_atoms = int(open(path).readlines(200)[3])
        print(f"trajectory: {args.frames} frames x {n_atoms} atoms, {path.stat().st_size / 1e6:.0f} MB "
              f"(written in {time.perf_counter() - t:.0f} s, not timed)")

        serial, t1, c1 = timed_run(path, base)
        rows = [("1 worker (serial path, no Dask)", t1, c1, None)]

        # the LocalCluster the stage would start (seilab.analysis.parallel.dask_client), started before the clock
        with dask_client(base.model_copy(update={"workers": args.workers}), scratch=Path(tmp) / "dask") as client:
            client.run(_warm)  # imports paid before the clock, as the ceiling's pool pays them
            s = base.model_copy(update={"workers": args.workers, "cluster": client.scheduler.address})
            w0 = worker_cpu(client)
            par, t2, c2 = timed_run(path, s)
            w2 = worker_cpu(client) - w0
        rows.append((f"{args.workers} workers, pass only (LocalCluster started before)", t2, c2, w2))
        assert numbers(par) == numbers(serial), "parallel results differ from the serial ones"

        e2e, t3, c3 = timed_run(path, base.model_copy(update={"workers": args.workers, "cluster": "local"}))
        rows.append((f"{args.workers} workers, end to end (cluster: local, start-up included)", t3, c3, None))
        assert numbers(e2e) == numbers(serial), "parallel results differ from the serial ones"

        n_ceil = min(args.frames, 6)
        c1, cn, ceiling = machine_ceiling(path, base, args.workers, n_ceil)

    n = args.frames
    print(f"\n{'run':64s} {'wall (s)':>8s} {'frames/s':>8s} {'vs 1':>6s} {'CPU s/frame':>18s} {'cores busy':>10s}")
    for name, w, c, wc in rows:
        cpu = f"{c / n:.2f}" if wc is None else f"{wc / n:.2f} + {c / n:.2f} client"
        busy = f"{(c + (wc or 0)) / w:.2f}" if wc is not None or "serial" in name else "-"
        print(f"{name:64s} {w:8.2f} {n / w:8.3f} {t1 / w:5.2f}x {cpu:>18s} {busy:>10s}")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; client peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; results identical to the serial ones")
    print("cores busy = CPU seconds used / wall seconds (at most the number of cores this run could get: other "
          "processes on the machine take the rest)")
    goal = 1.8
    ratio = t1 / t2
    print(f"\nmachine ceiling (no Dask): {n_ceil} frames analysed in {c1:.2f} s by 1 process, in {cn:.2f} s by each "
          f"of {args.workers} processes at once: {ceiling:.2f}x for {args.workers} cores; Dask's pass reaches "
          f"{ratio / ceiling:.0%} of it")
    print(f"goal: >= {goal}x with {args.workers} workers (pass only): {'met' if ratio >= goal else 'NOT met'} "
          f"({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
