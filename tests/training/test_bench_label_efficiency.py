"""benchmarks/bench_label_efficiency.py: honest reporting (σ over trials, a labels ratio only at levels
both curves reach), and that what it measures is the loop's: its refit gives ``fit_linear``'s potential and
its MaxVol ranking is ``select_structures_maxvol``'s (tiny bases and the LJ stand-in; ~20 s)."""

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_label_efficiency.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_label_efficiency", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop(spec.name, None)


BUDGETS = [2, 4, 8, 16]


# ---- the pure summary ---------------------------------------------------------------------------
def test_no_ratio_when_random_never_reaches_the_d_optimal_levels(bench):
    # the old benchmark's case: random stays above every D-optimal value, so the old code turned
    # "never reaches" into a ratio bound; here there is no common level and no ratio at all
    d = [[100, 90, 80, 70], [102, 92, 82, 72], [98, 88, 78, 68]]
    r = [[150, 140, 130, 120], [152, 142, 132, 122], [148, 138, 128, 118]]
    s = bench.summarize(BUDGETS, d, r)
    assert s["common_levels"] is None
    assert s["ratios"] == []
    assert all(row["ratio"] is None and row["trial_ratios"] == [None] * 3 for row in s["rows"])
    text = bench.format_summary(s, "t")
    assert "no ratio: the curves do not cross a common level" in text


def test_ratio_only_where_both_curves_reach_the_level(bench):
    d = [[100, 80, 60, 50]] * 2
    r = [[100, 90, 80, 70]] * 2
    s = bench.summarize(BUDGETS, d, r)
    assert s["common_levels"] == [70.0, 100.0]
    by_m = {row["labels"]: row for row in s["rows"]}
    assert by_m[2]["ratio"] == pytest.approx(1.0)            # both start at 100
    assert by_m[4]["ratio"] == pytest.approx(4 / 8)          # random reaches 80 at 8 labels
    assert by_m[4]["d_labels"] == pytest.approx(4) and by_m[4]["random_labels"] == pytest.approx(8)
    assert by_m[4]["trial_ratios"] == [pytest.approx(0.5)] * 2
    # D-optimal's 60 and 50 are below random's lowest (70): no extrapolated ratio
    assert by_m[8]["ratio"] is None and by_m[16]["ratio"] is None
    text = bench.format_summary(s, "t")
    assert "no ratio (level not crossed by both curves)" in text
    assert "0.50 (4.0 vs 8.0 labels)" in text


def test_per_trial_ratios_at_each_trials_own_level(bench):
    # trial 1 is trial 0 shifted up by 30: the mean curve's level (95 at 4 labels) is not on trial 0's
    # D-optimal curve at 4 labels, each trial's own level (80, 110) is, and random needs 8 labels for both
    d = [[100, 80, 60, 50], [130, 110, 90, 80]]
    r = [[100, 90, 80, 70], [130, 120, 110, 100]]
    row = {x["labels"]: x for x in bench.summarize(BUDGETS, d, r)["rows"]}[4]
    assert row["ratio"] == pytest.approx(0.5)
    assert row["trial_ratios"] == [pytest.approx(0.5), pytest.approx(0.5)]


def test_crossing_interpolates_and_never_extrapolates(bench):
    curve = [100, 80, 60, 50]
    assert bench.crossing(100, BUDGETS, curve) == pytest.approx(2)
    assert bench.crossing(80, BUDGETS, curve) == pytest.approx(4)
    x = bench.crossing(70, BUDGETS, curve)
    assert 4 < x < 8
    t = (np.log(70) - np.log(80)) / (np.log(60) - np.log(80))
    assert x == pytest.approx(np.exp(np.log(4) + t * np.log(2)))   # log-log between 4 and 8
    assert bench.crossing(101, BUDGETS, curve) is None   # reached before the smallest budget: unknown
    assert bench.crossing(49, BUDGETS, curve) is None    # never reached within the budgets
    # first crossing of a non-monotone curve
    assert bench.crossing(85, BUDGETS, [100, 80, 90, 70]) < 4


