"""Onsager estimator: known answers, FFT == direct, windows, errors, bad input."""

import json

import numpy as np
import pytest

from seilab.transport.onsager import (KB_EV_PER_K, L_TO_MOLAR_SI, L_TO_SI, Onsager,
                                               OnsagerResult, collective, cross_sums_direct,
                                               cross_sums_fft, onsager_coefficients,
                                               self_sums_direct, self_sums_fft)
from seilab.errors import SeilabError

D, DT, V, T = 0.1, 0.01, 5000.0, 600.0


def analytic_L(n_atoms):
    """L_ii of n independent walkers with diffusion coefficient D: N D / (k_B V T)."""
    return n_atoms * D / (KB_EV_PER_K * V * T)


# ---- known answers ---------------------------------------------------------------------------

def test_independent_walkers_give_analytic_L(random_walkers):
    pos, sp = random_walkers(seed=0)
    # independent walkers have no momentum conservation: their analytic L is the lab frame's
    r = onsager_coefficients(pos, sp, DT, V, T, n_blocks=10, fit_window=(DT, 10 * DT), remove_drift=False)
    assert r.species == ("Li", "S") and r.counts == (12, 8)
    expected = analytic_L(np.array([12, 8]))
    diag, err = np.diag(r.L), np.diag(r.L_err)
    assert np.all(np.abs(diag - expected) / expected < 0.05), (diag, expected)
    assert np.all(np.abs(diag - expected) < 3 * err), (diag, expected, err)
    # no correlation between independent species
    assert abs(r.L[0, 1]) < 3 * r.L_err[0, 1]
    assert abs(r.L[0, 1]) < 0.05 * expected.min()
    # the self part is sharp: N D / (k_B V T) within 2 %
    assert np.allclose(r.L_self, expected, rtol=0.02)
    # distinct part of independent walkers is zero within its error bar
    assert np.all(np.abs(r.L_distinct) < 3 * r.L_distinct_err)


def test_independent_walkers_auto_window_within_error_bar(random_walkers):
    pos, sp = random_walkers(seed=1)
    r = onsager_coefficients(pos, sp, DT, V, T, n_blocks=10, remove_drift=False)
    assert r.window_source == "auto"  # a random walk is diffusive at every lag
    expected = analytic_L(np.array([12, 8]))
    assert np.all(np.abs(np.diag(r.L) - expected) < 3 * np.diag(r.L_err))
    assert np.all(np.abs(r.L_self - expected) < 3 * r.L_self_err)
    assert np.allclose(r.L_self, expected, rtol=0.1)


def test_perfectly_correlated_walkers_give_equal_coefficients(correlated_walkers):
    pos, sp = correlated_walkers()
    r = onsager_coefficients(pos, sp, DT, V, T, n_blocks=4)
    li, p, s = (r.index(x) for x in ("Li", "P", "S"))
    # equal counts: L_LiP == L_LiLi == L_PP
    assert r.L[li, p] == pytest.approx(r.L[li, li], rel=1e-10)
    assert r.L[p, p] == pytest.approx(r.L[li, li], rel=1e-10)
    # unequal counts: L_ij = sqrt(L_ii L_jj) (perfect correlation)
    assert r.L[li, s] == pytest.approx(np.sqrt(r.L[li, li] * r.L[s, s]), rel=1e-10)
    # N atoms moving as one: distinct part = (N - 1) x self part
    assert r.L_distinct[li] == pytest.approx(5 * r.L_self[li], rel=1e-10)
    assert r.L_distinct[s] == pytest.approx(2 * r.L_self[s], rel=1e-10)
    # symmetric
    assert np.allclose(r.L, r.L.T, rtol=1e-12, atol=0)


