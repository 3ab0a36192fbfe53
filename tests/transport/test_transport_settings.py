"""TransportSettings: defaults from the paper and validators that reject nonsense."""

import pytest
from pydantic import ValidationError

from seilab.settings.transport import TransportSettings


def test_defaults():
    s = TransportSettings()
    assert s.md.temperatures_K == [900.0, 1200.0] and s.md.timestep_fs == 1.0 and s.target_atoms == 100
    assert s.fit_window is None and s.timestep_ps == pytest.approx(0.01)
    assert set(s.estimator_kwargs()) == {"n_blocks", "fit_window", "slope_tolerance", "max_lag_fraction",
                                         "default_window_fraction", "error_method", "remove_drift",
                                         "confidence"}


@pytest.mark.parametrize("kw, field", [
    (dict(md=dict(temperatures_K=[-900])), "temperatures_K"),
    (dict(md=dict(temperatures_K=[])), "temperatures_K"),
    (dict(md=dict(temperatures_K=[900, 900])), "temperatures_K"),
    (dict(md=dict(timestep_fs=0)), "timestep_fs"),
    (dict(md=dict(timestep_fs=50)), "timestep_fs"),
    (dict(md=dict(steps=0)), "steps"),
    (dict(md=dict(sample_every=0)), "sample_every"),
    (dict(md=dict(steps=10, sample_every=20)), "sample_every"),
    (dict(md=dict(steps=100, sample_every=10), n_blocks=5), "n_blocks"),
    (dict(md=dict(steps=60, sample_every=10), n_blocks=1), "md.steps: md.steps/md.sample_every \\+ 1 gives 7 frames"),
    (dict(md=dict(thermostat="nose_hoover")), "thermostat"),
    (dict(n_steps=100, md=dict(steps=200)), "n_steps and md.steps both given"),
    (dict(fit_window=(5.0, 1.0)), "fit_window"),
    (dict(default_window_fraction=(0.5, 1.5)), "default_window_fraction"),
    (dict(slope_tolerance=2.0), "slope_tolerance"),
    (dict(melt_steps=-1), "melt_steps"),
    (dict(md=dict(friction_per_fs=0)), "friction_per_fs"),
    (dict(error_method="magic"), "error_method"),
    (dict(confidence_level=1.0), "confidence_level"),
    (dict(unknown_knob=1), "unknown_knob"),
])
def test_nonsense_is_rejected(kw, field):
    with pytest.raises(ValidationError, match=field):
        TransportSettings(**kw)
