"""Validation MD runs its dynamics on the plain model calculator and grades γ on the sampled frames only."""

from __future__ import annotations

import numpy as np

from seilab.validation.md import run_md


def test_gamma_on_sampled_frames_only_gives_the_same_run(tmp_path):
    import os
    import tempfile

    from ase.build import bulk

    from fixtures.simulation import demo_potential
    from seilab.training.backends import get_backend

    root = os.environ.get("SEILAB_TEST_CACHE") or os.path.join(tempfile.gettempdir(), "seilab-test-cache")
    pot = demo_potential(os.path.join(root, "simulation"), functions_per_element=12, per_phase=5, interfaces=2,
                         maxiter=30)
    be = get_backend(pot.backend)
    plain, graded = be.calculator(pot, gamma=False), be.calculator(pot, gamma=True)
    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat((3, 3, 3))
    atoms.rattle(0.05, seed=1)
    kw = dict(ensemble="nvt", temperature_K=300.0, steps=40, sample_every=10, seed=3, min_distance_A=0.6)
    both = run_md(atoms, graded, **kw)             # γ computed at every step (the old way)
    split = run_md(atoms, plain, gamma_calc=graded, **kw)
    assert both.failure is None and split.failure is None
    assert len(split.max_gamma) == len(both.max_gamma) == 4
    assert np.allclose(split.max_gamma, both.max_gamma, rtol=1e-10)
    assert np.allclose(split.energies, both.energies, rtol=0, atol=1e-10)  # the probe does not disturb the run
    assert np.allclose(split.frames[-1].positions, both.frames[-1].positions, atol=1e-10)
    assert min(split.max_gamma) > 0.01
    assert max(run_md(atoms, plain, **kw).max_gamma, default=0.0) == 0.0  # the plain calculator alone has no γ


def test_a_calculator_error_inside_the_dynamics_is_a_failure_and_a_broken_gamma_probe_is_not_hidden():
    import pytest
    from ase.build import bulk
    from ase.calculators.emt import EMT

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)

    class Breaks(EMT):
        calls = 0

        def calculate(self, *args, **kwargs):
            Breaks.calls += 1
            if Breaks.calls > 15:
                raise RuntimeError("neighbour list exploded")
            super().calculate(*args, **kwargs)

    res = run_md(atoms, Breaks(), steps=40, sample_every=10, seed=1, min_distance_A=None)
    assert res.failure.startswith("calculator error after 20 steps: RuntimeError: neighbour list exploded")
    assert res.steps_done == 10

    class NoGamma(EMT):
        def calculate(self, *args, **kwargs):
            raise ValueError("γ probe misconfigured")

    with pytest.raises(ValueError, match="γ probe misconfigured"):  # a bug of the caller, not a model failure
        run_md(atoms, EMT(), steps=20, sample_every=10, seed=1, min_distance_A=None, gamma_calc=NoGamma())