def test_ballistic_start_is_excluded_from_auto_window(ou_walkers):
    pos, sp, d_exact = ou_walkers(tau_frames=10.0)
    r = onsager_coefficients(pos, sp, DT, V, T, n_blocks=5, remove_drift=False)  # independent: lab frame
    assert r.window_source == "auto"
    # the local slope of an OU MSD is within 0.15 of 1 only beyond ~8 correlation times
    assert r.fit_window_ps[0] >= 5 * 10 * DT, r.fit_window_ps
    assert r.L_self[0] == pytest.approx(20 * d_exact / (KB_EV_PER_K * V * T), rel=0.05)


def test_non_diffusive_trajectory_falls_back_to_default_window():
    rng = np.random.default_rng(3)
    pos = rng.uniform(0, 10, size=(1, 10, 3)) + rng.normal(scale=0.05, size=(1000, 10, 3))
    r = onsager_coefficients(pos, ["Li"] * 5 + ["P"] * 5, DT, V, T, n_blocks=4)
    assert r.window_source == "default"
    lag_range = 1000 // 4 - 1
    assert r.fit_window_ps == pytest.approx((round(0.1 * lag_range) * DT, round(0.6 * lag_range) * DT))
    assert np.all(np.abs(r.L_self) < 0.05 * np.abs(analytic_L(5)))  # vibrations do not diffuse


def test_user_window_is_used_and_reported(random_walkers):
    pos, sp = random_walkers(n_frames=2000)
    r = onsager_coefficients(pos, sp, DT, V, T, n_blocks=4, fit_window=(0.05, 0.2))
    assert r.window_source == "user" and r.fit_window_ps == (0.05, 0.2)
    with pytest.raises(SeilabError, match="fit_window"):
        onsager_coefficients(pos, sp, DT, V, T, n_blocks=4, fit_window=(0.05, 4.0))  # beyond a block
    with pytest.raises(SeilabError, match="fit_window"):
        onsager_coefficients(pos, sp, DT, V, T, n_blocks=4, fit_window=(0.2, 0.1))


# ---- FFT == direct ---------------------------------------------------------------------------

def _mixed_trajectory(n_frames=1500, seed=7):
    rng = np.random.default_rng(seed)
    sp = ["Li"] * 9 + ["P"] * 4 + ["S"] * 7
    common = np.cumsum(rng.normal(scale=0.05, size=(n_frames, 1, 3)), axis=0)
    own = np.cumsum(rng.normal(scale=0.05, size=(n_frames, len(sp), 3)), axis=0)
    # a drift and positions far from the origin stress the cancellation in the FFT identity
    drift = np.linspace(0, 3.0, n_frames)[:, None, None]
    return 100.0 + rng.uniform(0, 20, size=(len(sp), 3)) + common + own + drift, sp


def test_fft_kernels_equal_direct_double_loop():
    pos, sp = _mixed_trajectory()
    index = np.array([("Li", "P", "S").index(s) for s in sp])
    X = collective(pos, index, 3)
    fft, direct = cross_sums_fft(X), cross_sums_direct(X)
    diag = np.einsum("mii->mi", direct)[1:]
    scale = np.sqrt(diag[:, :, None] * diag[:, None, :])  # Cauchy-Schwarz bound of |M_ij|
    assert np.max(np.abs(fft[1:] - direct[1:]) / scale) < 1e-8
    assert np.max(np.abs(np.einsum("mii->mi", fft)[1:] - diag) / diag) < 1e-8
    s_fft, s_direct = self_sums_fft(pos, index, 3, chunk=6), self_sums_direct(pos, index, 3)
    assert np.max(np.abs(s_fft[1:] - s_direct[1:]) / s_direct[1:]) < 1e-8


def test_fft_estimator_equals_direct_estimator():
    pos, sp = _mixed_trajectory(n_frames=1200)
    a = onsager_coefficients(pos, sp, DT, V, T, n_blocks=3, method="fft")
    b = onsager_coefficients(pos, sp, DT, V, T, n_blocks=3, method="direct")
    assert a.fit_window_ps == b.fit_window_ps
    for name in ("L", "L_err", "L_self", "L_distinct"):
        x, y = getattr(a, name), getattr(b, name)
        assert np.max(np.abs(x - y) / np.max(np.abs(y))) < 1e-8, name


