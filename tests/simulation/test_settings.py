"""SimulationSettings, MDSpec validation and one-line errors for bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml

from seilab.errors import SeilabError
from seilab.md.engine import MDSpec, Potential
from seilab.settings.simulation import SimulationSettings


def _campaign_yaml(tmp_path: Path, simulation: dict) -> Path:
    data = {"name": "t", "output": str(tmp_path / "out"),
            "reactants": {"anode": "Li_bcc", "electrolyte": "Li7P3S11"},
            "phases": [{"name": "Li_bcc"}, {"name": "Li7P3S11"}], "simulation": simulation}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_are_demo_scale_and_paper_dynamics():
    s = SimulationSettings()
    assert s.engine == "lammps" and s.ensemble == "npt"
    assert s.temperature_K == 300 and s.timestep_fs == 1.0 and s.pressure_bar == 1.0
    assert s.n_atoms <= 2000 and s.steps <= 2000  # demo scale
    assert s.gamma_every > 0 and s.gamma_halt > s.gamma_dump_threshold


@pytest.mark.parametrize("field,value,needle", [
    ("ensemble", "npx", "simulation.ensemble"),
    ("timestep_fs", 0, "simulation.timestep_fs"),
    ("timestep_fs", -1.0, "simulation.timestep_fs"),
    ("n_atoms", 5, "simulation.n_atoms"),
    ("engine", "gromacs", "simulation.engine"),
    ("gamma_halt", 1.0, "gamma_halt"),
    ("bogus_key", 1, "simulation.bogus_key"),
])
def test_config_errors_name_the_field(tmp_path, field, value, needle):
    from seilab.config import load_config

    with pytest.raises(SeilabError) as exc:
        load_config(_campaign_yaml(tmp_path, {field: value}))
    msg = str(exc.value)
    assert needle in msg and "\n" not in msg


def test_timestep_above_1fs_warns():
    with pytest.warns(UserWarning, match="1 fs"):
        SimulationSettings(timestep_fs=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SimulationSettings(timestep_fs=1.0)


def _spec(atoms, **kw):
    return MDSpec(structure=atoms, potential=None, elements=("Li", "P", "S"), **kw)


@pytest.mark.parametrize("kw,needle", [
    ({"ensemble": "nvtt"}, "ensemble"),
    ({"timestep_fs": 0.0}, "timestep_fs"),
    ({"timestep_fs": -0.5}, "timestep_fs"),
    ({"steps": 0}, "steps"),
    ({"barostat": "xyz"}, "barostat"),
    ({"gamma_every": 10}, "gamma_every"),   # no potential with an active set
])
def test_spec_validation(small_interface, kw, needle):
    with pytest.raises(SeilabError) as exc:
        _spec(small_interface, **kw).validate()
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_spec_rejects_elements_missing_from_structure(small_interface):
    with pytest.raises(SeilabError, match="elements"):
        MDSpec(structure=small_interface, potential=None, elements=("Li", "S")).validate()


def test_missing_files_are_named(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SeilabError, match="nope.yaml"):
        Potential.from_any(missing)
    with pytest.raises(SeilabError, match="structure"):
        MDSpec(structure=tmp_path / "none.data", potential=None, elements=("Li",)).validate()
    bad = tmp_path / "pot.txt"
    bad.write_text("x")
    with pytest.raises(SeilabError, match=r"\.yaml or a LAMMPS \.yace"):
        Potential.from_any(bad)


def test_potential_siblings_are_found(demo_pot):
    pf = Potential.from_any(demo_pot.yaml)
    assert pf.yace is not None and pf.asi is not None
    pf2 = Potential.from_any(str(demo_pot.yace))
    assert pf2.yaml == pf.yaml


def test_fingerprint_ignores_steps_but_not_dynamics(small_interface):
    a = _spec(small_interface, steps=10)
    assert a.fingerprint() == _spec(small_interface, steps=99, mpi_ranks=4).fingerprint()
    assert a.fingerprint() != _spec(small_interface, steps=10, temperature_K=301).fingerprint()
    moved = small_interface.copy()
    moved.positions[0] += 0.01
    assert a.fingerprint() != _spec(moved, steps=10).fingerprint()
