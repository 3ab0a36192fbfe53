"""Active-learning exploration at scale: LAMMPS vs ASE on one model and one interface, subcell cutting, frame reading.

    .venv/bin/python benchmarks/bench_explore.py [--atoms 10000] [--lammps-steps 100] [--ase-steps 5]
                                                 [--cut-sizes 100000,1000000] [--potential pot.yaml] [--json out.json]

1. **Exploration throughput** on the same Li(100)/Li7P3S11(100) interface (``build_interface``, ``--atoms``) with
   the same model, as the learning stage runs it: LAMMPS through the MD layer
   (:func:`seilab.learning.explore.run_lammps_gamma`: pace/extrapolation γ every ``--sample-every`` steps, frames
   above the γ window's lower end dumped and read back with numpy) and ASE (:func:`~seilab.learning.explore.run_md_gamma`:
   pyace γ with every force call). Atom-steps/s of the whole run (wall, start-up and frame conversion included)
   and of LAMMPS' MD loop, their ratio (goal >= 5x), and LAMMPS' peak RSS per atom (sampled, all ranks).
2. **Subcell cutting** (:func:`seilab.learning.subcells.cut_subcells`, the demo's settings: 100-atom subcells,
   6 Å cutoff, ``--subcells`` per frame) on interface frames of ``--cut-sizes`` atoms with a synthetic γ (2 % of
   the atoms in the window), each size in a fresh process on one core: seconds (goal <= 1 s at 100,000 atoms,
   <= 10 s at 1,000,000) and peak memory above the frame itself per atom; and reading such a frame from a
   LAMMPS text dump (:func:`seilab.md.dump.dump_frame_spans` + :func:`~seilab.md.dump.read_dump_frame`).

Ratios are measured in one run and printed; nothing is asserted. Without LAMMPS the LAMMPS part is skipped
with the reason. The default model is the tiny demo ACE potential of ``benchmarks/bench_md.py`` (fitted once,
cached under ``${SEILAB_CACHE:-~/.cache/seilab}/bench``); pass ``--potential`` for a real one (its ``.asi``
beside it).
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
    """A ``seilab.training.Potential``-like object with yaml / yace / asi (the learning stage's potential)."""
    from seilab.md.engine import Potential

    if path:
        pf = Potential.from_any(path)
        if pf.asi is None or pf.yaml is None:
            raise SystemExit(f"--potential {path}: exploration needs the .yaml and its .asi active set")
        return pf
    from fixtures.simulation import demo_potential
    from seilab.md.lammps import cache_root

    print("# demo potential: fitting once (CHGNet labels + pacemaker), cached afterwards", flush=True)
    return demo_potential(cache_root() / "bench", progress=lambda m: print("#  ", m))


def _interface(n: int):
    from seilab.simulation.interface import build_interface, bulk_phases

    bulk = bulk_phases(None)
    return build_interface(bulk["Li_bcc"], bulk["Li7P3S11"], n)


def n_functions(pot) -> int | None:
    try:
        from pyace.basis import BBasisConfiguration

        return int(BBasisConfiguration(str(pot.yaml)).total_number_of_functions)
    except Exception:
        return None


# ----------------------------------------------------------------------------------------------- exploration
def bench_lammps(pot, atoms, steps: int, every: int, ranks: int, work: Path) -> dict:
    from seilab.learning.explore import run_lammps_gamma

    run_dir = work / f"lammps-{len(atoms)}"
    shutil.rmtree(run_dir, ignore_errors=True)
    t0 = time.perf_counter()
    frames, info = run_lammps_gamma(atoms, pot, ELEMENTS, 600.0, steps, 1.0, 0.02, every, 1.0, 1e9, seed=7,
                                    workdir=run_dir, mpi_ranks=ranks)
    wall = time.perf_counter() - t0
    res = json.loads((run_dir / "result.json").read_text())
    row = {"engine": "lammps", "n_atoms": len(atoms), "steps": info["steps_run"], "ranks": ranks, "wall_s": wall,
           "atom_steps_per_s_wall": len(atoms) * info["steps_run"] / wall,
           "atom_steps_per_s_loop": info["md_loop_atom_steps_per_s"], "frames": len(frames),
           "frames_graded": info["frames_graded"], "max_gamma": info["max_gamma_graded"],
           "rss_MB": res.get("max_rss_MB"), "bytes_per_atom": (res.get("max_rss_MB") or 0) * 2**20 / len(atoms)}
    print(f"# lammps {len(atoms):>7} atoms x {row['steps']} steps: {row['atom_steps_per_s_wall']:,.0f} atom-steps/s "
          f"(wall), {row['atom_steps_per_s_loop'] or 0:,.0f} (MD loop); {len(frames)} frames kept of "
          f"{info['frames_graded']} graded; peak RSS {row['rss_MB'] or 0:.0f} MB", flush=True)
    return row


def bench_ase(pot, atoms, steps: int, every: int) -> dict:
    from seilab.learning.explore import run_md_gamma
    from seilab.md.ase_engine import ace_calculator
    from seilab.md.engine import Potential

    calc = ace_calculator(Potential.from_any(pot), gamma=True)
    t0 = time.perf_counter()
    frames, info = run_md_gamma(atoms, calc, 600.0, steps, 1.0, 0.02, every, 1e9, 0, seed=7)
    wall = time.perf_counter() - t0
    row = {"engine": "ase", "n_atoms": len(atoms), "steps": info["steps_run"], "ranks": 1, "wall_s": wall,
           "atom_steps_per_s_wall": len(atoms) * info["steps_run"] / wall, "atom_steps_per_s_loop": None,
           "frames": len(frames), "max_gamma": max((f.info["max_gamma"] for f in frames), default=None)}
    print(f"# ase    {len(atoms):>7} atoms x {row['steps']} steps: {row['atom_steps_per_s_wall']:,.0f} atom-steps/s "
          "(wall)", flush=True)
    return row


# ----------------------------------------------------------------------------------------------- subcells
CUT_CHILD = r"""
import json, resource, sys, time
import numpy as np
import psutil
sys.path.insert(0, sys.argv[1])
from bench_explore import frame_of
from seilab.learning.subcells import cut_subcells
n, n_sub, dump = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
frame = frame_of(n)
base = psutil.Process().memory_info().rss
t0 = time.perf_counter()
subs, rep = cut_subcells(frame, cutoff=6.0, n_atoms=100, vacuum=0.5, min_distance=1.2, max_subcells=n_sub,
                         min_gamma=1.0, max_gamma=2.5, boundary=2.0)
cut = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
out = {"n_atoms": len(frame), "cut_s": cut, "subcells": len(subs), "sizes": [len(s.atoms) for s in subs],
       "frame_MB": base / 2**20, "peak_above_frame_bytes_per_atom": max(0, peak - base) / len(frame)}
if dump != "-":
    from seilab.md.dump import dump_frame_spans, read_dump_frame, write_dump_frame
    with open(dump, "w") as fh:
        write_dump_frame(fh, frame, 100, 0.1, ("Li", "P", "S"), extra={"f_pace_gamma": frame.arrays["gamma"]})
    t0 = time.perf_counter()
    spans = dump_frame_spans(dump)
    back = read_dump_frame(dump, spans[0])
    out["dump_read_s"] = time.perf_counter() - t0
    out["dump_MB"] = spans[0][1] / 2**20
    assert len(back) == len(frame) and np.allclose(back.arrays["f_pace_gamma"], frame.arrays["gamma"], rtol=1e-5)
print("RESULT " + json.dumps(out))
"""


def frame_of(n: int):
    """An interface frame of about ``n`` atoms (a ~2,000-atom interface replicated in-plane) with a synthetic γ:
    0.2-0.9 everywhere, 1.2-2.4 on 2 % of the atoms (the subcell centres), 3 on 0.1 % (above the window)."""
    import numpy as np

    from seilab.learning.explore import replicate_in_plane

    big, _ = replicate_in_plane(_interface(2000), n)
    rng = np.random.default_rng(0)
    g = rng.uniform(0.2, 0.9, len(big))
    hot = rng.choice(len(big), max(1, len(big) // 50), replace=False)
    g[hot] = rng.uniform(1.2, 2.4, len(hot))
    g[rng.choice(len(big), max(1, len(big) // 1000), replace=False)] = 3.0
    big.arrays["gamma"] = g
    return big


def bench_cut(n: int, n_sub: int, work: Path, dump: bool) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    path = str(work / f"frame-{n}.dump") if dump else "-"
    cmd = [sys.executable, "-c", CUT_CHILD, str(Path(__file__).resolve().parent), str(n), str(n_sub), path]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0"] + cmd  # one core
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"subcell benchmark at {n} atoms failed:\n{out.stderr[-2000:]}")
    row = json.loads(line[7:])
    if dump:
        Path(path).unlink(missing_ok=True)
    print(f"# cut    {row['n_atoms']:>7} atoms: {row['subcells']} subcells in {row['cut_s']:.2f} s, "
          f"{row['peak_above_frame_bytes_per_atom']:.0f} B/atom above the frame"
          + (f"; dump frame ({row['dump_MB']:.0f} MB) indexed and read in {row['dump_read_s']:.2f} s" if dump else ""),
          flush=True)
    return row


# ----------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--atoms", type=int, default=10000, help="interface size of the throughput comparison")
    ap.add_argument("--lammps-steps", type=int, default=100)
    ap.add_argument("--ase-steps", type=int, default=5, help="(pyace's neighbour list grows ~ N^2: keep it short)")
    ap.add_argument("--sample-every", type=int, default=20, help="LAMMPS γ interval (learning.md.sample_every)")
    ap.add_argument("--ranks", type=int, default=1)
    ap.add_argument("--cut-sizes", default="100000,1000000")
    ap.add_argument("--subcells", type=int, default=6, help="subcells cut per frame (learning.subcells_per_frame)")
    ap.add_argument("--no-dump", action="store_true", help="skip the dump write/read of the cut frames")
    ap.add_argument("--potential", default=None)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="seilab-bench-explore-"))
    work.mkdir(parents=True, exist_ok=True)
    out: dict = {"rows": [], "cut": []}

    pot = _potential(args.potential)
    atoms = _interface(args.atoms)
    print(f"# model: {pot.yaml} ({n_functions(pot)} functions); interface: {len(atoms)} atoms", flush=True)
    from seilab.md.lammps import LammpsEngine

    ok, why = LammpsEngine().available()
    lam = bench_lammps(pot, atoms, args.lammps_steps, args.sample_every, args.ranks, work) if ok else None
    if not ok:
        print(f"# skipped the LAMMPS part: {why}")
    ase = bench_ase(pot, atoms, args.ase_steps, max(1, min(args.sample_every, args.ase_steps)))
    out["rows"] = [r for r in (lam, ase) if r]
    for n in [int(x) for x in args.cut_sizes.split(",") if x]:
        out["cut"].append(bench_cut(n, args.subcells, work, dump=not args.no_dump))

    print()
    print(f"{'engine':<7} {'atoms':>7} {'steps':>6} {'ranks':>5} {'atom-steps/s':>13} {'(MD loop)':>10} {'frames':>7} "
          f"{'RSS MB':>7} {'B/atom':>7}")
    for r in out["rows"]:
        f = lambda k, fmt: format(r[k], fmt) if r.get(k) is not None else "-"  # noqa: E731
        print(f"{r['engine']:<7} {r['n_atoms']:>7} {r['steps']:>6} {r['ranks']:>5} {f('atom_steps_per_s_wall', ',.0f'):>13} "
              f"{f('atom_steps_per_s_loop', ',.0f'):>10} {r['frames']:>7} {f('rss_MB', '.0f'):>7} {f('bytes_per_atom', '.0f'):>7}")
    if lam:
        ratio = lam["atom_steps_per_s_wall"] / ase["atom_steps_per_s_wall"]
        out["ratio_wall"] = ratio
        print(f"\nLAMMPS / ASE exploration throughput, same model and {len(atoms):,}-atom interface: {ratio:.1f}x (wall, "
              f"goal >= 5x)" + (f"; {lam['atom_steps_per_s_loop'] / ase['atom_steps_per_s_wall']:.1f}x from LAMMPS' MD loop"
                               if lam["atom_steps_per_s_loop"] else ""))
        print(f"LAMMPS exploration peak memory: {lam['bytes_per_atom']:,.0f} B/atom ({lam['rss_MB'] or 0:.0f} MB, "
              f"sampled RSS of the LAMMPS process)")
    print(f"\n{'atoms':>9} {'subcells':>8} {'cut s':>7} {'goal s':>7} {'B/atom':>7} {'dump MB':>8} {'read s':>7}")
    for c in out["cut"]:
        goal = 1.0 if c["n_atoms"] <= 150_000 else 10.0 * c["n_atoms"] / 1_000_000
        print(f"{c['n_atoms']:>9,} {c['subcells']:>8} {c['cut_s']:>7.2f} {goal:>7.1f} "
              f"{c['peak_above_frame_bytes_per_atom']:>7.0f} {c.get('dump_MB', float('nan')):>8.0f} "
              f"{c.get('dump_read_s', float('nan')):>7.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    print(f"\n(work folder: {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