def test_sigma_is_over_trials_and_the_difference_is_paired(bench):
    rng = np.random.default_rng(3)
    base = np.array([120.0, 110, 100, 95])
    noise = rng.normal(0, 5, (4, 1)) * np.ones((1, 4))  # each trial shifts both curves alike
    d = base + noise
    r = base + 10 + noise
    s = bench.summarize(BUDGETS, d, r)
    for j, row in enumerate(s["rows"]):
        assert row["d_optimal"]["mean"] == pytest.approx(d[:, j].mean())
        assert row["d_optimal"]["sd"] == pytest.approx(np.std(d[:, j], ddof=1))
        assert row["d_optimal"]["se"] == pytest.approx(np.std(d[:, j], ddof=1) / 2)
        assert row["random"]["sd"] == pytest.approx(np.std(r[:, j], ddof=1))
        assert row["d_optimal"]["n"] == 4
        # paired over trials: the common trial noise cancels
        assert row["difference"]["mean"] == pytest.approx(-10)
        assert row["difference"]["sd"] == pytest.approx(0, abs=1e-9)
        assert row["resolved"]
    # unpaired noise of the same size: the difference is not resolved
    d2 = base + rng.normal(0, 30, (4, 4))
    s2 = bench.summarize(BUDGETS, d2, base + rng.normal(0, 30, (4, 4)))
    assert any(not row["resolved"] for row in s2["rows"])
    with pytest.raises(ValueError):
        bench.summarize(BUDGETS, d[:, :3], r)


def test_equal_atoms_compares_at_the_same_labelled_atoms_without_extrapolation(bench):
    assert bench.interp_at(200, [100, 400], [100, 50]) == pytest.approx(np.exp(np.interp(
        np.log(200), np.log([100, 400]), np.log([100, 50]))))
    assert bench.interp_at(99, [100, 400], [100, 50]) is None
    assert bench.interp_at(401, [100, 400], [100, 50]) is None
    # D-optimal labels twice the atoms; at equal atoms it is no better than random
    r, ra = [100.0, 80, 64, 51.2], [100.0, 200, 400, 800]
    d, da = [80.0, 64, 51.2, 40.96], [200.0, 400, 800, 1600]
    eq = bench.equal_atoms(BUDGETS, [d, d], [da, da], [r, r], [ra, ra])
    assert [e["difference"]["mean"] for e in eq[:3]] == [pytest.approx(0, abs=1e-9)] * 3
    assert eq[3]["difference"] is None  # 1600 atoms: beyond random's largest budget


# ---- the measurement is the loop's --------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(bench):
    from seilab.geometry import pair_minima

    settings, learn = bench.loop_settings(bench.DEMO_CONFIG, functions=6)
    settings = settings.model_copy(update={"cutoff_A": 5.0})
    rng = np.random.default_rng(0)
    seed = bench.seed_set(rng, 12)
    conf_seed = bench.basis_conf(settings, frames=seed)
    A_seed = bench.active_set(conf_seed, seed)
    gfun = bench.gamma_function(conf_seed, A_seed)
    floors = {k: 0.85 * v for k, v in pair_minima(seed).items()}
    sub = bench.SubcellSettings(atoms=40, cutoff=5.0)
    pool, _, _ = bench.candidates(9, rng, gfun, sub, None, floors)
    calc = bench.reference("lj")
    return {"settings": settings, "seed": bench.label(seed, calc), "pool": bench.label(pool, calc),
            "conf_seed": conf_seed, "A_seed": A_seed}