def test_zero_padding_matters():
    """A circular (unpadded) correlation would differ: the check above can fail."""
    from scipy.fft import irfft, rfft

    pos, sp = _mixed_trajectory(n_frames=300)
    X = collective(pos, np.zeros(len(sp), dtype=int), 1)[:, 0, :]
    X = X - X.mean(axis=0)
    F = rfft(X, axis=0)
    circular = irfft((F.conj() * F).sum(axis=1), n=300)
    linear = np.array([np.sum(X[: 300 - m] * X[m:]) for m in range(300)])
    assert not np.allclose(circular, linear, rtol=1e-3)


# ---- uncertainty and runs --------------------------------------------------------------------

def test_single_block_has_no_error_bar(random_walkers):
    pos, sp = random_walkers(n_frames=500)
    r = onsager_coefficients(pos, sp, DT, V, T, n_blocks=1)
    assert np.all(np.isnan(r.L_err)) and r.L_samples.shape == (1, 2, 2)


def test_independent_runs_pool_and_give_errors(random_walkers):
    runs = [random_walkers(seed=s, n_frames=3000)[0] for s in range(6)]
    sp = random_walkers(n_frames=10)[1]
    for method in ("runs", "bootstrap"):
        r = onsager_coefficients(runs, sp, DT, V, T, error_method=method, fit_window=(DT, 10 * DT),
                                 n_bootstrap=200, remove_drift=False)
        assert r.n_runs == 6 and r.n_frames == 18000
        assert np.all(np.isfinite(r.L_err)) and np.all(r.L_err > 0)
        expected = analytic_L(np.array([12, 8]))
        assert np.all(np.abs(np.diag(r.L) - expected) < 4 * np.diag(r.L_err) + 0.05 * expected)
    with pytest.raises(SeilabError, match="error_method"):
        onsager_coefficients(runs[0], sp, DT, V, T, error_method="runs")


def test_remove_drift_removes_a_common_motion(random_walkers):
    pos, sp = random_walkers(n_frames=2000)
    rng = np.random.default_rng(5)
    drift = np.cumsum(rng.normal(scale=0.3, size=(2000, 1, 3)), axis=0)
    a = onsager_coefficients(pos, sp, DT, V, T, n_blocks=4, remove_drift=True, fit_window=(0.01, 0.5))
    b = onsager_coefficients(pos + drift, sp, DT, V, T, n_blocks=4, remove_drift=True, fit_window=(0.01, 0.5))
    c = onsager_coefficients(pos + drift, sp, DT, V, T, n_blocks=4, fit_window=(0.01, 0.5), remove_drift=False)
    default = onsager_coefficients(pos + drift, sp, DT, V, T, n_blocks=4, fit_window=(0.01, 0.5))
    assert np.allclose(a.L, b.L, rtol=1e-8, atol=1e-12 * np.abs(a.L).max())
    assert np.array_equal(default.L, b.L)                      # removed by default
    assert not np.allclose(a.L, c.L, rtol=0.1)
    # the drift's share is measured either way, and said when it is worth more than 2 sigma
    assert c.drift["removed"] is False and c.drift["max_L_com_over_L_err"] > 2
    assert len(c.warnings) == 1 and "NOT removed" in c.warnings[0] and "lab frame" in c.summary()
    assert "removed (barycentric frame)" in default.warnings[0] and "barycentric frame" in default.summary()
    # lab-frame L = barycentric L + the centre of mass's share
    assert np.allclose(c.L, default.L + np.array(c.drift["L_com"]), rtol=0.05, atol=0.05 * np.abs(c.L).max())


