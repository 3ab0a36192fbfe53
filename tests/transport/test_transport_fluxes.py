"""Fluxes J = -L grad_mu (eq. 2), sign convention, and the predicted-vs-measured comparison."""

import numpy as np
import pytest

from seilab.transport.fluxes import (J_TO_SI, compare_fluxes, driving_forces, flux_table,
                                              predict_fluxes)
from seilab.errors import SeilabError


L3 = [[4.0, -1.0, 0.5], [-1.0, 2.0, 0.3], [0.5, 0.3, 3.0]]


def test_eq2_matrix_product_and_error_propagation(result_factory):
    r = result_factory(L3, L_err=np.full((3, 3), 0.1))
    g = {"Li": 0.2, "P": -0.1, "S": -0.3}
    f = predict_fluxes(r, g)
    expected = -np.array(L3) @ np.array([0.2, -0.1, -0.3])
    assert np.allclose(f.J, expected)
    assert np.allclose(f.J_err, 0.1 * np.sqrt(0.04 + 0.01 + 0.09))
    assert f.as_dict()["Li"] == pytest.approx(expected[0])
    assert f.units["J"] == "1/(Angstrom^2*ps)" and J_TO_SI == 1e32
    assert f.to_dict()["J_SI"][0] == pytest.approx(expected[0] * 1e32)


def test_sign_convention_matches_the_paper(result_factory):
    """Li: mu highest at the metal → J_Li < 0 (toward the SSE); S: the reverse → J_S > 0."""
    mu_metal = {"Li": 0.0, "P": -3.0, "S": -4.5}        # chemical potentials at the Li side, eV
    mu_sse = {"Li": -2.0, "P": -1.0, "S": -0.5}         # at the Li7P3S11 side, eV
    g = driving_forces(mu_metal, mu_sse, width_A=10.0)
    assert g == pytest.approx({"Li": 0.2, "P": -0.2, "S": -0.4})
    f = predict_fluxes(result_factory(np.diag([4.0, 2.0, 3.0])), g)
    J = f.as_dict()
    assert J["Li"] < 0 and J["S"] > 0 and J["P"] > 0
    with pytest.raises(SeilabError, match="width_A"):
        driving_forces(mu_metal, mu_sse, width_A=0.0)


def test_missing_species_in_grad_mu_is_an_error_extra_ones_ignored(result_factory):
    r = result_factory(L3)
    with pytest.raises(SeilabError, match="grad_mu.*S"):
        predict_fluxes(r, {"Li": 0.1, "P": 0.1})
    two = result_factory([[1.0, 0.0], [0.0, 1.0]], species=("Li", "P"), counts=(3, 1))
    f = predict_fluxes(two, {"Li": 0.1, "P": 0.0, "S": 9.0})
    assert f.J == pytest.approx([-0.1, 0.0])


def test_flux_table_rows(result_factory):
    rows = flux_table([result_factory(L3, label="a"), result_factory(L3, T=1200.0, label="b")],
                      {"Li": 0.1, "P": 0.0, "S": -0.1})
    assert len(rows) == 6 and {r["label"] for r in rows} == {"a", "b"}
    assert rows[0]["composition"]["Li"] == pytest.approx(7 / 21)


def test_compare_fluxes_reports_resolved_signs_only_and_no_magnitude_flag(result_factory):
    """Issue 15 item 2: a sign only when |J| > 2 sigma, no 'magnitude agrees within a decade' flag,
    the frame stated (the old comparison printed signs of |J| < sigma and judged magnitudes)."""
    pred = {"Li": -2.0e-4, "P": 1.0e-6, "S": 3.0e-4, "O": 1.0}
    err = {"Li": 0.5e-4, "P": 1.0e-6, "S": 2.0e-4, "O": 0.1}
    meas = {"Li": -1.0e-4, "P": -5.0e-6, "S": 3.0e-6, "Cu": 0.0}
    c = compare_fluxes(pred, meas, predicted_err=err)
    li, p, s = (c["species"][k] for k in ("Li", "P", "S"))
    assert li["sign_predicted"] == "-" and li["sign_agrees"] is True and li["ratio"] == pytest.approx(2.0)
    assert p["sign_predicted"] == "not resolved" and p["sign_agrees"] is None      # |J| = 1 sigma
    assert s["sign_predicted"] == "not resolved" and s["sign_agrees"] is None      # |J| = 1.5 sigma
    assert c["n_compared"] == 3 and c["n_resolved"] == 1 and c["all_resolved_signs_agree"]
    assert c["only_predicted"] == ["O"] and c["only_measured"] == ["Cu"]
    assert not any("magnitude" in k for k in c) and "magnitude_agrees" not in li
    assert c["frame"].startswith("barycentric") and "2 sigma" in c["sign_rule"]
    # a scale factor converts the measured units; a zero measured flux has no ratio
    c2 = compare_fluxes({"Li": -1.0}, {"Li": -1.0e-3}, predicted_err={"Li": 0.1}, measured_scale=1e3)
    assert c2["species"]["Li"]["ratio"] == pytest.approx(1.0) and c2["all_resolved_signs_agree"]
    assert compare_fluxes({"Li": -1.0}, {"Li": 0.0})["species"]["Li"]["ratio"] is None
    # a FluxResult brings its errors and frame; a binary's barycentric signs are said to be forced
    f = predict_fluxes(result_factory([[1.0, -0.2], [-0.2, 0.04]], species=("Li", "S"), counts=(2, 1),
                                      L_err=np.full((2, 2), 1e-3)), {"Li": 0.2, "S": -0.4})
    cb = compare_fluxes(f, f.as_dict())
    assert cb["frame"] == f.frame and any("forces the two fluxes to opposite signs" in n for n in cb["notes"])
    with pytest.raises(SeilabError, match="species 'Li'"):
        compare_fluxes({"Li": "x"}, {"Li": 1.0})


