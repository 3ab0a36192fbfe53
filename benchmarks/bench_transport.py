"""Benchmark: FFT Onsager estimator vs the direct O(N_frames²) loop over time origins.

Run: ``python benchmarks/bench_transport.py`` (options: ``--frames``, ``--atoms``, ``--budget-s``).

Two comparisons on the same synthetic trajectory (Li/P/S in Li7P3S11 proportions, every atom a
Gaussian random walk plus a shared component, so cross terms are non-zero):

A. the collective displacement cross-correlation kernel <ΣΔr_i·ΣΔr_j>(τ) for all species pairs
   and all lags (the core of L_ij), FFT vs direct, at the full frame count;
B. the whole estimator (collective + per-atom self part + 5 time blocks for the error bars),
   ``Onsager(method="fft")`` vs ``Onsager(method="direct")``.

Both assert that FFT and direct agree to 1e-8 relative. The direct version is timed at the
full frame count only when its projected time (from an N² fit to smaller sizes) is under
``--budget-s`` (60 s); otherwise the table says it is extrapolated with t = a·N².
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from seilab.transport.onsager import (Onsager, collective, cross_sums_direct, cross_sums_fft)

TOL = 1e-8


def trajectory(n_frames: int, n_atoms: int, seed: int = 0):
    """Unwrapped positions (Å) and labels; ~0.01 ps frames, D ~ 0.1 Å²/ps."""
    rng = np.random.default_rng(seed)
    frac = np.array([7, 3, 11]) / 21
    counts = np.maximum(1, np.round(frac * n_atoms).astype(int))
    counts[-1] = n_atoms - counts[:-1].sum()
    species = [s for s, c in zip(("Li", "P", "S"), counts) for _ in range(c)]
    step = np.sqrt(2 * 0.1 * 0.01)
    pos = np.cumsum(rng.normal(scale=step, size=(n_frames, n_atoms, 3)), axis=0)
    pos += np.cumsum(rng.normal(scale=0.3 * step, size=(n_frames, 1, 3)), axis=0)
    pos += rng.uniform(0, 11.0, size=(n_atoms, 3))
    return pos, species


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def rel_diff_curves(a: np.ndarray, b: np.ndarray) -> float:
    """max |a-b| / sqrt(b_ii b_jj) over lags >= 1 and pairs (Cauchy-Schwarz scale of |b_ij|)."""
    d = np.einsum("mii->mi", b)[1:]
    scale = np.sqrt(d[:, :, None] * d[:, None, :])
    return float(np.max(np.abs(a[1:] - b[1:]) / scale))


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def fit_n2(sizes, times) -> tuple[float, float]:
    """(a in t = a N², fitted exponent p in t ∝ N^p) from the measured points."""
    sizes, times = np.asarray(sizes, float), np.asarray(times, float)
    a = float(np.sum(times * sizes ** 2) / np.sum(sizes ** 4))
    p = float(np.polyfit(np.log(sizes), np.log(times), 1)[0]) if len(sizes) > 1 else float("nan")
    return a, p


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--atoms", type=int, default=100)
    ap.add_argument("--budget-s", type=float, default=60.0, help="time direct at full size only below this")
    ap.add_argument("--blocks", type=int, default=5)
    args = ap.parse_args(argv)
    N, A = args.frames, args.atoms
    rows = []
    notes = []

    pos, species = trajectory(N, A)
    index = np.array([("Li", "P", "S").index(s) for s in species])
    print(f"trajectory: {N} frames, {A} atoms ({', '.join(f'{s}:{species.count(s)}' for s in ('Li', 'P', 'S'))})")

    # ---- A: collective kernel ------------------------------------------------------------
    X = collective(pos, index, 3)
    cross_sums_fft(X[:256])  # warm-up: scipy.fft import and plan cache
    fft, t_fft = timed(cross_sums_fft, X)
    small = [n for n in (2000, 4000, 8000) if n < N]
    t_small = [timed(cross_sums_direct, X[:n])[1] for n in small]
    a, p = fit_n2(small, t_small) if small else (0.0, float("nan"))
    projected = a * N ** 2
    if not small or projected < args.budget_s:
        direct, t_dir = timed(cross_sums_direct, X)
        how = "measured"
        d = rel_diff_curves(fft, direct)
    else:
        t_dir, how = projected, f"extrapolated (t = a N^2, a = {a:.3e} s; measured exponent {p:.2f})"
        nchk = max(small)
        d = rel_diff_curves(cross_sums_fft(X[:nchk]), cross_sums_direct(X[:nchk]))
        notes.append(f"A: relative difference checked at {nchk} frames")
    assert d < TOL, f"collective kernel: FFT and direct differ by {d:.2e} (> {TOL})"
    rows.append(("A collective <dX_i.dX_j>", N, t_fft, t_dir, how, d))
    for n, t in zip(small, t_small):
        notes.append(f"A: direct at {n} frames: {t:.2f} s")

    # ---- B: whole estimator ----------------------------------------------------------------
    def run(method, n):
        return Onsager(n_blocks=args.blocks, method=method).compute(
            pos[:n], species, 0.01, 1500.0, 900.0).result

    res_fft, t_fft_full = timed(run, "fft", N)
    sizes_b = [n for n in (1000, 2000, 4000) if n <= N]
    t_b, checks = [], []
    for n in sizes_b:
        r_dir, t = timed(run, "direct", n)
        t_b.append(t)
        r_fft = run("fft", n)
        checks.append(max(rel_diff(r_fft.L, r_dir.L), rel_diff(r_fft.L_err, r_dir.L_err),
                          rel_diff(r_fft.L_self, r_dir.L_self), rel_diff_curves(r_fft.msd, r_dir.msd)))
        notes.append(f"B: direct at {n} frames: {t:.2f} s, FFT/direct max rel diff {checks[-1]:.1e}")
    a_b, p_b = fit_n2(sizes_b, t_b)
    projected_b = a_b * N ** 2
    if projected_b < args.budget_s:
        r_dir, t_dir_full = timed(run, "direct", N)
        how_b = "measured"
        checks.append(max(rel_diff(res_fft.L, r_dir.L), rel_diff(res_fft.L_self, r_dir.L_self)))
    else:
        t_dir_full = projected_b
        how_b = f"extrapolated (t = a N^2, a = {a_b:.3e} s; measured exponent {p_b:.2f})"
    db = max(checks)
    assert db < TOL, f"estimator: FFT and direct differ by {db:.2e} (> {TOL})"
    rows.append((f"B full estimator ({args.blocks} blocks + self)", N, t_fft_full, t_dir_full, how_b, db))

    # ---- table ---------------------------------------------------------------------------
    print()
    print(f"{'what':<38} {'frames':>7} {'FFT s':>8} {'direct s':>10} {'speed-up':>9} {'max rel diff':>13}  direct timing")
    for what, n, tf, td, how, diff in rows:
        print(f"{what:<38} {n:>7} {tf:>8.3f} {td:>10.2f} {td / tf:>9.0f} {diff:>13.1e}  {how}")
    print()
    for n in notes:
        print("  " + n)
    print(f"\nL (FFT, {N} frames) [1/(eV*Angstrom*ps)]:\n{res_fft.summary()}")
    print(f"\nOK: FFT == direct to < {TOL:g} relative")
    return 0


if __name__ == "__main__":
    sys.exit(main())