def test_barycentric_frame_of_independent_walkers_has_the_analytic_answer(random_walkers):
    """Removing the centre of mass (weights w = m / M) from independent walkers gives
    L_ij = D / (k_B V T) [δ_ij N_i − N_i W_j − N_j W_i + N_i N_j Σ w²], W_i = Σ_{α∈i} w_α:
    negative cross terms where the lab frame has none, and Σ_i m_i J_i = 0."""
    from ase.data import atomic_masses, atomic_numbers

    pos, sp = random_walkers(seed=0)
    r = onsager_coefficients(pos, sp, DT, V, T, n_blocks=10, fit_window=(DT, 10 * DT))
    m = np.array([atomic_masses[atomic_numbers[x]] for x in sp])
    w = m / m.sum()
    n = np.array([12, 8])
    W = np.array([w[np.array(sp) == x].sum() for x in ("Li", "S")])
    expected = D / (KB_EV_PER_K * V * T) * (np.diag(n) - np.outer(n, W) - np.outer(W, n) + np.outer(n, n) * (w @ w))
    assert np.all(np.abs(r.L - expected) < 3 * r.L_err + 0.05 * np.abs(expected).max()), (r.L, expected)
    assert r.L[0, 1] < 0 and expected[0, 1] < 0
    # the barycentric constraint Σ_j m_j L_ij = 0 (m_j: the atomic mass of species j), measured and analytic
    mj = np.array([atomic_masses[atomic_numbers[x]] for x in ("Li", "S")])
    assert np.allclose(expected @ mj, 0, atol=1e-12 * np.abs(expected).max() * mj.max())
    assert np.allclose(r.L @ mj, 0, atol=1e-9 * np.abs(r.L).max() * mj.max())


# ---- result object ---------------------------------------------------------------------------

def test_result_units_and_round_trip(tmp_path, random_walkers):
    from seilab.provenance import read_json, write_json

    pos, sp = random_walkers(n_frames=3000)
    est = Onsager(n_blocks=3).compute(pos, sp, DT, V, T, label="walkers")
    r = est.result
    assert est.L is r.L and r.units["L"] == "1/(eV*Angstrom*ps)"
    assert L_TO_SI == pytest.approx(6.241509074e40) and L_TO_MOLAR_SI == pytest.approx(1.0364269e17)
    assert np.allclose(r.L_SI, r.L * 6.241509074e40)
    d = r.to_dict(curve_points=50)
    assert len(d["curves"]["lags_ps"]) <= 52
    write_json(tmp_path / "r.json", d)
    back = OnsagerResult.from_dict(read_json(tmp_path / "r.json"))
    assert np.allclose(back.L, r.L) and back.species == r.species and back.fit_window_ps == r.fit_window_ps
    assert back.composition == pytest.approx({"Li": 0.6, "S": 0.4}) and back.system == "Li-S"
    assert "Li" in r.summary()
    json.dumps(d)


def test_reading_before_compute_is_an_error():
    with pytest.raises(SeilabError, match="compute"):
        Onsager().result


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, field", [
    (dict(temperature_K=-300.0), "temperature_K"),
    (dict(temperature_K=0.0), "temperature_K"),
    (dict(timestep_ps=0.0), "timestep_ps"),
    (dict(volume_A3=float("nan")), "volume_A3"),
    (dict(species=["Li"] * 3), "species"),
    (dict(positions=np.zeros((50, 4, 2))), "positions"),
    (dict(positions=np.zeros((50, 4))), "positions"),
    (dict(positions=np.zeros((5, 4, 3))), "positions"),
    (dict(positions=np.full((50, 4, 3), np.nan)), "positions"),
    (dict(n_blocks=20), "n_blocks"),
    (dict(species_order=["Li"]), "species_order"),
])
def test_bad_input_raises_one_line_error_naming_the_field(kwargs, field):
    args = dict(positions=np.cumsum(np.ones((50, 4, 3)), axis=0), species=["Li", "Li", "S", "S"],
                timestep_ps=DT, volume_A3=V, temperature_K=T)
    options = {k: kwargs.pop(k) for k in ("n_blocks", "species_order") if k in kwargs}
    args.update(kwargs)
    with pytest.raises(SeilabError) as exc:
        onsager_coefficients(args.pop("positions"), args.pop("species"), **args, **options)
    msg = str(exc.value)
    assert field in msg and "\n" not in msg