def test_sign_label_needs_two_sigma():
    from seilab.transport.fluxes import sign_label

    assert sign_label(2.1, 1.0) == "+" and sign_label(-2.1, 1.0) == "-"
    assert sign_label(1.9, 1.0) == "not resolved" and sign_label(0.5, float("nan")) == "not resolved"


def test_host_frame_fluxes(random_walkers):
    """J_i' = J_i - (c_i/c_S) J_S: the host's own flux is zero, errors from the same block samples."""
    from seilab.transport.onsager import onsager_coefficients

    pos, sp = random_walkers(seed=3, n_frames=4000, counts=(("Li", 12), ("P", 4), ("S", 8)))
    r = onsager_coefficients(pos, sp, 0.01, 5000.0, 600.0, n_blocks=10, fit_window=(0.01, 0.2))
    f = predict_fluxes(r, {"Li": 0.2, "P": -0.2, "S": -0.4})
    h = f.in_host_frame("S")
    assert h.frame.startswith("host-fixed (S sublattice") and f.frame.startswith("barycentric")
    assert h.J[2] == 0.0 and h.J_err[2] == pytest.approx(0.0, abs=1e-20)
    assert h.J[0] == pytest.approx(f.J[0] - 12 / 8 * f.J[2]) and h.J[1] == pytest.approx(f.J[1] - 4 / 8 * f.J[2])
    Jk = f.J_samples[:, 0] - 1.5 * f.J_samples[:, 2]
    assert h.J_err[0] == pytest.approx(Jk.std(ddof=1) / np.sqrt(10))
    assert h.to_dict()["frame"] == h.frame and set(h.signs().values()) <= {"+", "-", "not resolved"}
    with pytest.raises(SeilabError, match="host"):
        f.in_host_frame("O")


def test_flux_errors_come_from_the_block_samples(random_walkers):
    """Issue 15 item 4: J_k = -L_k grad_mu per block. In a barycentric binary L_LiS = -(m_Li/m_S) L_LiLi in
    every block, so J_Li = -L_LiLi (g_Li - r g_S) exactly and sigma(J_Li) = sigma(L_LiLi) |g_Li - r g_S|.
    Propagating L_err as independent gives sigma(L_LiLi) sqrt(g_Li^2 + r^2 g_S^2): 24 % low here."""
    from ase.data import atomic_masses, atomic_numbers
    from scipy import stats

    from seilab.transport.onsager import onsager_coefficients

    g = {"Li": 0.2, "S": -0.4}
    r_m = atomic_masses[atomic_numbers["Li"]] / atomic_masses[atomic_numbers["S"]]
    pos, sp = random_walkers(seed=3, n_frames=4000)
    r = onsager_coefficients(pos, sp, 0.01, 5000.0, 600.0, n_blocks=10, fit_window=(0.01, 0.2))
    f = predict_fluxes(r, g)
    assert f.J_err_method == "samples" and f.J_samples.shape == (10, 2)
    exact = r.L_err[0, 0] * abs(g["Li"] - r_m * g["S"])
    assert f.J_err[0] == pytest.approx(exact, rel=1e-6)
    independent = np.sqrt(r.L_err[0, 0] ** 2 * g["Li"] ** 2 + r.L_err[0, 1] ** 2 * g["S"] ** 2)
    assert independent / f.J_err[0] == pytest.approx(0.76, abs=0.02)
    assert f.t_factor == pytest.approx(stats.t.ppf(0.975, 9)) and np.allclose(f.J_ci, f.t_factor * f.J_err)
    d = f.to_dict()
    assert d["J_err_method"] == "samples" and len(d["J_ci"]) == 2

    # and against the truth: the spread of J over independent runs
    Js, errs = [], []
    for seed in range(60):
        p, s = random_walkers(seed=100 + seed, n_frames=2000)
        fr = predict_fluxes(onsager_coefficients(p, s, 0.01, 5000.0, 600.0, n_blocks=10, fit_window=(0.01, 0.2)), g)
        Js.append(fr.J[0])
        errs.append(fr.J_err[0])
    assert np.mean(errs) / np.std(Js, ddof=1) == pytest.approx(1.0, abs=0.3)


def test_a_result_without_samples_falls_back_to_independent_errors(result_factory):
    f = predict_fluxes(result_factory(L3, L_err=np.full((3, 3), 0.1)), {"Li": 0.2, "P": -0.1, "S": -0.3})
    assert f.J_err_method == "independent L errors"
    samples = np.array([np.array(L3) + d for d in (-0.1, 0.0, 0.1)])
    f2 = predict_fluxes(result_factory(L3, L_samples=samples), {"Li": 0.2, "P": -0.1, "S": -0.3})
    # every sample shifts all L_ij together: J_k - J = -0.1 k sum(grad_mu)
    assert f2.J_err_method == "samples" and np.allclose(f2.J_err, 0.1 * abs(0.2 - 0.1 - 0.3) / np.sqrt(3))
