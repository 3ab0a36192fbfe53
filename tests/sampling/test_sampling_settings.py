"""SamplingSettings: paper defaults where given, strict validation, one-line config errors."""

import pytest
from pydantic import ValidationError

from seilab.config import load_config
from seilab.errors import SeilabError
from seilab.settings.sampling import SamplingSettings

BASE = """\
name: t
output: out
reactants: {anode: Li_bcc, electrolyte: Li7P3S11}
phases: [{name: Li_bcc}, {name: Li7P3S11}]
"""


def test_defaults_follow_the_brief_and_paper():
    s = SamplingSettings()
    assert s.md.temperatures_K == [300.0, 900.0, 1500.0]
    assert s.interface_gap_A == 1.5 and s.max_atoms == 400 and s.min_distance_A == 1.2
    assert s.interface_max_area_A2 == 400 and s.interface_max_length_tol == 0.05
    assert s.interface_anode_millers == [(1, 0, 0), (1, 1, 0)]
    assert s.interface_electrolyte_millers == [(1, 0, 0), (1, 0, 1), (0, 1, 0)]
    assert s.md.sample_every <= s.md.steps and s.workers == 1
    assert s.interface_md_temperatures_K == [300.0, 900.0] and s.interface_md_stride <= s.interface_md_steps
    assert s.interface_md_max_structures == 2 and s.interface_md_max_atoms == 200


@pytest.mark.parametrize("bad", [
    {"md": {"sample_every": 50, "steps": 20}},
    {"md": {"temperatures_K": []}},
    {"md": {"temperatures_K": [300, 300]}},
    {"md": {"equilibration_steps": 10}},
    {"md": {"thermostat": "nve"}},
    {"md_steps": 10, "md": {"steps": 20}},
    {"amorphous_volume_scales": [0.9, 1.0, 1.1]},
    {"interface_anode_millers": [(0, 0, 0)]},
    {"interface_min_atoms": 500, "max_atoms": 400},
    {"strain_volume_fractions": [0.0]},
    {"min_distance_A": -1},
    {"workers": 0},
    {"interface_md_steps": -1},
    {"interface_md_stride": 30, "interface_md_steps": 20},
    {"interface_md_temperatures_K": [300, 300]},
    {"interface_md_temperatures_K": [0]},
    {"interface_md_max_structures": -1},
    {"interface_md_max_atoms": 1},
    {"no_such_key": 1},
])
def test_invalid_settings_are_rejected(bad):
    with pytest.raises(ValidationError):
        SamplingSettings(**bad)


def test_config_errors_are_one_line_and_name_the_field(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE + "sampling:\n  md:\n    temperatures_K: [300, -5]\n")
    with pytest.raises(SeilabError) as err:
        load_config(cfg)
    msg = str(err.value)
    assert "sampling.md.temperatures_K" in msg and "\n" not in msg
    cfg.write_text(BASE + "sampling:\n  rattle_sigma: 0.1\n")
    with pytest.raises(SeilabError, match=r"sampling\.rattle_sigma: unknown key"):
        load_config(cfg)


def test_demo_section_loads(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE + "sampling:\n  workers: 2\n  target_atoms: 64\n  md: {steps: 20, sample_every: 5}\n"
                          "  interface_electrolyte_millers: [[1, 0, 1]]\n")
    c = load_config(cfg)
    assert c.sampling.workers == 2 and c.sampling.interface_electrolyte_millers == [(1, 0, 1)]


def test_negative_interface_md_steps_is_a_one_line_error_naming_the_field(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE + "sampling:\n  interface_md_steps: -5\n")
    with pytest.raises(SeilabError) as err:
        load_config(cfg)
    msg = str(err.value)
    assert "sampling.interface_md_steps" in msg and "greater than or equal to 1" in msg and "\n" not in msg


def test_empty_interface_md_temperatures_turn_it_off(tmp_path):
    """No temperature: no interface picked, no job, no output listed (the files are not even read)."""
    from seilab.sampling.interface_md import interface_md_jobs, interface_md_outputs, interface_md_starts

    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE + "sampling:\n  interface_md_temperatures_K: []\n")
    s = load_config(cfg).sampling
    assert s.interface_md_temperatures_K == []
    starts = interface_md_starts([tmp_path / "no_such_interfaces.extxyz"], s)
    assert starts == [] and interface_md_jobs(starts, s, tmp_path) == []
    assert interface_md_outputs(starts, s, tmp_path) == []
    fake = [{"name": "x", "start_file": str(tmp_path / "x.extxyz"), "start_index": 0, "phase": "x", "n_atoms": 2}]
    assert interface_md_jobs(fake, s, tmp_path) == []  # even given interfaces
