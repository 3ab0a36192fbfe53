"""The chemistry gate: model formation energies, hull and tie-line products against the reference's, with
the chemistry stage's own pymatgen pipeline. Known answers: a model that differs from the reference only by
per-element energy offsets has the reference's chemistry exactly; one with a softer Li–S bond does not."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.lj import LennardJones

from seilab.chemistry.reaction import hull_table, interface_kinks, make_entries, phase_diagram
from seilab.validation.formation import formation_group, plot_formation
from seilab.settings.validation import ValidationSettings


class Offset(Calculator):
    """A real calculator plus a constant energy per atom of each element (what reference energies do)."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, inner, per_element):
        super().__init__()
        self.inner, self.per_element = inner, per_element

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = atoms.copy()
        a.calc = self.inner
        self.results = {"energy": a.get_potential_energy() + sum(self.per_element[s] for s in a.get_chemical_symbols()),
                        "forces": a.get_forces()}


def _phases():
    return {"Li": bulk("Li", "bcc", a=3.45, cubic=True), "S": bulk("S", "fcc", a=5.2, cubic=True),
            "Li2S": bulk("SLi2", "fluorite", a=5.70, cubic=True), "LiS": bulk("LiS", "rocksalt", a=5.0)}


def _reference(calc):
    energies = {}
    for n, a in _phases().items():
        a = a.copy()
        a.calc = calc
        energies[n] = (a.get_chemical_formula(), a.get_potential_energy())
    pd = phase_diagram(make_entries(energies))
    return {"hull": hull_table(pd), "kinks": interface_kinks(pd, "Li", "S")}


def test_offsets_leave_the_chemistry_unchanged_and_a_different_model_fails(tmp_path):
    ref_calc = LennardJones(sigma=2.4, epsilon=0.3, rc=6.0, smooth=True)
    reference = _reference(ref_calc)
    s = ValidationSettings()
    checks, res = formation_group(Offset(ref_calc, {"Li": -1.9, "S": -4.1}), _phases(), reference, "Li", "S", s)
    assert checks and all(c["passed"] for c in checks)
    assert max(abs(r["error_meV_per_atom"]) for r in res["phases"].values()) < 1e-6
    assert {c["name"] for c in checks} >= {"formation_energy:Li2S", "hull_stable_set", "tie_line_products"}

    other = LennardJones(sigma=2.4, epsilon=0.25, rc=6.0, smooth=True)   # 17 % weaker bonds
    checks, res = formation_group(other, _phases(), reference, "Li", "S", s)
    failed = {c["name"] for c in checks if not c["passed"]}
    assert "formation_energy:Li2S" in failed
    err = res["phases"]["Li2S"]["error_meV_per_atom"]
    assert abs(err) > s.max_formation_energy_error_meV_per_atom and np.isfinite(err)
    plot_formation(res, tmp_path / "formation.png")
    assert (tmp_path / "formation.png").stat().st_size > 1000


def test_a_model_that_cannot_evaluate_a_phase_fails_it():
    class Broken(LennardJones):
        def calculate(self, atoms=None, *a, **k):
            if "S" in atoms.get_chemical_symbols() and "Li" not in atoms.get_chemical_symbols():
                raise RuntimeError("no S parameters")
            super().calculate(atoms, *a, **k)

    reference = _reference(LennardJones(sigma=2.4, epsilon=0.3, rc=6.0, smooth=True))
    checks, res = formation_group(Broken(sigma=2.4, epsilon=0.3, rc=6.0), _phases(), reference, "Li", "S",
                                  ValidationSettings())
    assert [c["name"] for c in checks] == ["formation_energy:S"] and not checks[0]["passed"]
    assert "no S parameters" in checks[0]["message"] and "error" in res


class Shift(Calculator):
    """The reference, with the energy of one phase (by formula) raised by ``delta`` eV per atom."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, inner, formula, delta):
        super().__init__()
        self.inner, self.formula, self.delta = inner, formula, delta

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = atoms.copy()
        a.calc = self.inner
        shift = self.delta * len(a) if a.get_chemical_formula(mode="reduce") == self.formula else 0.0
        self.results = {"energy": a.get_potential_energy() + shift, "forces": a.get_forces()}


def test_the_hull_check_names_the_reference_stability_margin_of_a_lost_phase():
    ref_calc = LennardJones(sigma=2.4, epsilon=0.3, rc=6.0, smooth=True)
    reference = _reference(ref_calc)
    stable = [r["phase"] for r in reference["hull"] if r["stable"] and r["phase"] not in ("Li", "S")]
    assert stable, "the LJ reference needs a stable compound for this test"
    name = stable[0]
    formula = _phases()[name].get_chemical_formula(mode="reduce")
    s = ValidationSettings()
    _, res = formation_group(ref_calc, _phases(), reference, "Li", "S", s)
    margin = res["phases"][name]["reference_hull_margin_meV_per_atom"]
    assert margin > 0
    assert res["phases"][name]["model_hull_margin_meV_per_atom"] == pytest.approx(margin)  # model = reference
    # raised by half its margin the phase stays on the hull, its model margin halved; by 1.5 x it leaves it
    checks, res = formation_group(Shift(ref_calc, formula, 0.5e-3 * margin), _phases(), reference, "Li", "S", s)
    assert next(c for c in checks if c["name"] == "hull_stable_set")["passed"]
    assert res["phases"][name]["model_hull_margin_meV_per_atom"] == pytest.approx(0.5 * margin, rel=1e-3)
    checks, _ = formation_group(Shift(ref_calc, formula, 1.5e-3 * margin), _phases(), reference, "Li", "S", s)
    hull = next(c for c in checks if c["name"] == "hull_stable_set")
    assert not hull["passed"]
    assert f"{name}: on the reference hull by {margin:.1f} meV/atom" in hull["message"]