def test_refit_is_fit_linear(bench, tiny, tmp_path):
    """The in-process solve on seed set + picks gives the potential seilab.training.linear writes."""
    import pandas as pd
    from pyace import ACEBBasisSet

    from seilab.training.data import kind_weights
    from seilab.training.linear import LinearACEBackend, fit_linear

    settings = tiny["settings"]
    picks = [tiny["pool"][i] for i in (0, 2, 5, 7)]
    frames = tiny["seed"] + picks
    assert any("force_weight" in a.arrays and (a.arrays["force_weight"] == 0).any() for a in picks)
    e0 = {"Li": 0.1, "S": -0.2}
    by_kind = dict(settings.energy_weight_by_kind)
    conf = bench.basis_conf(settings, frames=frames)
    seed_b = bench.blocks(conf, tiny["seed"], e0, by_kind, merged=True)
    pick_b = bench.blocks(conf, picks, e0, by_kind)
    coef = bench.solve([seed_b, pick_b], settings.linear_energy_weight, settings.ridge_alpha)

    df = bench.frame_df(frames, e0)
    df["name"] = [f"s{i:03d}" for i in range(len(df))]
    df["force_weight"] = [np.asarray(a.arrays.get("force_weight", np.ones(len(a))), dtype=float)
                          for a in df["ase_atoms"]]
    df = kind_weights(df, by_kind, dict(settings.force_weight_by_kind))
    df.to_pickle(tmp_path / "train.pckl.gzip", compression="gzip")
    request = {"fingerprint": "t", "train": str(tmp_path / "train.pckl.gzip"), "elements": bench.ELEMENTS,
               "potential": LinearACEBackend.potential_section(settings, bench.ELEMENTS),
               "repulsion": settings.repulsion, "energy_weight": settings.linear_energy_weight,
               "energy_weight_by_kind": by_kind, "force_weight_by_kind": dict(settings.force_weight_by_kind),
               "ridge_alpha": settings.ridge_alpha, "workers": 1, "reference_energies": e0}
    fit_linear(request, tmp_path)
    loop = np.asarray(ACEBBasisSet(str(tmp_path / "output_potential.yaml")).basis_coeffs)
    assert loop.shape == coef.shape
    np.testing.assert_allclose(coef, loop, rtol=1e-6, atol=1e-8 * np.abs(loop).max())
    # and a different weighting (no kind factors) would not match: the comparison can fail
    other = bench.solve([seed_b, pick_b], 1.0, settings.ridge_alpha)
    assert not np.allclose(other, loop, rtol=1e-3)
    assert isinstance(pd.read_pickle(tmp_path / "train.pckl.gzip", compression="gzip"), pd.DataFrame)


def test_maxvol_ranking_is_pace_select(bench, tiny):
    import pandas as pd
    from pyace.aceselect import select_structures_maxvol

    pool = tiny["pool"]
    proj, sind = bench.pool_projections(tiny["conf_seed"], pool)
    members = np.array([0, 1, 3, 4, 6, 7, 8])
    ours = bench.maxvol_ranking(proj, sind, members, tiny["A_seed"])
    df = pd.DataFrame({"ase_atoms": [bench.plain(pool[i]) for i in members]}, index=members)
    extra = {t: np.array(v, copy=True) for t, v in tiny["A_seed"].items()}
    sel = select_structures_maxvol(df, tiny["conf_seed"], extra_A0_projections_dict=extra,
                                   batch_size_option="none", max_structures=-1)
    assert ours == [int(i) for i in sel.index]
    assert ours and set(ours) <= set(members.tolist())


def test_benchmark_runs_and_reports(bench, capsys):
    rc = bench.main(["--reference", "lj", "--functions", "6", "--cutoff", "5", "--trials", "2",
                     "--seed-structures", "12", "--pool", "12", "--test", "4", "--test-subcells", "3",
                     "--subcell-atoms", "40", "--budgets", "2,4,8", "--repeats", "2"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "force RMSE (meV/Å) on the fixed test set" in out
    assert "held-out interface subcells" in out
    assert "mean ± σ [s.e.] over 2 trials" in out
    assert out.count("no ratio") + out.count(" labels; per trial") >= 3
