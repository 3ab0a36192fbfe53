"""The one MD vocabulary (seilab.settings.md): every stage's MD block, its checks, and the flat keys of
older campaign files (moved with one FutureWarning; old + new together is an error)."""

import pytest
from ase.build import bulk
from pydantic import ValidationError

from seilab.config import load_config
from seilab.errors import SeilabError
from seilab.settings import format_validation_error
from seilab.settings.learning import LearningSettings
from seilab.settings.md import MDProtocol
from seilab.settings.sampling import SamplingSettings
from seilab.settings.transport import TransportSettings
from seilab.settings.validation import ValidationSettings

MINIMAL = """
name: tiny
output: out
reactants: {anode: Li_bcc, electrolyte: Li2S}
phases: [{name: Li_bcc}, {name: Li2S}, {name: S_alpha}]
"""

# (settings class, old flat keys, the same values nested)
OLD_AND_NEW = [
    (SamplingSettings,
     dict(md_temperatures_K=[600], md_timestep_fs=1.5, md_steps=30, md_stride=3, md_thermostat="bussi",
          md_friction_per_fs=0.05, md_tdamp_fs=40.0),
     dict(md=dict(temperatures_K=[600], timestep_fs=1.5, steps=30, sample_every=3, thermostat="bussi",
                  friction_per_fs=0.05, damp_fs=40.0))),
    (ValidationSettings,
     dict(rdf_temperature_K=350, rdf_timestep_fs=0.5, rdf_equilibration_steps=7, rdf_steps=70, rdf_sample_every=7,
          stability_temperature_K=400, stability_timestep_fs=2.0, stability_equilibration_steps=9,
          stability_steps=90, stability_sample_every=9),
     dict(rdf_md=dict(temperature_K=350, timestep_fs=0.5, equilibration_steps=7, steps=70, sample_every=7),
          stability_md=dict(temperature_K=400, timestep_fs=2.0, equilibration_steps=9, steps=90, sample_every=9))),
    (LearningSettings,
     dict(md_timestep_fs=0.5, md_steps=60, md_sample_every=6, md_friction_per_fs=0.03),
     dict(md=dict(timestep_fs=0.5, steps=60, sample_every=6, friction_per_fs=0.03))),
    (TransportSettings,
     dict(temperatures_K=[800], timestep_fs=2.0, n_steps=400, sample_every=4, n_equil_steps=30,
          thermostat="langevin", thermostat_taut_fs=50.0, friction_per_fs=0.02),
     dict(md=dict(temperatures_K=[800], timestep_fs=2.0, steps=400, sample_every=4, equilibration_steps=30,
                  thermostat="langevin", damp_fs=50.0, friction_per_fs=0.02))),
]


@pytest.mark.parametrize("cls, old, new", OLD_AND_NEW, ids=lambda x: getattr(x, "__name__", ""))
def test_old_flat_keys_are_moved_with_one_warning_naming_both(cls, old, new):
    with pytest.warns(FutureWarning) as record:
        moved = cls(**old)
    assert len(record) == (2 if cls is ValidationSettings else 1)  # one per MD block
    text = " ".join(str(w.message) for w in record)
    for group, values in new.items():
        for key in values:
            assert f"{group}.{key}" in text
    assert all(k in text for k in old)
    assert moved == cls(**new)
    assert moved.model_dump() != cls().model_dump()  # the values arrived (none of them is a default)


@pytest.mark.parametrize("cls, old, new", OLD_AND_NEW, ids=lambda x: getattr(x, "__name__", ""))
def test_an_old_key_beside_its_new_one_is_an_error(cls, old, new):
    (group, values), = list(new.items())[:1]
    key = next(iter(values))
    old_key = next(k for k in old if k.endswith(key) or old[k] == values[key])
    with pytest.raises(ValidationError) as err:
        cls(**{old_key: old[old_key], group: {key: values[key]}})
    msg = format_validation_error(err.value, section="x")
    assert f"{old_key} and {group}.{key} both given" in msg and "\n" not in msg


def test_old_keys_in_a_campaign_file_still_load(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(MINIMAL + "sampling: {md_steps: 12, md_stride: 4}\ntransport: {n_steps: 300, sample_every: 5}\n")
    with pytest.warns(FutureWarning, match="md.sample_every"):
        c = load_config(cfg)
    assert (c.sampling.md.steps, c.sampling.md.sample_every) == (12, 4)
    assert (c.transport.md.steps, c.transport.md.sample_every) == (300, 5)


@pytest.mark.parametrize("patch, message", [
    ("sampling: {md: {equilibration_steps: 10}}\n", "sampling.md: equilibration_steps: not used by this stage's MD"),
    ("learning: {md: {damp_fs: 30}}\n", "learning.md: damp_fs: not used by this stage's MD"),
    ("learning: {md: {thermostat: bussi}}\n", "learning.md.thermostat"),
    ("sampling: {md: {steps: 10, sample_every: 20}}\n", "sampling.md: sample_every 20 exceeds steps 10"),
    ("validation: {rdf_md: {thermostat: bussi, damp_fs: 0.5}}\n", "validation.rdf_md: damp_fs 0.5 is shorter"),
    ("transport: {md: {temperatures_K: []}}\n", "transport.md.temperatures_K"),
    ("transport: {md: {steps: 100}, n_steps: 100}\n", "transport: n_steps and md.steps both given"),
])
def test_md_block_errors_are_one_line_naming_the_block(tmp_path, patch, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(MINIMAL + patch)
    with pytest.raises(SeilabError) as err:
        load_config(cfg)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_dump_read_back_is_the_same_settings():
    """model_dump -> model_validate sets every field (unused ones at their defaults): still valid, and equal."""
    for cls in (SamplingSettings, ValidationSettings, LearningSettings, TransportSettings):
        s = cls()
        assert cls.model_validate(s.model_dump()) == s


@pytest.mark.parametrize("thermostat, cls", [("langevin", "Langevin"), ("bussi", "Bussi"),
                                             ("nose_hoover", "NoseHooverChainNVT"), ("nve", "VelocityVerlet")])
def test_nvt_kwargs_build_the_named_integrator(thermostat, cls):
    import numpy as np

    from seilab.dynamics import nvt, thermalize

    md = MDProtocol(thermostat=thermostat, timestep_fs=2.0, damp_fs=80.0, friction_per_fs=0.05)
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    thermalize(atoms, 300.0, np.random.default_rng(0))
    dyn = nvt(atoms, temperature_K=300.0, **md.nvt_kwargs())
    assert type(dyn).__name__ == cls
    assert md.sample_interval_fs == 2.0 * md.sample_every
