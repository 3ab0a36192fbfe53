"""Loading unwrapped trajectories from extxyz / ASE .traj."""

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from seilab.transport.trajectory import (Trajectory, load_trajectory, looks_wrapped,
                                                  unwrap_positions)
from seilab.errors import SeilabError


def _frames(n=40, seed=0, box=6.0):
    rng = np.random.default_rng(seed)
    pos = np.cumsum(rng.normal(scale=0.4, size=(n, 4, 3)), axis=0) + 3.0
    frames = []
    for k in range(n):
        a = Atoms("Li2PS", positions=pos[k], cell=[box, box, box], pbc=True)
        a.info["time_ps"] = 0.01 * k
        frames.append(a)
    return frames, pos


def test_load_extxyz_keeps_unwrapped_positions(tmp_path):
    frames, pos = _frames()
    write(tmp_path / "t.extxyz", frames, format="extxyz")
    tr = load_trajectory(tmp_path / "t.extxyz")
    assert tr.positions.shape == (40, 4, 3)
    assert np.allclose(tr.positions, pos)
    assert tr.species == ["Li", "Li", "P", "S"]
    assert tr.volume_A3 == pytest.approx(216.0)
    assert tr.timestep_ps == pytest.approx(0.01)
    assert load_trajectory(tmp_path / "t.extxyz", stride=2).n_frames == 20


def test_load_ase_traj(tmp_path):
    frames, pos = _frames()
    write(tmp_path / "t.traj", frames)
    tr = load_trajectory(tmp_path / "t.traj")
    assert np.allclose(tr.positions, pos)


def test_wrapped_file_is_refused_then_unwrapped(tmp_path):
    frames, pos = _frames(n=60)
    for f in frames:
        f.wrap()
    write(tmp_path / "w.extxyz", frames, format="extxyz")
    assert looks_wrapped(np.stack([f.positions for f in frames]), frames[0].cell[:])
    with pytest.raises(SeilabError, match="wrapped"):
        load_trajectory(tmp_path / "w.extxyz")
    tr = load_trajectory(tmp_path / "w.extxyz", unwrap=True)
    # unwrapping recovers the continuous path up to a whole cell shift of the first frame
    assert np.allclose(tr.positions - tr.positions[0], pos - pos[0], atol=1e-6)


def test_unwrap_positions_is_identity_on_unwrapped_paths():
    _, pos = _frames()
    assert np.allclose(unwrap_positions(pos, np.eye(3) * 6.0), pos)


def test_missing_and_bad_files(tmp_path):
    with pytest.raises(SeilabError, match="nope.extxyz: file not found"):
        load_trajectory(tmp_path / "nope.extxyz")
    (tmp_path / "bad.extxyz").write_text("3\nnot a header\nLi 0 0\n")
    with pytest.raises(SeilabError, match="bad.extxyz"):
        load_trajectory(tmp_path / "bad.extxyz")


def test_changing_atoms_between_frames_is_an_error():
    a = Atoms("Li2", positions=[[0, 0, 0], [1, 1, 1]], cell=[5, 5, 5], pbc=True)
    b = Atoms("LiS", positions=[[0, 0, 0], [1, 1, 1]], cell=[5, 5, 5], pbc=True)
    with pytest.raises(SeilabError, match="species change"):
        Trajectory.from_atoms([a, b])
