"""Label efficiency of D-optimal selection (pacemaker's MaxVol, as in ``seilab learn``) vs random picks.

    .venv/bin/python benchmarks/bench_label_efficiency.py [--reference chgnet|lj] [--trials 3] [--pool 64]
                        [--test 40] [--window 1,2.5] [--budgets 2,4,8,12,16,24,32] [--repeats 10]
                        [--functions 20] [--json out.json]

Per trial (independent seeds): a seed training set (strained/rattled Li and Li2S crystals, two
amorphous-like packings), a candidate pool and a held-out test set, all labelled once with the
reference (CHGNet by default, offline; ``lj`` is a quick stand-in). Pool and test come from one
generator that mimics an exploration generation of Li / Li2S: hot, isotropically strained and rattled
crystals, random Li-S packings, and ~40-100-atom subcells cut by seilab (``cut_subcells``) around the
most extrapolative atoms of a rattled Li|Li2S interface. Like the learning stage, the pool keeps only
candidates whose max γ (against the seed set's active set) lies in the window (paper: 1 < γ < 2.5).

For each label budget m and each of ``--repeats`` random sub-pools (75 % of the pool):

* **D-optimal**: ``pyace.aceselect.select_structures_maxvol`` (what ``pace_select -m`` runs), seeded with
  the seed set's active set (as ``pace_select -a pot.asi``). When MaxVol *saturates* (no further
  candidate extends the active set), the remaining picks are random, and the table says so;
* **random**: m candidates drawn uniformly from the same sub-pool.

The picks are added to the seed set and a *linear* ACE model (same B-basis, linear embedding) is
fitted by ridge regression on energies and forces; its force RMSE on the test set is recorded (median
over sub-pools, geometric mean over trials). A linear model is used on purpose: its fit is exact and
deterministic (no optimiser noise), takes milliseconds so the random picks can be repeated, and
D-optimality is defined on exactly these B-projections. The ratio is *labels needed by D-optimal /
labels needed by random for the same force RMSE* (log-log interpolation of the random curve; < 1 means
D-optimal needs fewer labels), summarised over the budgets where MaxVol is not saturated.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ELEMENTS = ["Li", "S"]


# ------------------------------------------------------------------------------------ structures
def li_bcc():
    from ase.build import bulk

    return bulk("Li", "bcc", a=3.44, cubic=True)


def li2s():
    from ase.build import bulk

    return bulk("SLi2", "fluorite", a=5.70, cubic=True)


def strained(atoms, scale, sigma, rng):
    a = atoms.copy()
    a.set_cell(a.cell.array * scale, scale_atoms=True)
    a.positions += rng.normal(0.0, sigma, a.positions.shape)
    a.wrap()
    return a


def packed(n_li, n_s, density, dmin, rng):
    """Random Li/S packing (periodic cube) with a minimum distance: an amorphous-like cell."""
    from ase import Atoms

    n = n_li + n_s
    L = (n / density) ** (1 / 3)
    pos = np.empty((0, 3))
    tries = 0
    while len(pos) < n:
        tries += 1
        if tries > 200000:
            raise RuntimeError("packing failed")
        p = rng.random(3) * L
        if len(pos):
            d = pos - p
            d -= L * np.round(d / L)
            if np.min(np.einsum("ij,ij->i", d, d)) < dmin ** 2:
                continue
        pos = np.vstack([pos, p])
    symbols = ["Li"] * n_li + ["S"] * n_s
    order = rng.permutation(n)
    return Atoms([symbols[i] for i in order], positions=pos, cell=[L, L, L], pbc=True)


def sandwich():
    """Li2S (1x1x2 conventional) | 1.8 Å | bcc Li strained to the Li2S face (2x2x4) | 1.8 Å."""
    from ase import Atoms

    e = li2s().repeat((1, 1, 2))
    a = 5.70
    li = Atoms("Li", positions=[[0, 0, 0]], cell=[a / 2, a / 2, 2.85], pbc=True).repeat((2, 2, 1))
    li.extend(Atoms("Li4", positions=li.positions + [a / 4, a / 4, 1.425], cell=li.cell))
    li = li.repeat((1, 1, 4))
    gap = 1.8
    ez, lz = e.cell[2, 2], li.cell[2, 2]
    out = Atoms(list(e.symbols) + list(li.symbols),
                positions=np.vstack([e.positions, li.positions + [0, 0, ez + gap]]),
                cell=[a, a, ez + gap + lz + gap], pbc=True)
    out.wrap()
    return out


def seed_set(rng, gamma_fn_unused=None) -> list:
    """A small first-generation set: strained/rattled crystals and two amorphous-like packings."""
    out = []
    for i in range(5):
        out.append(strained(li_bcc().repeat((2, 2, 2)), 0.97 + 0.015 * i, 0.03 + 0.02 * i, rng))
        out.append(strained(li2s().repeat((1, 1, 2)), 0.97 + 0.015 * i, 0.03 + 0.02 * i, rng))
    out.append(packed(16, 8, density=0.055, dmin=2.0, rng=rng))
    out.append(packed(20, 10, density=0.05, dmin=2.0, rng=rng))
    return out


def generated(n, rng, gamma_fn, cutoff) -> list:
    """``n`` exploration-like structures: strained hot crystals, Li-S packings, interface subcells."""
    from seilab.learning.subcells import cut_subcells

    out = []
    kinds = ["bulk", "amorphous", "subcell"]
    big = None
    while len(out) < n:
        kind = kinds[len(out) % 3]
        if kind == "bulk":
            base = li_bcc().repeat((2, 2, 2)) if rng.random() < 0.5 else li2s().repeat((1, 1, 2))
            out.append(strained(base, rng.uniform(0.9, 1.08), rng.uniform(0.05, 0.3), rng))
        elif kind == "amorphous":
            n_s = int(rng.integers(6, 12))
            n_li = int(rng.integers(n_s, 3 * n_s + 1))
            out.append(packed(n_li, n_s, density=rng.uniform(0.045, 0.065), dmin=1.9, rng=rng))
        else:
            if big is None or rng.random() < 0.3:
                big = strained(sandwich().repeat((2, 2, 1)), 1.0, rng.uniform(0.1, 0.25), rng)
                g = gamma_fn(big)
            subs, _ = cut_subcells(big, g, cutoff=cutoff, n_atoms=40, vacuum=0.5, min_distance=1.5,
                                   max_subcells=1, min_gamma=0.0,
                                   centres=[int(c) for c in np.argsort(-g)[int(rng.integers(0, 20)):]])
            if subs:
                a = subs[0].atoms
                for k in list(a.arrays):
                    if k not in ("numbers", "positions"):
                        del a.arrays[k]
                a.info = {}
                out.append(a)
    return out


# ------------------------------------------------------------------------------------ labels
def reference(name: str):
    if name == "lj":
        from ase.calculators.lj import LennardJones

        return LennardJones(sigma=2.2, epsilon=0.05, rc=5.0, smooth=True)
    from seilab.config import ReferenceSettings
    from seilab.reference import get_calculator

    return get_calculator(ReferenceSettings(name="chgnet", threads=1))


def label(frames, calc) -> list:
    from seilab.reference.calculators import single_point

    out = []
    for a in frames:
        try:
            out.append(single_point(a, calc, stress=False))
        except Exception as exc:  # a failed label is dropped, and said
            print(f"#   label failed ({exc}); structure dropped", flush=True)
    return out


# ------------------------------------------------------------------------------------ linear ACE
def basis(functions: int, cutoff: float):
    from pyace.multispecies_basisextension import construct_bbasisconfiguration

    shape = {"UNARY": {"nradmax_by_orders": [15, 6, 4, 3], "lmax_by_orders": [0, 3, 3, 2]},
             "BINARY": {"nradmax_by_orders": [15, 6, 3, 2], "lmax_by_orders": [0, 3, 2, 1]}}
    spec = {"deltaSplineBins": 0.001, "elements": ELEMENTS,
            "embeddings": {"ALL": {"npot": "FinnisSinclairShiftedScaled", "fs_parameters": [1, 1], "ndensity": 1}},
            "bonds": {"ALL": {"radbase": "SBessel", "radparameters": [5.25], "rcut": cutoff, "dcut": 0.01}},
            "functions": {"number_of_functions_per_element": functions, **shape}}
    return construct_bbasisconfiguration(spec)


def frame_df(frames, e0):
    import pandas as pd

    rows = []
    for a in frames:
        e = float(a.get_potential_energy())
        e_corr = e - sum(e0[s] for s in a.get_chemical_symbols())
        b = a.copy()
        b.calc = None
        rows.append({"ase_atoms": b, "energy_corrected": e_corr, "forces": np.asarray(a.get_forces())})
    return pd.DataFrame(rows)


def design(bconf, df):
    """Per structure: (energy row, force rows) of the linear model, and targets."""
    from pyace.linearacefit import LinearACEDataset

    ds = LinearACEDataset(bconf, df.copy())
    X = np.array(ds.get_design_matrix(max_workers=1))
    y = np.array(ds.get_target_vector())
    ns = len(df)
    nat = df["ase_atoms"].map(len).to_numpy()
    starts = ns + 3 * np.concatenate([[0], np.cumsum(nat)[:-1]])
    rows = []
    for i in range(ns):
        idx = np.concatenate([[i], np.arange(starts[i], starts[i] + 3 * nat[i])])
        rows.append((X[idx], y[idx]))
    return rows


def fit_rmse(train_rows, test_rows, alpha=1e-6) -> float:
    X = np.vstack([r[0] for r in train_rows])
    y = np.concatenate([r[1] for r in train_rows])
    # ridge by normal equations (scaled columns)
    scale = np.maximum(np.abs(X).max(axis=0), 1e-12)
    Xs = X / scale
    coef = np.linalg.solve(Xs.T @ Xs + alpha * np.eye(X.shape[1]), Xs.T @ y) / scale
    err = np.concatenate([(r[0][1:] @ coef - r[1][1:]) for r in test_rows])
    return float(np.sqrt(np.mean(err ** 2)) * 1000.0)  # meV/Å per component


def active_set(bconf, frames):
    from pyace.activelearning import compute_active_set, compute_B_projections

    proj = compute_B_projections(bconf, frames)
    return compute_active_set(proj, tol=1.01, max_iters=300)


def gamma_function(bconf, A_active):
    from pyace.activelearning import compute_A_active_inverse, compute_B_projections, compute_extrapolation_grade

    inv = compute_A_active_inverse(A_active)

    def gamma(atoms):
        proj, sind = compute_B_projections(bconf, [atoms], return_structure_ind_dict=True)
        gd = compute_extrapolation_grade(proj, inv)
        g = np.zeros(len(atoms))
        from pyace import ACEBBasisSet

        emap = ACEBBasisSet(bconf).elements_to_index_map
        for el, st in emap.items():
            mask = np.array([s == el for s in atoms.get_chemical_symbols()])
            if mask.any():
                g[mask] = gd[st]
        return g

    return gamma


def interp_labels(target, budgets, curve) -> float | None:
    """Labels a (monotonised) RMSE curve needs to reach ``target`` (log-log interpolation), or None."""
    b = np.asarray(budgets, dtype=float)
    c = np.minimum.accumulate(np.asarray(curve, dtype=float))
    if c[0] <= target:
        return float(b[0])
    for k in range(1, len(b)):
        if c[k] <= target:
            lo, hi = np.log(c[k - 1]), np.log(c[k])
            t = (np.log(target) - lo) / (hi - lo) if hi != lo else 1.0
            return float(np.exp(np.log(b[k - 1]) + t * (np.log(b[k]) - np.log(b[k - 1]))))
    return None


# ------------------------------------------------------------------------------------ main
def trial(args, seed: int, budgets: list[int], window, calc, say) -> dict | None:
    """One pool / test set / seed set: per budget, the force RMSE of D-optimal and random picks."""
    import pandas as pd
    from pyace.aceselect import select_structures_maxvol

    rng = np.random.default_rng(seed)
    bconf = basis(args.functions, args.cutoff)
    seed_frames = seed_set(rng)
    A_seed = active_set(bconf, seed_frames)
    gfun = gamma_function(bconf, A_seed)
    # candidates: generated exploration-like structures whose max γ (vs the seed's active set) is in the window
    pool, generated_n, grades = [], 0, []
    while len(pool) < args.pool and generated_n < 10 * args.pool:
        for a in generated(24, rng, gfun, args.cutoff):
            generated_n += 1
            g = float(gfun(a).max())
            if window is None or window[0] < g < window[1]:
                pool.append(a)
                grades.append(g)
    pool = pool[: args.pool]
    test = generated(args.test, np.random.default_rng(seed + 1000), gfun, args.cutoff)
    sub = int(round(0.75 * len(pool)))
    if max(budgets) > sub:
        say(f"# trial {seed}: only {len(pool)} candidates in the window ({generated_n} generated): sub-pool {sub} "
            f"< largest budget {max(budgets)}; trial skipped")
        return None
    t1 = time.perf_counter()
    seed_l, pool_l, test_l = label(seed_frames, calc), label(pool, calc), label(test, calc)
    counts = np.array([[a.get_chemical_symbols().count(e) for e in ELEMENTS] for a in seed_l], dtype=float)
    energies = np.array([a.get_potential_energy() for a in seed_l])
    e0 = dict(zip(ELEMENTS, np.linalg.lstsq(counts, energies, rcond=None)[0]))
    seed_rows = design(bconf, frame_df(seed_l, e0))
    pool_rows = design(bconf, frame_df(pool_l, e0))
    test_rows = design(bconf, frame_df(test_l, e0))
    plain = []
    for a in pool_l:
        b = a.copy()
        b.calc = None
        plain.append(b)
    base = fit_rmse(seed_rows, test_rows)
    subpools = [np.sort(np.random.default_rng([seed, 7, k]).choice(len(pool_rows), size=sub, replace=False))
                for k in range(args.repeats)]
    rows = []
    for m in budgets:
        d, r, fills = [], [], []
        for k, sp in enumerate(subpools):
            df = pd.DataFrame({"ase_atoms": [plain[i] for i in sp]})
            extra = {t: v.copy() for t, v in A_seed.items()}
            sel = select_structures_maxvol(df, bconf, extra_A0_projections_dict=extra, batch_size_option="none",
                                           max_structures=m, verbose=False)
            d_idx = [int(sp[i]) for i in sel.index]
            fills.append(m - len(d_idx))
            if len(d_idx) < m:  # MaxVol saturated: nothing else extends the active set; the rest at random
                rest = [int(i) for i in sp if int(i) not in set(d_idx)]
                d_idx += [int(i) for i in np.random.default_rng([m, k]).choice(rest, size=m - len(d_idx),
                                                                                replace=False)]
            d.append(fit_rmse(seed_rows + [pool_rows[i] for i in d_idx], test_rows))
            idx = np.random.default_rng([seed, m, k]).choice(sp, size=m, replace=False)
            r.append(fit_rmse(seed_rows + [pool_rows[i] for i in idx], test_rows))
        rows.append({"labels": m, "d_optimal_median": float(np.median(d)), "random_median": float(np.median(r)),
                     "d_optimal_mean": float(np.mean(d)), "random_mean": float(np.mean(r)),
                     "random_fill_mean": float(np.mean(fills))})
    say(f"# trial {seed}: seed set {len(seed_l)}, pool {len(pool_l)} in the window of {generated_n} generated "
        f"(max γ median {np.median(grades):.2f}), test {len(test_l)}; {len(seed_l) + len(pool_l) + len(test_l)} "
        f"labels in {time.perf_counter() - t1:.0f} s; seed-only force RMSE {base:.0f} meV/Å")
    return {"seed": seed, "base": base, "pool": len(pool_l), "generated": generated_n, "rows": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", choices=["chgnet", "lj"], default="chgnet")
    ap.add_argument("--trials", type=int, default=3, help="independent pools / test sets (seeds seed, seed+1, ...)")
    ap.add_argument("--pool", type=int, default=64, help="candidates (inside the γ window) labelled per trial")
    ap.add_argument("--test", type=int, default=40, help="held-out structures per trial (same generator, no window)")
    ap.add_argument("--window", default="1,2.5", help="γ window of the candidates ('none': no window)")
    ap.add_argument("--budgets", default="2,4,8,12,16,24,32")
    ap.add_argument("--repeats", type=int, default=10, help="random sub-pools (75%% of the pool) per budget")
    ap.add_argument("--functions", type=int, default=20, help="B-functions per element of the linear ACE basis")
    ap.add_argument("--cutoff", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    budgets = [int(x) for x in args.budgets.split(",")]
    window = None if args.window == "none" else tuple(float(x) for x in args.window.split(","))
    t0 = time.perf_counter()

    def say(msg):
        print(msg, flush=True)

    say(f"# linear ACE basis: {basis(args.functions, args.cutoff).total_number_of_functions} functions "
        f"({args.functions}/element), cutoff {args.cutoff} Å; reference: {args.reference}; γ window {window}; "
        f"{args.trials} trials x {args.repeats} sub-pools")
    calc = reference(args.reference)
    trials = [t for t in (trial(args, args.seed + k, budgets, window, calc, say) for k in range(args.trials)) if t]
    if not trials:
        print("error: no trial had enough candidates in the γ window; raise --pool or widen --window",
              file=sys.stderr)
        return 2
    # per budget: geometric mean over trials of the median over sub-pools
    gm = lambda xs: float(np.exp(np.mean(np.log(xs))))  # noqa: E731
    results = []
    for j, m in enumerate(budgets):
        results.append({"labels": m, "d_optimal": gm([t["rows"][j]["d_optimal_median"] for t in trials]),
                        "random": gm([t["rows"][j]["random_median"] for t in trials]),
                        "random_fill": float(np.mean([t["rows"][j]["random_fill_mean"] for t in trials]))})
    rand_curve = [r["random"] for r in results]
    base = gm([t["base"] for t in trials])
    print()
    print(f"force RMSE on the held-out test sets (meV/Å): geometric mean over {len(trials)} trials of the median over "
          f"{args.repeats} sub-pools; seed set only: {base:.0f}")
    print(f"{'labels':>6} {'D-optimal':>10} {'random':>8} {'random labels, same RMSE':>25} {'ratio D/random':>15}"
          f"  D-optimal picks from MaxVol")
    ratios_unsat = []
    for r in results:
        need = interp_labels(r["d_optimal"], budgets, rand_curve)
        ratio = r["labels"] / need if need else None
        bound = r["labels"] / max(budgets)
        r.update(random_labels_same_rmse=need, ratio=ratio, ratio_upper_bound=None if need else bound)
        saturated = r["random_fill"] > 0
        if not saturated:
            ratios_unsat.append(ratio if ratio is not None else bound)
        print(f"{r['labels']:>6d} {r['d_optimal']:>10.0f} {r['random']:>8.0f} "
              f"{('%.1f' % need) if need else '> ' + str(max(budgets)):>25} "
              f"{('%.2f' % ratio) if ratio is not None else '< %.2f' % bound:>15}  "
              + (f"{r['labels'] - r['random_fill']:.1f} (saturated; rest random)" if saturated else "all"))
    print()
    headline = float(np.median(ratios_unsat)) if ratios_unsat else None
    if headline is not None:
        print(f"ratio (labels needed by D-optimal / random for the same force RMSE), median over the budgets where "
              f"every D-optimal pick comes from MaxVol: {headline:.2f}"
              + (" (an upper bound: random never reached some D-optimal RMSEs)"
                 if any(r["ratio"] is None and r["random_fill"] == 0 for r in results) else ""))
    else:
        print("ratio: MaxVol saturated at every budget (no unsaturated budget to compare)")
    all_ratios = [r["ratio"] for r in results if r["ratio"] is not None]
    if all_ratios:
        print(f"median ratio over all budgets (saturated ones mix in random picks): {np.median(all_ratios):.2f}")
    print(f"# total {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"budgets": budgets, "results": results, "trials": trials, "seed_only_rmse": base,
                       "ratio": headline, "window": window, "reference": args.reference,
                       "functions_per_element": args.functions}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
