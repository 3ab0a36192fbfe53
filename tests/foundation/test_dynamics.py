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
