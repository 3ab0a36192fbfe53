"""Reader round trips (LAMMPS dump, extxyz), unwrapping across periodic boundaries, bad input."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

from seilab.analysis.trajectory import Frame, TrajectoryReader, iter_frames, write_lammps_dump
from seilab.errors import SeilabError

TYPE_MAP = ["Li", "P", "S"]


def _walk(n_frames=6, n_atoms=40, cell=None, seed=1, step=3.0, shuffle=True):
    """Random walk whose steps (< half a cell) cross periodic boundaries many times.

    Returns (frames with unwrapped truth and *shuffled* atom order, true unwrapped positions sorted by id).
    """
    rng = np.random.default_rng(seed)
    cell = np.array([[9.0, 0, 0], [2.0, 10.0, 0], [-1.5, 1.0, 11.0]]) if cell is None else cell
    origin = np.array([-1.0, 0.5, 2.0])
    ids = np.arange(1, n_atoms + 1)
    sym = np.array(TYPE_MAP, dtype="U8")[rng.integers(0, 3, n_atoms)]
    r = origin + rng.random((n_atoms, 3)) @ cell
    truth, frames = [], []
    for k in range(n_frames):
        if k:
            r = r + rng.uniform(-step, step, r.shape)
        truth.append(r.copy())
        order = rng.permutation(n_atoms) if shuffle else np.arange(n_atoms)
        frames.append(
            Frame(
                index=k,
                time_ps=0.0,
                cell=cell,
                origin=origin,
                pbc=np.array([True] * 3),
                ids=ids[order],
                symbols=sym[order],
                positions=r[order].copy(),
                unwrapped=r[order].copy(),
                step=100 * k,
            )
        )
    return frames, truth, sym


@pytest.mark.parametrize(
    "columns",
    [
        ("id", "type", "x", "y", "z", "ix", "iy", "iz"),
        ("id", "element", "xu", "yu", "zu"),
        ("id", "type", "xs", "ys", "zs", "ix", "iy", "iz"),
        ("id", "type", "x", "y", "z"),  # no image flags: minimum-image unwrapping
    ],
)
def test_dump_round_trip_triclinic_unwraps(tmp_path, columns):
    frames, truth, sym = _walk()
    path = write_lammps_dump(tmp_path / "traj.lammpstrj", frames, type_map=TYPE_MAP, columns=columns)
    assert "xy xz yz" in path.read_text().splitlines()[4]
    rd = TrajectoryReader(path, type_map=None if "element" in columns else TYPE_MAP, timestep_fs=2.0)
    it = iter(rd)
    assert inspect.isgenerator(it)
    got = list(it)
    assert len(got) == len(truth)
    for k, fr in enumerate(got):
        assert np.array_equal(fr.ids, np.arange(1, 41))
        assert list(fr.symbols) == list(sym)
        np.testing.assert_allclose(fr.cell, frames[0].cell, atol=1e-9)
        np.testing.assert_allclose(fr.unwrapped, truth[k], atol=2e-5)
        # wrapped positions lie in the cell
        s = fr.scaled()
        assert s.min() >= 0 and s.max() < 1
        assert fr.time_ps == pytest.approx(100 * k * 2.0e-3)
    # displacements are the true ones although atoms crossed boundaries
    disp = got[-1].unwrapped - got[0].unwrapped
    assert np.abs(disp).max() > 5.0
    np.testing.assert_allclose(disp, truth[-1] - truth[0], atol=5e-5)
    expected = "columns" if "xu" in columns else "image-flags" if "ix" in columns else "minimum-image"
    assert rd.unwrap_method == expected


def test_minimum_image_unwrapping_survives_stride(tmp_path):
    frames, truth, _ = _walk(n_frames=7)
    path = write_lammps_dump(tmp_path / "d.dump", frames, type_map=TYPE_MAP, columns=("id", "type", "x", "y", "z"))
    got = list(iter_frames(path, type_map=TYPE_MAP, stride=3))
    assert [f.index for f in got] == [0, 3, 6]
    for fr in got:
        np.testing.assert_allclose(fr.unwrapped, truth[fr.index], atol=2e-5)


def test_orthorhombic_dump_and_start_stop(tmp_path):
    cell = np.diag([10.0, 11.0, 12.0])
    frames, truth, _ = _walk(cell=cell, n_frames=5)
    path = write_lammps_dump(tmp_path / "o.lammpstrj", frames, type_map=TYPE_MAP)
    assert path.read_text().splitlines()[4] == "ITEM: BOX BOUNDS pp pp pp"
    got = list(iter_frames(path, type_map=TYPE_MAP, start=1, stop=4))
    assert [f.index for f in got] == [1, 2, 3]
    assert got[0].is_orthorhombic
    np.testing.assert_allclose(got[-1].unwrapped, truth[3], atol=2e-5)
    assert TrajectoryReader(path, type_map=TYPE_MAP).count_frames() == 5
    assert TrajectoryReader(path, type_map=TYPE_MAP).last_frame().index == 4


def test_extxyz_round_trip_unwraps(tmp_path):
    from ase import Atoms
    from ase.io import write

    frames, truth, sym = _walk(shuffle=False)
    images = []
    for k, fr in enumerate(frames):
        s = (fr.positions - fr.origin) @ np.linalg.inv(fr.cell)
        s -= np.floor(s)
        a = Atoms(symbols=list(sym), positions=s @ fr.cell, cell=fr.cell, pbc=True)
        a.info["time_ps"] = 0.5 * k
        images.append(a)
    path = tmp_path / "t.extxyz"
    write(path, images, format="extxyz")
    got = list(iter_frames(path))
    assert len(got) == len(frames)
    for k, fr in enumerate(got):
        assert fr.time_ps == pytest.approx(0.5 * k)
    # origin of extxyz is 0: compare displacements
    np.testing.assert_allclose(got[-1].unwrapped - got[0].unwrapped, truth[-1] - truth[0], atol=1e-5)


def test_truncated_last_frame_is_ignored_with_warning(tmp_path):
    frames, truth, _ = _walk(n_frames=3)
    path = write_lammps_dump(tmp_path / "t.lammpstrj", frames, type_map=TYPE_MAP)
    lines = path.read_text().splitlines(True)
    path.write_text("".join(lines[:-5]))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = list(iter_frames(path, type_map=TYPE_MAP))
    assert len(got) == 2
    assert any("truncated" in str(x.message) for x in w)


# ----------------------------------------------------------------------------- bad input
def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_missing_file(tmp_path):
    p = tmp_path / "nope.lammpstrj"
    with pytest.raises(SeilabError) as e:
        list(iter_frames(p, type_map=TYPE_MAP))
    assert str(p) in _one_line(e) and "not found" in str(e.value)


def test_dump_without_position_columns(tmp_path):
    p = tmp_path / "bad.lammpstrj"
    p.write_text(
        "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 5\n"
        "ITEM: ATOMS id type vx vy vz\n1 1 0 0 0\n2 1 0 0 0\n"
    )
    with pytest.raises(SeilabError) as e:
        list(iter_frames(p, type_map=TYPE_MAP))
    msg = _one_line(e)
    assert str(p) in msg and "position columns" in msg and "vx" in msg


def test_type_map_too_short(tmp_path):
    frames, _, _ = _walk(n_frames=1)
    p = write_lammps_dump(tmp_path / "t.lammpstrj", frames, type_map=TYPE_MAP)
    with pytest.raises(SeilabError) as e:
        list(iter_frames(p, type_map=["Li", "P"]))
    msg = _one_line(e)
    assert "type_map" in msg and str(p) in msg and "type 3" in msg
    with pytest.raises(SeilabError, match="type_map is required"):
        list(iter_frames(p))


def test_unparsable_atom_line(tmp_path):
    p = tmp_path / "bad2.lammpstrj"
    p.write_text(
        "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 5\n"
        "ITEM: ATOMS id type x y z\n1 1 0 0 0\n2 1 0 zero 0\n"
    )
    with pytest.raises(SeilabError) as e:
        list(iter_frames(p, type_map=TYPE_MAP))
    assert str(p) in _one_line(e)


def test_unknown_format(tmp_path):
    p = tmp_path / "traj.bin"
    p.write_text("hello\n")
    with pytest.raises(SeilabError, match="unknown trajectory format"):
        list(iter_frames(p))
