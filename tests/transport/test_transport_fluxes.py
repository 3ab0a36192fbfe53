"""Fluxes J = -L grad_mu (eq. 2), sign convention, and the predicted-vs-measured comparison."""

import numpy as np
import pytest

from seilab.analysis.transport.fluxes import (J_TO_SI, compare_fluxes, driving_forces, flux_table,
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


def test_compare_fluxes_sign_and_magnitude(result_factory):
    pred = {"Li": -2.0e-4, "P": 1.0e-6, "S": 3.0e-4, "O": 1.0}
    meas = {"Li": -1.0e-4, "P": -5.0e-6, "S": 3.0e-6, "Cu": 0.0}
    c = compare_fluxes(pred, meas)
    li, p, s = (c["species"][k] for k in ("Li", "P", "S"))
    assert li["sign_agrees"] and li["magnitude_agrees"] and li["ratio"] == pytest.approx(2.0)
    assert not p["sign_agrees"] and p["magnitude_agrees"]
    assert s["sign_agrees"] and not s["magnitude_agrees"] and s["log10_ratio"] == pytest.approx(2.0)
    assert c["n_compared"] == 3 and c["n_sign_agree"] == 2 and c["n_magnitude_agree"] == 2
    assert not c["all_signs_agree"] and c["only_predicted"] == ["O"] and c["only_measured"] == ["Cu"]
    # a scale factor converts the measured units; a zero measured flux has no ratio
    c2 = compare_fluxes({"Li": -1.0}, {"Li": -1.0e-3}, measured_scale=1e3)
    assert c2["species"]["Li"]["ratio"] == pytest.approx(1.0) and c2["all_signs_agree"]
    c3 = compare_fluxes({"Li": -1.0}, {"Li": 0.0})
    assert c3["species"]["Li"]["ratio"] is None and not c3["species"]["Li"]["magnitude_agrees"]
    # a FluxResult is accepted directly
    f = predict_fluxes(result_factory(L3), {"Li": 0.1, "P": 0.0, "S": -0.1})
    assert compare_fluxes(f, f.as_dict())["all_magnitudes_agree"]
    with pytest.raises(SeilabError, match="species 'Li'"):
        compare_fluxes({"Li": "x"}, {"Li": 1.0})


def test_flux_errors_come_from_the_block_samples(random_walkers):
    """Issue 15 item 4: J_k = -L_k grad_mu per block. In a barycentric binary L_LiS = -(m_Li/m_S) L_LiLi in
    every block, so J_Li = -L_LiLi (g_Li - r g_S) exactly and sigma(J_Li) = sigma(L_LiLi) |g_Li - r g_S|.
    Propagating L_err as independent gives sigma(L_LiLi) sqrt(g_Li^2 + r^2 g_S^2): 24 % low here."""
    from ase.data import atomic_masses, atomic_numbers
    from scipy import stats

    from seilab.analysis.transport.onsager import onsager_coefficients

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
