"""MD throughput of seilab's engines on Li(100)/Li7P3S11(100) interfaces.

    .venv/bin/python benchmarks/bench_md.py [--sizes 1000,10000,100000] [--steps 300,100,10]
                                            [--ranks 1] [--potential pot.yaml] [--json out.json]

For each size: atom-steps/s of the LAMMPS ML-PACE engine driven by seilab (``run_md``: input
generation, subprocess, log parsing, thermo/provenance files) and of the *same* LAMMPS input run by
hand (``lmp -in in.seg000.lammps``), their wall-time ratio (seilab overhead), max RSS per atom, and
the ASE engine on the same model (1k atoms). Ends with a core-hour estimate for the paper's run
(500,000 atoms x 10 ns at 1 fs). Parts that need LAMMPS are skipped, with the reason printed, when
``lmp`` is not built. The demo potential (tiny ACE, ~12 functions/element) is fitted once and cached
under ``${SEILAB_CACHE:-~/.cache/seilab}/bench``; pass ``--potential`` for a real one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the shared fixtures (tests/fixtures)

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ELEMENTS = ("Li", "P", "S")


def _potential(path: str | None):
    from seilab.md.engine import Potential

    if path:
        return Potential.from_any(path)
    from seilab.md.lammps import cache_root
    from fixtures.simulation import demo_potential

    print("# demo potential: fitting once (CHGNet labels + pacemaker), cached afterwards", flush=True)
    return Potential.from_any(demo_potential(cache_root() / "bench", progress=lambda m: print("#  ", m)))


def _raw_lammps(lmp: Path, run_dir: Path, ranks: int) -> dict:
    """Run the first segment's input of ``run_dir`` by hand in a fresh folder; wall time and RSS."""
    from seilab.md.engine import PeakRSS, wait_with_rusage
    from seilab.md.lammps import mpi_command, parse_log, run_env

    raw = run_dir.parent / (run_dir.name + "-raw")
    shutil.rmtree(raw, ignore_errors=True)
    raw.mkdir()
    shutil.copy(run_dir / "structure.data", raw / "structure.data")
    shutil.copy(run_dir / "in.seg000.lammps", raw / "in.lammps")
    (raw / "restart").mkdir()
    cmd = mpi_command(lmp, ranks) + [str(lmp), "-in", "in.lammps", "-log", "log.lammps", "-screen", "none"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=raw, env=run_env(1), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    with PeakRSS(proc.pid) as mon:
        rc, _, cpu = wait_with_rusage(proc)
    rss = mon.total_MB
    wall = time.perf_counter() - t0
    loops = parse_log(raw / "log.lammps")["loops"]
    return {"rc": rc, "wall_s": wall, "loop_s": sum(lp["seconds"] for lp in loops), "rss_MB": rss, "cpu_s": cpu}


def bench_lammps(pot, sizes, steps, ranks, work: Path, repeats: int = 2) -> list[dict]:
    from seilab.md.engine import MDSpec
    from seilab.md.engines import run_md
    from seilab.simulation.interface import build_interface, bulk_phases
    from seilab.md.lammps import find_lmp

    lmp = find_lmp()
    bulk = bulk_phases(None)
    rows = []
    for n, nsteps in zip(sizes, steps):
        t0 = time.perf_counter()
        atoms = build_interface(bulk["Li_bcc"], bulk["Li7P3S11"], n)
        t_build = time.perf_counter() - t0
        spec = MDSpec(structure=atoms, potential=pot, elements=ELEMENTS, ensemble="npt", steps=nsteps,
                      thermo_every=max(1, nsteps // 10), dump_every=max(1, nsteps // 2), restart_every=nsteps,
                      gamma_every=max(1, min(20, nsteps // 2)), gamma_halt=1e9, gamma_dump_threshold=1e8,
                      mpi_ranks=ranks)
        best = raw = None
        for rep in range(repeats):  # alternate seilab-driven and by-hand runs; keep the fastest of each
            run_dir = work / f"lmp-{n}-{rep}"
            shutil.rmtree(run_dir, ignore_errors=True)
            t0 = time.perf_counter()
            res = run_md(spec, run_dir, engine="lammps")
            wall = time.perf_counter() - t0
            if best is None or wall < best[1]:
                best = (res, wall)
            r = _raw_lammps(lmp, run_dir, ranks)
            if raw is None or r["wall_s"] < raw["wall_s"]:
                raw = r
        res, wall_seilab = best
        segs = json.loads((res.workdir / "run.json").read_text())["segments"]
        lmp_wall = sum(sg.get("wall_s", 0.0) for sg in segs)
        row = {"engine": "lammps", "n_atoms": res.n_atoms, "steps": nsteps, "ranks": ranks,
               "build_s": t_build, "seilab_wall_s": wall_seilab, "raw_wall_s": raw["wall_s"],
               "loop_s": res.loop_s, "raw_loop_s": raw["loop_s"],
               "atom_steps_per_s": res.atom_steps_per_s,
               "atom_steps_per_s_wall": res.n_atoms * nsteps / wall_seilab,
               "raw_atom_steps_per_s_wall": res.n_atoms * nsteps / raw["wall_s"],
               "overhead_ratio": wall_seilab / raw["wall_s"],
               "seilab_added_s": wall_seilab - lmp_wall, "lmp_process_wall_s": lmp_wall,
               "cpu_s": res.cpu_s, "raw_cpu_s": raw["cpu_s"],
               "atom_steps_per_cpu_s": res.n_atoms * nsteps / res.cpu_s if res.cpu_s else None,
               "rss_MB": res.max_rss_MB, "bytes_per_atom": (res.max_rss_MB or 0) * 2**20 / res.n_atoms,
               "status": res.status}
        rows.append(row)
        print(f"# lammps {res.n_atoms:>7} atoms x {nsteps:>4} steps: {row['atom_steps_per_s']:,.0f} atom-steps/s "
              f"(loop), seilab/raw wall {row['overhead_ratio']:.3f}, seilab's own time {row['seilab_added_s']:.2f} s "
              f"around a {lmp_wall:.1f} s LAMMPS process", flush=True)
    return rows


def bench_ase(pot, n, nsteps, work: Path) -> dict:
    from seilab.md.engine import MDSpec
    from seilab.md.engines import run_md
    from seilab.simulation.interface import build_interface, bulk_phases

    bulk = bulk_phases(None)
    atoms = build_interface(bulk["Li_bcc"], bulk["Li7P3S11"], n)
    spec = MDSpec(structure=atoms, potential=pot, elements=ELEMENTS, ensemble="npt", steps=nsteps,
                  thermo_every=max(1, nsteps // 5), dump_every=nsteps, restart_every=nsteps,
                  gamma_every=max(1, min(20, nsteps // 2)), gamma_halt=1e9, gamma_dump_threshold=1e8)
    run_dir = work / f"ase-{n}"
    shutil.rmtree(run_dir, ignore_errors=True)
    res = run_md(spec, run_dir, engine="ase")
    print(f"# ase    {res.n_atoms:>7} atoms x {nsteps:>4} steps: {res.atom_steps_per_s:,.0f} atom-steps/s", flush=True)
    return {"engine": "ase", "n_atoms": res.n_atoms, "steps": nsteps, "ranks": 1, "atom_steps_per_s": res.atom_steps_per_s,
            "seilab_wall_s": res.wall_s, "status": res.status}


def n_functions(pot) -> int | None:
    try:
        from pyace.basis import BBasisConfiguration

        return int(BBasisConfiguration(str(pot.yaml)).total_number_of_functions)
    except Exception:
        return None


def cutoff(pot) -> float | None:
    try:
        from pyace.basis import BBasisConfiguration

        conf = BBasisConfiguration(str(pot.yaml))
        return max(float(b.rcutij) for b in conf.funcspecs_blocks)
    except Exception:
        return None


def bench_basis(pots: list, n: int, nsteps: int, work: Path) -> list[dict]:
    """Per-atom cost vs basis size: LAMMPS pair_style pace (no γ) on one interface, each potential."""
    from seilab.md.engine import MDSpec
    from seilab.md.engines import run_md
    from seilab.simulation.interface import build_interface, bulk_phases

    bulk = bulk_phases(None)
    atoms = build_interface(bulk["Li_bcc"], bulk["Li7P3S11"], n)
    out = []
    for pot in pots:
        spec = MDSpec(structure=atoms, potential=pot, elements=ELEMENTS, ensemble="npt", steps=nsteps,
                      thermo_every=nsteps, dump_every=nsteps, restart_every=nsteps, gamma_every=0)
        run_dir = work / f"basis-{n_functions(pot)}-{cutoff(pot)}"
        shutil.rmtree(run_dir, ignore_errors=True)
        res = run_md(spec, run_dir, engine="lammps")
        row = {"functions": n_functions(pot), "cutoff_A": cutoff(pot), "n_atoms": res.n_atoms, "steps": nsteps,
               "atom_steps_per_s": res.atom_steps_per_s,
               "atom_steps_per_cpu_s": res.n_atoms * nsteps / res.cpu_s if res.cpu_s else None,
               "rss_MB": res.max_rss_MB}
        out.append(row)
        print(f"# basis {row['functions']:>5} functions: {row['atom_steps_per_s']:,.0f} atom-steps/s (loop), "
              f"{row['atom_steps_per_cpu_s']:,.0f} per CPU-s", flush=True)
    return out


def estimate(rows: list[dict], atoms: int = 500_000, ns: float = 10.0, dt_fs: float = 1.0) -> dict | None:
    """Core-hours for ``atoms`` x ``ns`` from the largest measured LAMMPS size (per-core throughput)."""
    lam = [r for r in rows if r["engine"] == "lammps" and r.get("atom_steps_per_s")]
    if not lam:
        return None
    big = max(lam, key=lambda r: r["n_atoms"])
    per_core = big["atom_steps_per_s"] / big["ranks"]
    steps = ns * 1e6 / dt_fs
    core_s = atoms * steps / per_core
    cpu_rate = big.get("atom_steps_per_cpu_s")
    return {"from_n_atoms": big["n_atoms"], "atom_steps_per_s_per_core": per_core, "core_hours": core_s / 3600,
            "core_hours_cpu_time": atoms * steps / cpu_rate / 3600 if cpu_rate else None,
            "wall_days_on_128_cores_ideal": core_s / 128 / 86400, "atoms": atoms, "ns": ns}


def print_table(rows: list[dict]) -> None:
    print("atom-steps/s: MD loop (LAMMPS 'Loop time'; ASE: dyn.run); /CPU-s: per CPU second of the MD process incl. "
          "start-up;\n(wall) and raw wall: whole-run throughput driven by seilab and by hand; seilab/raw: wall-time ratio")
    hdr = (f"{'engine':<7} {'atoms':>8} {'steps':>6} {'ranks':>5} {'atom-steps/s':>13} {'/CPU-s':>10} {'(wall)':>10} "
           f"{'raw wall':>10} {'seilab/raw':>10} {'RSS MB':>8} {'B/atom':>7}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        f = lambda k, fmt: (format(r[k], fmt) if r.get(k) is not None else "-")  # noqa: E731
        print(f"{r['engine']:<7} {r['n_atoms']:>8} {r['steps']:>6} {r['ranks']:>5} {f('atom_steps_per_s', ',.0f'):>13} "
              f"{f('atom_steps_per_cpu_s', ',.0f'):>10} "
              f"{f('atom_steps_per_s_wall', ',.0f'):>10} {f('raw_atom_steps_per_s_wall', ',.0f'):>10} "
              f"{f('overhead_ratio', '.3f'):>10} {f('rss_MB', '.0f'):>8} {f('bytes_per_atom', '.0f'):>7}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--steps", default="300,100,10")
    ap.add_argument("--ranks", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2, help="runs per size and mode; the fastest counts")
    ap.add_argument("--ase-atoms", type=int, default=1000)
    ap.add_argument("--ase-steps", type=int, default=20)
    ap.add_argument("--potential", default=None)
    ap.add_argument("--basis-potentials", default="",
                    help="comma-separated .yaml/.yace of other basis sizes: per-atom cost vs functions")
    ap.add_argument("--basis-atoms", type=int, default=10000)
    ap.add_argument("--basis-steps", type=int, default=20)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    steps = [int(x) for x in args.steps.split(",")]
    if len(steps) != len(sizes):
        print("error: --steps needs one value per size", file=sys.stderr)
        return 2
    work = Path(args.workdir or tempfile.mkdtemp(prefix="seilab-bench-md-"))
    work.mkdir(parents=True, exist_ok=True)
    pot = _potential(args.potential)
    rows: list[dict] = []

    from seilab.md.lammps import LammpsEngine

    ok, why = LammpsEngine().available()
    if ok:
        rows += bench_lammps(pot, sizes, steps, args.ranks, work, args.repeats)
    else:
        print(f"# skipped LAMMPS parts: {why}")
    if args.ase_atoms > 0:
        rows.append(bench_ase(pot, args.ase_atoms, args.ase_steps, work))
    basis = []
    if ok and args.basis_potentials:
        from seilab.md.engine import Potential

        pots = [pot] + [Potential.from_any(p) for p in args.basis_potentials.split(",") if p]
        basis = bench_basis(pots, args.basis_atoms, args.basis_steps, work)
    print()
    print_table(rows)
    for r in rows:
        if r.get("seilab_added_s") is not None:
            print(f"seilab's own time (input, data file, log parsing, thermo.csv, provenance hashes) at {r['n_atoms']:,} "
                  f"atoms: {r['seilab_added_s']:.2f} s = {r['seilab_added_s'] / r['lmp_process_wall_s']:.1%} of the "
                  f"LAMMPS process wall time")
    lam = {r["n_atoms"]: r for r in rows if r["engine"] == "lammps"}
    ase = [r for r in rows if r["engine"] == "ase"]
    if lam and ase:
        near = min(lam.values(), key=lambda r: abs(r["n_atoms"] - ase[0]["n_atoms"]))
        print(f"\nLAMMPS / ASE throughput on the same model (~{ase[0]['n_atoms']} atoms): "
              f"{near['atom_steps_per_s'] / ase[0]['atom_steps_per_s']:.1f}x")
    est = estimate(rows)
    if est:
        nf = n_functions(pot)
        print(f"\nPaper run estimate: {est['atoms']:,} atoms x {est['ns']:g} ns at 1 fs with this potential "
              f"({nf} functions) -> {est['core_hours']:,.0f} core-hours from the MD-loop throughput "
              f"({est['atom_steps_per_s_per_core']:,.0f} atom-steps/s/core at {est['from_n_atoms']:,} atoms; "
              f"{est['wall_days_on_128_cores_ideal']:.1f} days on 128 cores at ideal scaling)"
              + (f"; {est['core_hours_cpu_time']:,.0f} core-hours from CPU time" if est["core_hours_cpu_time"] else ""))
    else:
        print("\nPaper run estimate: skipped (no LAMMPS measurement)")
    if basis:
        print("\nper-atom cost vs basis size (LAMMPS pair_style pace, no γ):")
        print(f"{'functions':>9} {'rcut':>5} {'atoms':>7} {'atom-steps/s':>13} {'/CPU-s':>10} {'us/atom-step (CPU)':>19} "
              f"{'RSS MB':>7} {'B/atom':>7}")
        for b in basis:
            us = 1e6 / b["atom_steps_per_cpu_s"] if b["atom_steps_per_cpu_s"] else float("nan")
            rss = b["rss_MB"] or 0.0
            print(f"{b['functions']:>9} {b['cutoff_A'] or 0:>5.1f} {b['n_atoms']:>7} {b['atom_steps_per_s']:>13,.0f} "
                  f"{(b['atom_steps_per_cpu_s'] or 0):>10,.0f} {us:>19.2f} {rss:>7.0f} {rss * 2**20 / b['n_atoms']:>7.0f}")
        import numpy as np

        rc = max((b["cutoff_A"] or 0) for b in basis)  # fit only the potentials of the largest cutoff
        sel = [b for b in basis if b["functions"] and b["atom_steps_per_cpu_s"] and b["cutoff_A"] == rc]
        fx = np.array([b["functions"] for b in sel], float)
        fy = np.array([1.0 / b["atom_steps_per_cpu_s"] for b in sel])
        if len(fx) >= 2:
            slope, icpt = np.polyfit(fx, fy, 1)
            paper = 1634
            cost = slope * paper + icpt
            print(f"linear fit (rcut {rc} Å): {icpt * 1e6:.2f} + {slope * 1e6:.4f} x functions us/atom-step -> paper's {paper}-function "
                  f"potential: {1 / cost:,.0f} atom-steps/CPU-s -> 500k atoms x 10 ns: "
                  f"{5e5 * 1e7 * cost / 3600:,.0f} core-hours")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "estimate": est, "basis": basis}, indent=2))
    print(f"\n(work folder: {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
