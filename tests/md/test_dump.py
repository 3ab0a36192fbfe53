"""The MD layer's one LAMMPS-dump reader (seilab.md.dump): index, frames, and the callers that use it."""

from __future__ import annotations

import io

import numpy as np
import pytest

from seilab.errors import SeilabError
from seilab.md.dump import dump_frame_index, dump_frame_spans, read_dump_frame, scan_dump, write_dump_frame

ELEMENTS = ("Li", "P", "S")


def _triclinic(n=60, seed=0):
    from ase import Atoms

    rng = np.random.default_rng(seed)
    cell = np.array([[9.0, 0.0, 0.0], [2.5, 8.0, 0.0], [-1.2, 1.5, 11.0]])
    frac = rng.random((n, 3))
    return Atoms(rng.choice(list(ELEMENTS), n).tolist(), positions=frac @ cell, cell=cell, pbc=True)


def test_frames_read_as_ase_reads_them(tmp_path):
    """Triclinic box, image flags, an extra γ column: the numpy reader gives ASE's lammps-dump-text Atoms."""
    from ase.io import read

    a = _triclinic()
    g = np.linspace(0.1, 3.0, len(a))
    p = tmp_path / "d.lammpstrj"
    with open(p, "w") as fh:
        for step in (0, 10, 20):
            b = a.copy()
            b.positions += 0.01 * step
            write_dump_frame(fh, b, step, step * 0.001, ELEMENTS, extra={"f_pace_gamma": g * (1 + step)})
    spans = dump_frame_spans(p)
    assert [s[2] for s in spans] == [0, 10, 20] and spans[-1][1] == p.stat().st_size
    assert [(s, o) for o, _, s in spans] == dump_frame_index(p)
    for k, span in enumerate(spans):
        ours = read_dump_frame(p, span)
        ase = read(p, index=k, format="lammps-dump-text")
        assert ours.get_chemical_symbols() == ase.get_chemical_symbols() == a.get_chemical_symbols()
        np.testing.assert_allclose(ours.positions, ase.positions, atol=1e-12)
        np.testing.assert_allclose(ours.cell.array, ase.cell.array, atol=1e-12)
        np.testing.assert_allclose(ours.get_celldisp(), ase.get_celldisp(), atol=1e-12)
        np.testing.assert_allclose(ours.arrays["f_pace_gamma"], g * (1 + span[2]), rtol=1e-5)
        assert ours.info["timestep"] == span[2] and ours.info["time"] == pytest.approx(span[2] * 0.001)
        assert ours.arrays["id"].tolist() == list(range(1, len(a) + 1))
        # the box is the cell rotated into LAMMPS' frame: the same lengths and angles
        np.testing.assert_allclose(ours.cell.cellpar(), a.cell.cellpar(), atol=1e-6)


def test_types_need_the_element_order_and_scaled_positions(tmp_path):
    p = tmp_path / "t.dump"
    p.write_text("ITEM: TIMESTEP\n5\nITEM: NUMBER OF ATOMS\n3\nITEM: BOX BOUNDS pp pp ff\n0 10\n0 10\n-1 9\n"
                 "ITEM: ATOMS id type xs ys zs\n1 2 0.1 0.2 0.5\n2 1 0.5 0.5 0.5\n3 3 0.9 0.0 0.0\n")
    a = read_dump_frame(p, specorder=["S", "Li", "P"])
    assert a.get_chemical_symbols() == ["Li", "S", "P"] and a.pbc.tolist() == [True, True, False]
    np.testing.assert_allclose(a.positions[0], [1.0, 2.0, 4.0])  # zs 0.5 of [-1, 9]
    with pytest.raises(SeilabError, match="specorder"):
        read_dump_frame(p)
    with pytest.raises(SeilabError, match="atom types 1..3 but 2 elements"):
        read_dump_frame(p, specorder=["Li", "S"])


def test_partial_and_malformed_frames(tmp_path):
    a = _triclinic(8)
    buf = io.StringIO()
    write_dump_frame(buf, a, 0, 0.0, ELEMENTS)
    write_dump_frame(buf, a, 10, 0.01, ELEMENTS)
    whole = buf.getvalue()
    p = tmp_path / "d.dump"
    p.write_text(whole + whole[: whole.index("ITEM: ATOMS") + 60].replace("TIMESTEP\n0", "TIMESTEP\n20"))
    spans = dump_frame_spans(p)
    assert [s[2] for s in spans] == [0, 10, 20]  # the partial tail is listed (its timestep was written)
    frames, good_end, tail = scan_dump(p)
    assert [s for s, _ in frames] == [0, 10] and good_end == len(whole) and tail == 20
    with pytest.raises(SeilabError, match="8 atom rows declared"):
        read_dump_frame(p, spans[-1])
    # rows beyond the declared count end the walk there: the frame is complete, the rest is a tail
    p.write_text(whole + "1 1 Li 0 0 0 0 0 0\n")
    frames, good_end, tail = scan_dump(p)
    assert [s for s, _ in frames] == [0, 10] and good_end == len(whole) and tail is None
    p.write_text("")
    assert scan_dump(p) == ([], 0, None) and dump_frame_spans(p) == []


def test_the_callers_share_the_reader(tmp_path):
    """The harvest's frame index and the report viewer's frames are the MD layer's."""
    from seilab.learning.harvest import frame_index, read_frame
    from seilab.report.viewer import read_end_frames

    a = _triclinic(30)
    p = tmp_path / "run" / "extrapolative.dump"
    p.parent.mkdir()
    with open(p, "w") as fh:
        for step in (100, 200):
            write_dump_frame(fh, a, step, step * 0.001, ELEMENTS, extra={"f_pace_gamma": np.full(len(a), 1.5)})
    assert frame_index(p, "lammps-dump") == dump_frame_spans(p)
    f = read_frame(p, "lammps-dump", frame_index(p, "lammps-dump")[1], ELEMENTS)
    assert f.info["md_step"] == 200 and np.allclose(f.arrays["gamma"], 1.5)
    ends = read_end_frames(p)
    assert [e["step"] for e in ends] == [100, 200] and ends[0]["n_frames"] == 2
    np.testing.assert_allclose(ends[1]["positions"], read_dump_frame(p, dump_frame_spans(p)[1]).get_positions(wrap=True))
