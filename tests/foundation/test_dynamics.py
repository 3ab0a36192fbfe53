"""The shared MD pieces (seilab.dynamics): velocities, thermostats by name, appended checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from seilab.dynamics import NVT_KINDS, append_frames, count_complete_frames, nvt, read_frames, thermalize
from seilab.errors import SeilabError


def _cu():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.calc = EMT()
    return atoms


def test_thermalize_gives_zero_momentum_and_the_temperature():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(4)
    thermalize(atoms, 600.0, np.random.default_rng(0))
    assert np.allclose(atoms.get_momenta().sum(axis=0), 0.0, atol=1e-10)
    assert 450 < atoms.get_temperature() < 750  # 256 atoms: within a few sigma of 600 K


@pytest.mark.parametrize("kind, cls", [("langevin", "Langevin"), ("bussi", "Bussi"),
                                       ("nose_hoover", "NoseHooverChainNVT"), ("nve", "VelocityVerlet")])
def test_thermostats_by_name(kind, cls):
    atoms = _cu()
    thermalize(atoms, 300.0, np.random.default_rng(1))
    dyn = nvt(atoms, kind, temperature_K=300.0, timestep_fs=2.0, rng=np.random.default_rng(2), friction_per_fs=0.01,
              taut_fs=100.0, fix_com=True)
    assert type(dyn).__name__ == cls
    dyn.run(5)
    assert np.allclose(atoms.get_momenta().sum(axis=0), 0.0, atol=1e-8)  # FixCom holds for every kind


def test_bad_thermostat_and_missing_coupling_are_one_line_errors():
    with pytest.raises(SeilabError, match="not one of"):
        nvt(_cu(), "berendsen", temperature_K=300, timestep_fs=1)
    with pytest.raises(SeilabError, match="friction_per_fs"):
        nvt(_cu(), "langevin", temperature_K=300, timestep_fs=1)
    with pytest.raises(SeilabError, match="taut_fs"):
        nvt(_cu(), "bussi", temperature_K=300, timestep_fs=1)
    assert set(NVT_KINDS) == {"langevin", "bussi", "nose_hoover", "nve"}


def test_an_appended_checkpoint_survives_a_partial_last_frame(tmp_path):
    path = tmp_path / "ckpt.extxyz"
    frames = []
    for k in range(3):
        a = _cu()
        a.rattle(0.01 * (k + 1), seed=k)
        a.info["md_step"] = k
        frames.append(a)
        append_frames(path, [a])
    assert count_complete_frames(path) == 3
    size = path.stat().st_size
    with open(path, "a") as fh:  # a kill while the fourth frame was being written
        fh.write("32\nProperties=species:S:1:pos:R:3 pbc=\"T T T\"\nCu 0 0 0\nCu 1 1")
    got = read_frames(path)
    assert [int(f.info["md_step"]) for f in got] == [0, 1, 2]
    np.testing.assert_allclose(got[-1].positions, frames[-1].positions, atol=1e-6)
    assert path.stat().st_size == size  # the partial frame was cut off
    append_frames(path, [frames[0]])
    assert count_complete_frames(path, truncate=False) == 4
    assert read_frames(tmp_path / "absent.extxyz") == []


# ------------------------------------------------------------------------------------------ the MD loop
def _langevin(seed=3):
    atoms = _cu()
    thermalize(atoms, 300.0, np.random.default_rng(seed))
    return atoms, nvt(atoms, "langevin", temperature_K=300.0, timestep_fs=2.0, rng=np.random.default_rng(seed),
                      friction_per_fs=0.01)


def test_the_loop_in_chunks_is_the_same_trajectory_as_one_run():
    from seilab.dynamics import Observer, run_dynamics

    a, dyn = _langevin()
    dyn.run(17)
    b, dyn_b = _langevin()
    seen = []
    run_dynamics(dyn_b, 17, [Observer(seen.append, 5), Observer(lambda s: None, 3)])
    assert seen == [5, 10, 15]
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.get_momenta(), b.get_momenta())


def test_observers_run_on_absolute_steps_with_at_start_and_at_end():
    from seilab.dynamics import Observer, run_dynamics

    _, dyn = _langevin()
    calls = []
    loop = run_dynamics(dyn, 13, [Observer(lambda s: calls.append(("every3", s)), 3),
                                  Observer(lambda s: calls.append(("end", s)), 0, at_end=True)],
                        start=6, at_start=True)
    assert calls == [("every3", 6), ("every3", 9), ("every3", 12), ("end", 13)]
    assert (loop.start, loop.step, loop.steps_run, loop.stopped) == (6, 13, 7, None)
    assert dyn.nsteps == 7


def test_stopmd_ends_the_run_after_that_steps_remaining_and_at_end_observers():
    from seilab.dynamics import Observer, StopMD, run_dynamics

    _, dyn = _langevin()
    calls = []

    def halt(step):
        calls.append(("halt?", step))
        if step == 4:
            raise StopMD("too hot")

    loop = run_dynamics(dyn, 50, [Observer(halt, 2), Observer(lambda s: calls.append(("frame", s)), 4),
                                  Observer(lambda s: calls.append(("restart", s)), 10, at_end=True)])
    assert loop.stopped == "too hot" and loop.step == 4 and dyn.nsteps == 4
    assert calls == [("halt?", 2), ("halt?", 4), ("frame", 4), ("restart", 4)]


def test_an_integrator_error_propagates_with_the_step_it_happened_by():
    from seilab.dynamics import MDLoop, Observer, run_dynamics

    atoms, dyn = _langevin()

    class Boom(EMT):
        calls = 0

        def calculate(self, *args, **kwargs):
            Boom.calls += 1
            if Boom.calls > 8:
                raise RuntimeError("neighbour list exploded")
            super().calculate(*args, **kwargs)

    atoms.calc = Boom()
    loop = MDLoop()
    with pytest.raises(RuntimeError, match="exploded"):
        run_dynamics(dyn, 30, [Observer(lambda s: None, 5)], loop=loop)
    assert loop.step == 5 and loop.target == 10


def test_there_is_one_md_loop():
    """Every stage advances ASE dynamics through seilab.dynamics.run_dynamics: no other module of the
    package calls an integrator's run() (minimisers are not MD)."""
    import re
    from pathlib import Path

    import seilab

    root = Path(seilab.__file__).parent
    pattern = re.compile(r"\b(dyn\w*|md\w*|integrator\w*)\.(run|irun)\(")
    offenders = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py") if p.name != "dynamics.py"
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []
    assert pattern.search("        dyn.run(n)")  # the pattern sees the loop it guards
