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


def test_truncated_last_frame_is_ignored_with_warning_only_when_partial(tmp_path):
    frames, truth, _ = _walk(n_frames=3)
    path = write_lammps_dump(tmp_path / "t.lammpstrj", frames, type_map=TYPE_MAP)
    lines = path.read_text().splitlines(True)
    path.write_text("".join(lines[:-5]))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        rd = TrajectoryReader(path, type_map=TYPE_MAP, partial=True)
        got = list(rd)
    assert len(got) == 2
    assert any("truncated" in str(x.message) for x in w)
    assert rd.truncated and "35 of 40 atom rows" in rd.truncated
    with pytest.warns(UserWarning, match="truncated"):
        assert TrajectoryReader(path, type_map=TYPE_MAP, partial=True).count_frames() == 2


def _cut(path, n_lines=None, n_chars=None):
    text = path.read_text()
    if n_lines is not None:
        text = "".join(text.splitlines(True)[:-n_lines])
    if n_chars is not None:
        text = text[:-n_chars]
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "cut, needle",
    [
        (dict(n_lines=5), "35 of 40 atom rows"),  # atom rows missing
        (dict(n_lines=40), "0 of 40 atom rows"),  # ITEM: ATOMS header, no rows
        (dict(n_lines=42), "inside ITEM: BOX BOUNDS (2 of 3 lines)"),  # box cut
        (dict(n_lines=45), "before ITEM: BOX BOUNDS / ATOMS"),  # only step + atom count
        (dict(n_lines=48), "ends after ITEM: TIMESTEP"),  # step value missing
        (dict(n_chars=4), "is cut off"),  # last atom row cut mid-line
    ],
)
def test_truncated_last_frame_is_refused_without_partial(tmp_path, cut, needle):
    frames, _, _ = _walk(n_frames=3)
    path = _cut(write_lammps_dump(tmp_path / "t.lammpstrj", frames, type_map=TYPE_MAP), **cut)
    for call in (lambda: list(iter_frames(path, type_map=TYPE_MAP)),
                 lambda: TrajectoryReader(path, type_map=TYPE_MAP).count_frames()):
        with pytest.raises(SeilabError) as e:
            call()
        msg = _one_line(e)
        assert str(path) in msg and "frame 2" in msg and needle in msg and "--partial" in msg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(list(iter_frames(path, type_map=TYPE_MAP, partial=True))) == 2


def test_truncated_extxyz_is_refused_without_partial(tmp_path):
    from ase import Atoms
    from ase.io import write

    frames, _, sym = _walk(n_frames=3, shuffle=False)
    path = tmp_path / "t.extxyz"
    write(path, [Atoms(symbols=list(sym), positions=f.positions, cell=f.cell, pbc=True) for f in frames])
    _cut(path, n_lines=7)
    with pytest.raises(SeilabError) as e:
        list(iter_frames(path))
    msg = _one_line(e)
    assert str(path) in msg and "frame 2" in msg and "33 of 40 atom lines" in msg and "--partial" in msg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rd = TrajectoryReader(path, partial=True)
        assert len(list(rd)) == 2 and rd.truncated


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


_HEAD = "ITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n{n}\nITEM: BOX BOUNDS pp pp pp\n{box}ITEM: ATOMS id type x y z\n"
_ROWS = "1 1 0 0 0\n2 1 1 1 1\n"