# ---- issue 15 item 4: the diffusive check per species, run length, t intervals ------------------

def _walkers_and_cage(n_frames=4000, seed=2):
    """Li and S random walkers (D = 0.1 Å²/ps) and 6 P atoms vibrating in place (never diffusive)."""
    from fixtures.walkers import random_walkers

    pos, sp = random_walkers(seed=seed, n_frames=n_frames)
    rng = np.random.default_rng(seed + 1)
    cage = rng.uniform(0, 10, size=(1, 6, 3)) + rng.normal(scale=0.1, size=(n_frames, 6, 3))
    return np.concatenate([pos, cage], axis=1), sp + ["P"] * 6


def test_window_is_chosen_on_the_slowest_diffusive_species(random_walkers, ou_walkers):
    """Fast Li walkers dominate the summed self MSD, which is diffusive from the first lag; the slow P
    (OU velocities, D = 0.025 Å²/ps, ballistic below ~0.1 ps) is diffusive only beyond ~0.8 ps. The window
    must come from P (the old summed-MSD window began at the first lag), and P's D is its long-time value."""
    li, sp_li = random_walkers(seed=4, n_frames=20000, counts=(("Li", 30),))
    p, _, d_p = ou_walkers(seed=5, n_frames=20000, n_atoms=6, tau_frames=10.0, sigma_v=0.5)
    r = onsager_coefficients(np.concatenate([li, p], axis=1), sp_li + ["P"] * 6, DT, V, T, n_blocks=5,
                             remove_drift=False)
    assert r.window_source == "auto" and r.window_species == "P"
    assert r.fit_window_ps[0] >= 0.5, r.fit_window_ps          # past P's ballistic start
    assert r.diffusive == {"Li": True, "P": True} and r.status == "computed"
    assert r.slope_in_window["P"] == pytest.approx(1.0, abs=0.15)
    k = r.index("P")
    assert abs(r.L_self[k] - 6 * d_p / (KB_EV_PER_K * V * T)) < 3 * r.L_self_err[k]
    assert abs(r.D_self[k] - d_p) < 3 * r.D_self_err[k] and r.D_self[r.index("Li")] == pytest.approx(D, rel=0.1)


def test_a_species_that_never_diffuses_is_reported_as_such():
    pos, sp = _walkers_and_cage()
    r = onsager_coefficients(pos, sp, DT, V, T, n_blocks=5)
    assert r.diffusive == {"Li": True, "P": False, "S": True}
    assert r.status == "computed_not_diffusive" and r.not_diffusive == ["P"]
    assert abs(r.slope_in_window["P"]) < 0.5 and r.slope_in_window["Li"] == pytest.approx(1.0, abs=0.1)
    d = r.to_dict()
    assert d["status"] == "computed_not_diffusive" and d["diffusive"]["P"] is False
    assert d["flags"]["species"] == {"P": "not diffusive"}
    p = r.index("P")
    assert d["flags"]["L"][p][0] == "not diffusive" and d["flags"]["L"][0][r.index("S")] == ""
    line = [x for x in r.summary().splitlines() if x.strip().startswith("P ")][0]
    assert line.endswith("[not diffusive]") and "status computed_not_diffusive" in r.summary()
    assert any("not diffusive in the fit window" in w and "P (log-log slope" in w for w in r.warnings)
    # how long the run would need to be, with numbers: P is not diffusive up to 0.6 of the 40 ps run
    (need,) = [w for w in r.warnings if w.startswith("run length: P")]
    assert "up to a lag of 24 ps" in need and "a run of at least 600 ps for 5 blocks" in need and "now 40 ps" in need
    back = OnsagerResult.from_dict(json.loads(json.dumps(d)))
    assert back.diffusive == r.diffusive and back.status == r.status and back.not_diffusive == ["P"]


