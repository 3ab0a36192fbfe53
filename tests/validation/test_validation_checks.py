"""The validation building blocks on synthetic inputs with known answers: fast, no fit, no reference."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.lj import LennardJones

from seilab.validation.dimers import evaluate_pair, spurious_drop
from seilab.validation.eos import EV_PER_A3_TO_GPA, birch_murnaghan, fit_birch_murnaghan
from seilab.validation.rdf import compare, rdf, similarity, supercell
from seilab.validation.report import ReferenceCache, check, failed_checks, mark_advisory, summarize
from seilab.settings.validation import ValidationSettings
from seilab.validation.stability import composition_spread, largest_empty_sphere, screen


def test_settings_defaults_and_validation():
    s = ValidationSettings()
    assert s.dimer_r_min_A == 0.8 and s.dimer_r_max_A == 6.0
    assert s.eos_volume_min == 0.75 and s.eos_volume_max == 1.25
    assert s.rdf_md.temperature_K == 300.0
    assert set(s.checks) == {"metrics", "formation", "dimers", "eos", "rdf", "stability"}
    # the gate's defaults are the fidelity targets of a potential that may drive the production run
    assert (s.max_test_energy_rmse_meV_per_atom, s.max_test_energy_rmse_crystalline_meV_per_atom,
            s.max_test_force_rmse_meV_per_A) == (25.0, 10.0, 150.0)
    assert (s.max_formation_energy_error_meV_per_atom, s.max_eos_v0_rel_error, s.max_eos_b0_rel_error) == (15.0, 0.03, 0.25)
    with pytest.raises(Exception):
        ValidationSettings(dimer_r_min_A=7.0)
    with pytest.raises(Exception):
        ValidationSettings(checks=["nonsense"])
    with pytest.raises(Exception):
        ValidationSettings(dimer_box_A=10.0)  # must exceed 2 x r_max


def test_birch_murnaghan_fit_recovers_parameters():
    v = np.linspace(15, 25, 11)
    b0 = 40.0 / EV_PER_A3_TO_GPA
    e = birch_murnaghan(v, -3.0, 19.5, b0, 4.5)
    fit = fit_birch_murnaghan(v, e)
    assert "error" not in fit
    assert fit["V0_A3"] == pytest.approx(19.5, rel=1e-6)
    assert fit["B0_GPa"] == pytest.approx(40.0, rel=1e-5)
    assert fit["B0p"] == pytest.approx(4.5, rel=1e-4)


def test_birch_murnaghan_fit_reports_broken_scans():
    v = np.linspace(15, 25, 11)
    assert "error" in fit_birch_murnaghan(v, -0.1 * (v - 20) ** 2)      # concave: no minimum
    assert "error" in fit_birch_murnaghan(v, np.full_like(v, np.nan))
    assert "error" in fit_birch_murnaghan(v, 0.01 * (v - 40) ** 2)      # minimum far outside the scan


def test_rdf_of_a_crystal_and_similarity():
    cu = bulk("Cu", "fcc", a=3.6, cubic=True)
    g = rdf([cu], r_max=5.0, bin_A=0.02, smearing_A=0.05)
    r_peak = g["r"][np.argmax(g["total"])]
    assert r_peak == pytest.approx(3.6 / np.sqrt(2), abs=0.03)
    assert list(g["partials"]) == ["Cu-Cu"]
    assert similarity(g["total"], g["total"]) == pytest.approx(1.0)
    shifted = rdf([bulk("Cu", "fcc", a=3.9, cubic=True)], r_max=5.0, bin_A=0.02, smearing_A=0.05)
    s = compare(shifted, g)
    assert s["total"] < 0.5
    assert similarity(np.zeros(5), np.ones(5)) == pytest.approx(0.0)
    assert similarity([np.nan], [1.0]) == 0.0


def test_partial_rdf_normalisation_for_two_species():
    nacl = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    g = rdf([nacl], r_max=6.0, bin_A=0.05, smearing_A=0.0)
    assert set(g["partials"]) == {"Cl-Cl", "Cl-Na", "Na-Na"}
    r = g["r"]
    first = r[np.argmax(g["partials"]["Cl-Na"])]
    assert first == pytest.approx(2.82, abs=0.05)
    # coordination number from the partial: 6 Cl around each Na
    rho_cl = 4 / nacl.get_volume()
    dr = r[1] - r[0]
    mask = r < 3.2
    cn = np.sum(4 * np.pi * r[mask] ** 2 * g["partials"]["Cl-Na"][mask] * rho_cl * dr)
    assert cn == pytest.approx(6.0, rel=0.05)


def test_supercell_reaches_min_atoms():
    a = bulk("Li", "bcc", a=3.44)
    assert len(supercell(a, 32)) >= 32


def test_largest_empty_sphere_and_voids():
    sc = Atoms("Li", positions=[[0, 0, 0]], cell=[3.0] * 3, pbc=True).repeat((4, 4, 4))
    r = largest_empty_sphere(sc, grid_A=0.25)
    assert r == pytest.approx(3.0 * np.sqrt(3) / 2, abs=0.15)
    holed = sc.copy()
    centre = np.array([6.0, 6.0, 6.0])
    del holed[[i for i, p in enumerate(holed.positions) if np.linalg.norm(p - centre) < 3.5]]
    assert largest_empty_sphere(holed, grid_A=0.25) > r + 1.0


def test_composition_spread_detects_separation():
    rng = np.random.default_rng(0)
    n = 256
    L = 20.0
    pos = rng.random((n, 3)) * L
    mixed = Atoms(["Li", "S"] * (n // 2), positions=pos, cell=[L] * 3, pbc=True)
    separated = mixed.copy()
    separated.set_chemical_symbols(["Li" if p[0] < L / 2 else "S" for p in pos])
    s_mixed = max(composition_spread(mixed, 5.0).values())
    s_sep = max(composition_spread(separated, 5.0).values())
    assert s_sep > 0.4 > s_mixed
    # the same fractional bins when the cell changes (NpT), and no verdict for cells below two bins
    squeezed = separated.copy()
    squeezed.set_cell(separated.cell * 0.7, scale_atoms=True)
    assert composition_spread(squeezed, nbins=[4, 4, 4]) == composition_spread(separated, 5.0)
    assert composition_spread(separated[:20], 25.0) is None


class NaNCalculator(Calculator):
    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        n = len(self.atoms)
        self.results = {"energy": float("nan"), "forces": np.full((n, 3), np.nan), "stress": np.zeros(6)}


class KickCalculator(Calculator):
    """Random 5 eV/Å forces: pumps energy in, the temperature explodes."""

    implemented_properties = ["energy", "forces", "stress"]
    rng = np.random.default_rng(0)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        n = len(self.atoms)
        self.results = {"energy": 0.0, "forces": self.rng.normal(0, 5.0, (n, 3)), "stress": np.zeros(6)}


def _screen_settings(**kw):
    base = dict(void_grid_A=0.5, max_temperature_factor=3.0)
    base.update(kw)
    base["stability_md"] = {"steps": 40, "sample_every": 10, **kw.get("stability_md", {})}
    return ValidationSettings(**base)


def test_screen_flags_nan_and_explosions():
    ar = bulk("Ar", "fcc", a=5.26, cubic=True).repeat((2, 2, 2))
    out = screen("argon", ar, NaNCalculator(), "nvt", _screen_settings())
    assert not out["checks"][0]["passed"] and "non-finite" in out["checks"][0]["message"]
    assert all(not c["passed"] for c in out["checks"])
    hot = screen("lithium", bulk("Li", "bcc", a=3.44, cubic=True).repeat((2, 2, 2)), KickCalculator(), "nvt",
                 _screen_settings())
    assert not hot["checks"][0]["passed"] and "exploded" in hot["checks"][0]["message"]


def test_screen_passes_a_stable_solid():
    ar = bulk("Ar", "fcc", a=5.26, cubic=True).repeat((2, 2, 2))
    calc = LennardJones(sigma=3.4, epsilon=0.0104, rc=8.0, smooth=True)
    for ens in ("nvt", "npt"):
        out = screen("argon", ar, calc, ens, _screen_settings(stability_md={"temperature_K": 40.0},
                                                               stability_bulk_modulus_GPa=3.0))
        assert all(c["passed"] for c in out["checks"]), out["checks"]
        assert out["numbers"]["void_radius_end_A"] < 3.0


def test_dimer_checks_catch_holes():
    r = np.linspace(0.8, 6.0, 27)
    ref = 5 * np.exp(-2 * (r - 2.0)) - 10 * np.exp(-(r - 2.0))     # Morse, minimum at 2.0 Å
    ref = ref - ref[-1]
    assert spurious_drop(r, ref, 2.0) == pytest.approx(0.0)
    hole = ref.copy()
    hole[r < 1.3] = -20.0                                         # collapses at short range
    assert spurious_drop(r, hole, 2.0) > 10
    s = ValidationSettings()
    numbers, (rmse, e_short, drop) = evaluate_pair(r, ref, ref, s)
    assert rmse == pytest.approx(0.0) and e_short > s.min_dimer_repulsion_eV and drop == 0
    numbers, (rmse, e_short, drop) = evaluate_pair(r, hole, ref, s)
    assert e_short < 0 and drop > s.dimer_max_spurious_well_eV


def test_check_records_and_summary():
    assert check("a", "g", 1.0, 2.0)["passed"]
    assert not check("a", "g", 3.0, 2.0)["passed"]
    assert check("a", "g", 3.0, 2.0, ">=")["passed"]
    assert not check("a", "g", float("nan"), 2.0)["passed"]
    assert not check("a", "g", None, 2.0)["passed"]
    assert summarize([], [])["passed"] is False            # nothing checked is not a pass
    s = summarize([check("a", "x", 1, 2), check("b", "y", 3, 2)], [{"what": "rdf", "reason": "none"}])
    assert s["passed"] is False and s["groups"]["y"]["failed"] == 1 and s["skipped"] == ["rdf"]


def test_advisory_checks_are_reported_but_do_not_gate():
    checks = [check("dimer_rmse:P-P", "dimers", 2.6, 1.0), check("dimer_repulsive:P-P", "dimers", 5.0, 1.0, ">="),
              check("eos_v0:Li2S", "eos", 0.01, 0.03)]
    mark_advisory(checks, ValidationSettings().advisory_checks)      # the default: dimer_rmse only
    s = summarize(checks, [])
    assert s["passed"] is True and s["failed"] == [] and s["advisory_failed"] == ["dimer_rmse:P-P"]
    assert s["n_checks"] == 3 and s["n_gating"] == 2
    mark_advisory(checks, [])                                         # gate on everything
    assert summarize(checks, [])["passed"] is False and failed_checks(checks) == ["dimer_rmse:P-P"]
    checks[1]["passed"] = False                                       # a broken wall always gates
    mark_advisory(checks, ["dimer_rmse"])
    assert failed_checks(checks) == ["dimer_repulsive:P-P"]
    mark_advisory(checks, ["dimer_rmse", "dimer_repulsive", "eos_v0"])
    assert summarize(checks, [])["passed"] is False                   # nothing gating is not a pass
    with pytest.raises(ValueError, match="advisory_checks: unknown check dimer_rsme"):
        ValidationSettings(advisory_checks=["dimer_rsme"])


def test_reference_cache_round_trip(tmp_path):
    c = ReferenceCache(tmp_path, {"name": "chgnet"})
    assert c.get({"k": 1}) is None
    c.put({"k": 1}, {"a": np.array([1.0, np.nan]), "b": [1, 2]})
    got = c.get({"k": 1})
    assert got["b"] == [1, 2] and got["a"][0] == 1.0 and np.isnan(got["a"][1])
    assert ReferenceCache(tmp_path, {"name": "other"}).get({"k": 1}) is None


def test_discover_structures_from_stage_outputs(tmp_path):
    from seilab import provenance
    from fixtures.training import bundled_atoms, demo_campaign, stacked_interface
    from seilab.validation.stage import discover_structures

    c = demo_campaign(tmp_path)
    li2s = bundled_atoms("Li2S")
    provenance.write_extxyz(c.stage_dir("chemistry") / "phases" / "Li2S.extxyz", [li2s], provenance.record("t"))
    itf = stacked_interface()
    provenance.write_extxyz(c.stage_dir("sampling") / "x" / "slab.extxyz", [itf, itf], provenance.record("t"))
    broken = c.stage_dir("sampling") / "x" / "amorphous_bad.extxyz"
    broken.write_text("not xyz")   # no valid sidecar: ignored
    packing = c.stage_dir("sampling") / "amorphous" / "work" / "Li2S.packed.extxyz"
    provenance.write_extxyz(packing, [li2s], provenance.record("t"))  # an intermediate file: ignored
    found, notes = discover_structures(c)
    assert list(found["crystalline"]) == ["Li2S"] and len(found["crystalline"]["Li2S"]) == len(li2s)
    assert list(found["interface"]) == ["Li_bcc|Li2S"] and found["amorphous"] == {}
    missing = {n["what"] for n in notes if n["reason"] != "source"}
    assert {"crystalline:Li_bcc", "crystalline:Li3P", "crystalline:Li7P3S11"} <= missing
