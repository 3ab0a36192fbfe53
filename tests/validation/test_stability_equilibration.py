"""Stability screening judges the model, not the start state: a hot snapshot is minimised and thermalised
before the judged run, a blow-up on the way still fails, and the EOS says its ions are not relaxed."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.md.velocitydistribution import thermalize_momenta

from seilab.validation.eos import equations_of_state
from seilab.settings.validation import ValidationSettings
from seilab.validation.stability import screen


def _settings(**kw):
    md = {"steps": 100, "sample_every": 10, **kw.pop("stability_md", {})}
    return ValidationSettings(**kw, stability_md=md)


def _hot_copper():
    """A 1500 K-like snapshot: positions 0.15 Å off the lattice and 1500 K velocities already set."""
    cu = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    cu.rattle(0.15, seed=3)
    thermalize_momenta(cu, 1500.0, rng=np.random.default_rng(1))
    return cu


class ScaledForcesEMT(EMT):
    """EMT energies with forces 10⁴ times too large: a model that blows up at once."""

    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        self.results["forces"] = self.results["forces"] * 1e4


class SpringCalculator(Calculator):
    """A zero-length spring between atoms 0 and 1: minimising it puts them on top of each other."""

    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        d = self.atoms.get_distance(0, 1, mic=True, vector=True)
        forces = np.zeros((len(self.atoms), 3))
        forces[0], forces[1] = 10.0 * d, -10.0 * d
        self.results = {"energy": 5.0 * float(d @ d), "forces": forces, "stress": np.zeros(6)}


@pytest.mark.parametrize("ensemble", ["nvt", "npt"])
def test_hot_start_with_a_good_model_passes(ensemble):
    hot = _hot_copper()
    out = screen("cu", hot, EMT(), ensemble, _settings())
    assert all(c["passed"] for c in out["checks"]), out["checks"]
    n = out["numbers"]
    assert 0 < n["minimize_steps_done"] <= 100 and n["minimize_converged"]
    assert n["minimize_fmax_eV_per_A"] <= 0.1 < n["minimize_fmax_start_eV_per_A"]
    assert n["equilibration_steps_done"] == 100 and n["steps_done"] == 100
    assert n["max_temperature_K"] < 3.0 * 300.0
    assert "after" in out["checks"][0]["message"] and "equilibration" in out["checks"][0]["message"]

    # without minimisation and thermalisation the released strain energy heats the 300 K run past 900 K
    raw = screen("cu", hot, EMT(), ensemble, _settings(stability_minimize_steps=0, stability_md={"equilibration_steps": 0}))
    assert not raw["checks"][0]["passed"] and "temperature exploded" in raw["checks"][0]["message"]


def test_a_broken_model_still_fails():
    out = screen("cu", _hot_copper(), ScaledForcesEMT(), "nvt", _settings())
    assert not out["checks"][0]["passed"]
    assert "during equilibration" in out["checks"][0]["message"]
    assert all(not c["passed"] for c in out["checks"])          # failed, not skipped
    assert out["series"]["failed"]


def test_collapse_during_minimisation_fails():
    cu = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    out = screen("cu", cu, SpringCalculator(), "nvt", _settings())
    first = out["checks"][0]
    assert not first["passed"] and "during equilibration" in first["message"] and "collapsed" in first["message"]
    assert all(not c["passed"] for c in out["checks"])
    assert out["numbers"]["equilibration_steps_done"] == 0


def test_eos_says_ions_are_not_relaxed():
    s = ValidationSettings(eos_points=5, eos_volume_min=0.9, eos_volume_max=1.1)
    out = equations_of_state(EMT(), EMT(), {"Cu": bulk("Cu", "fcc", a=3.59)}, s)
    result = out["phases"]["Cu"]
    assert result["ions_relaxed"] is False
    assert result["v0_rel_error"] == pytest.approx(0.0, abs=1e-9)