def test_fallback_window_is_said_in_warnings():
    rng = np.random.default_rng(3)
    pos = rng.uniform(0, 10, size=(1, 10, 3)) + rng.normal(scale=0.05, size=(1000, 10, 3))
    r = onsager_coefficients(pos, ["Li"] * 5 + ["P"] * 5, DT, V, T, n_blocks=4)
    assert r.window_source == "default" and r.status == "computed_not_diffusive"
    assert r.diffusive == {"Li": False, "P": False}
    assert any("fallback window 0.25-1.49 ps" in w for w in r.warnings)


def test_user_window_is_checked_for_diffusion_too(ou_walkers):
    pos, sp, _ = ou_walkers(n_frames=4000, tau_frames=10.0)
    early = onsager_coefficients(pos, sp, DT, V, T, n_blocks=4, fit_window=(0.01, 0.05), remove_drift=False)
    assert early.diffusive == {"Li": False} and early.slope_in_window["Li"] > 1.5  # ballistic
    late = onsager_coefficients(pos, sp, DT, V, T, n_blocks=4, fit_window=(1.0, 5.0), remove_drift=False)
    assert late.diffusive == {"Li": True} and late.status == "computed"


def test_block_errors_quote_student_t_intervals(random_walkers):
    from scipy import stats

    pos, sp = random_walkers(n_frames=3000)
    r = onsager_coefficients(pos, sp, DT, V, T, n_blocks=5, fit_window=(DT, 10 * DT))
    assert r.dof == 4 and r.t_factor == pytest.approx(stats.t.ppf(0.975, 4)) and r.t_factor > 2.7
    assert np.allclose(r.L_ci, r.t_factor * r.L_err) and "Student t, 4 dof" in r.summary()
    d = r.to_dict()
    back = OnsagerResult.from_dict(json.loads(json.dumps(d)))
    assert back.t_factor == r.t_factor and np.allclose(back.L_ci, r.L_ci)
    assert np.array_equal(back.L_samples, r.L_samples) and back.L_samples.shape == (5, 2, 2)
    r90 = onsager_coefficients(pos, sp, DT, V, T, n_blocks=5, fit_window=(DT, 10 * DT), confidence=0.9)
    assert r90.t_factor == pytest.approx(stats.t.ppf(0.95, 4))
    with pytest.raises(SeilabError, match="confidence"):
        onsager_coefficients(pos, sp, DT, V, T, confidence=1.5)


def test_student_t_intervals_cover_the_true_value_with_five_blocks():
    """Over 300 independent short walks the 95 % t interval (t = 2.78 with 4 dof) holds the analytic L_self
    about 95 % of the time; the normal interval (1.96 sigma) would hold it markedly less often."""
    rng = np.random.default_rng(11)
    truth = 4 * D / (KB_EV_PER_K * V * T)
    hit_t = hit_z = 0
    n = 300
    for _ in range(n):
        steps = rng.normal(scale=np.sqrt(2 * D * DT), size=(200, 4, 3))
        pos = np.cumsum(steps, axis=0)
        r = onsager_coefficients(pos, ["Li"] * 4, DT, V, T, n_blocks=5, fit_window=(DT, 5 * DT), remove_drift=False)
        dev = abs(r.L_self[0] - truth)
        hit_t += dev < r.t_factor * r.L_self_err[0]
        hit_z += dev < 1.96 * r.L_self_err[0]
    assert 0.91 <= hit_t / n <= 0.99, hit_t / n
    assert hit_z / n < hit_t / n - 0.03, (hit_z / n, hit_t / n)