@pytest.mark.parametrize(
    "text, needle",
    [
        (_HEAD.format(step="abc", n=2, box="0 5\n0 5\n0 5\n") + _ROWS,
         "line 2 (frame 0): ITEM: TIMESTEP expects an integer timestep, got 'abc'"),
        (_HEAD.format(step=0, n="two", box="0 5\n0 5\n0 5\n") + _ROWS,
         "line 4 (frame 0): ITEM: NUMBER OF ATOMS expects a count of atoms (integer >= 0), got 'two'"),
        (_HEAD.format(step=0, n=-2, box="0 5\n0 5\n0 5\n") + _ROWS, "line 4 (frame 0): ITEM: NUMBER OF ATOMS"),
        (_HEAD.format(step=0, n=2, box="0 5\n0 five\n0 5\n") + _ROWS,
         "line 7 (frame 0): ITEM: BOX BOUNDS line 2 of 3 expects 2 finite numbers (lo hi), got '0 five'"),
        (_HEAD.format(step=0, n=2, box="0 5\n0 5\n0\n") + _ROWS, "line 8 (frame 0): ITEM: BOX BOUNDS line 3 of 3"),
        (_HEAD.format(step=0, n=2, box="0 5\n0 5\n0 nan\n") + _ROWS, "line 8 (frame 0): ITEM: BOX BOUNDS"),
        (_HEAD.format(step=0, n=2, box="0 5\n0 5\n3 3\n") + _ROWS, "zero volume"),
        (_HEAD.format(step=0, n=2, box="0 5\n0 5\n0 5\n") + "1 1 0 0 0\n2 1 1 zero 1\n",
         "line 11 (frame 0): atom row: column 'y' is not a number: 'zero'"),
        (_HEAD.format(step=0, n=2, box="0 5\n0 5\n0 5\n") + "1 1 0 0 0\n2 1 1 1\n",
         "line 11 (frame 0): atom row: expected 5 values (id type x y z), got 4"),
        (_HEAD.format(step=0, n=2, box="0 5\n0 5\n0 5\n") + "1 1 0 0 0\n2 1 1 1 1 7\n",
         "line 11 (frame 0): atom row: expected 5 values (id type x y z), got 6"),
        (_HEAD.format(step=0, n=2, box="0 5\n0 5\n0 5\n") + "1 1 0 0 0\n2 1 nan 1 1\n",
         "line 11 (frame 0): non-finite position (x y z) of atom 2"),
        (_HEAD.format(step=0, n=2, box="0 5\n0 5\n0 5\n") + _ROWS + "ITEM: TIMESTEP\n10\nITEM: NUMBER OF ATOMS\n3\n"
         "ITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 5\nITEM: ATOMS id type x y z\n1 1 0 0 0\n2 1 1 1 1\n"
         "ITEM: TIMESTEP\n20\n",
         "line 23 (frame 1): 'ITEM: TIMESTEP' after 2 atom rows; the frame declares 3 atoms"),
        (_HEAD.format(step=0, n=2, box="0 5\n0 5\n0 5\n") + _ROWS + "garbage here\n",
         "line 12 (frame 1): expected an 'ITEM:' line, got 'garbage here'"),
        ("ITEM: TIMESTEP\n0\nITEM: ATOMS id type x y z\n" + _ROWS,
         "line 3 (frame 0): ITEM: ATOMS before NUMBER OF ATOMS / BOX BOUNDS"),
    ],
)
def test_malformed_dump_is_one_line_error_with_line_number(tmp_path, text, needle):
    p = tmp_path / "bad.lammpstrj"
    p.write_text(text)
    with pytest.raises(SeilabError) as e:
        list(iter_frames(p, type_map=TYPE_MAP))
    msg = _one_line(e)
    assert msg.startswith(f"{p}: ") and needle in msg, msg


def test_malformed_element_column_row(tmp_path):
    p = tmp_path / "el.lammpstrj"
    p.write_text(
        _HEAD.format(step=0, n=2, box="0 5\n0 5\n0 5\n").replace("type", "element") + "1 Li 0 0 0\n2 Li 1 x 1\n"
    )
    with pytest.raises(SeilabError) as e:
        list(iter_frames(p))
    assert "line 11 (frame 0): atom row: column 'y' is not a number: 'x'" in _one_line(e)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_extxyz_non_finite_positions_or_cell(tmp_path, bad):
    from ase import Atoms
    from ase.io import write

    frames, _, sym = _walk(n_frames=3, shuffle=False)
    images = [Atoms(symbols=list(sym), positions=f.positions, cell=f.cell, pbc=True) for f in frames]
    images[1].positions[7, 2] = bad
    p = tmp_path / "nan.extxyz"
    write(p, images, format="extxyz")
    with pytest.raises(SeilabError) as e:
        list(iter_frames(p))
    assert _one_line(e) == f"{p}: frame 1: non-finite position (NaN or inf) of atom 7 (0-based)"
    images[1].positions[7, 2] = 1.0
    cell = images[2].cell.array.copy()
    cell[0, 0] = bad
    images[2].cell = cell
    write(p, images, format="extxyz")
    with pytest.raises(SeilabError) as e:
        list(iter_frames(p))
    assert _one_line(e) == f"{p}: frame 2: non-finite cell (Lattice has NaN or inf)"


def test_skipping_atom_rows_by_blocks_matches_line_iteration():
    """The span index skips atom rows by counting newlines in blocks: for any rows, with or without a final
    newline, fewer rows than asked, and blocks that end anywhere (1 byte up to the default), the count, the
    last row and the handle's position are what iterating over the lines gives."""
    import io
    import random
    from itertools import islice

    from seilab.analysis.trajectory import _ByteLines

    rng = random.Random(1)
    default = _ByteLines.BLOCK
    try:
        for _ in range(400):
            rows = [b"x" * rng.randint(0, 12) for _ in range(rng.randint(0, 30))]
            data = b"HEAD\n" + b"\n".join(rows) + (b"\n" if rng.random() < 0.5 else b"")
            n = rng.randint(0, 40)
            ref = io.BytesIO(data)
            ref.readline()
            want = list(islice(ref, n))
            for block in (1, 2, 5, default):
                _ByteLines.BLOCK = block
                fh = io.BytesIO(data)
                lines = _ByteLines(fh)
                lines.readline()
                got = lines.take(n)
                assert len(got) == len(want)
                assert fh.tell() == ref.tell() == lines.offset
                assert lines.lineno == 1 + len(want)
                if want:
                    assert got[-1] == want[-1].decode()
    finally:
        _ByteLines.BLOCK = default
