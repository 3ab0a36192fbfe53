"""Dump writing/truncation and segment merging: the pieces that make resume duplicate-free."""

from __future__ import annotations

import numpy as np
import pytest

from seilab.simulation.engine import dump_steps, merge_segments, truncate_dump, write_dump_frame


def _write(path, atoms, steps, partial=False):
    with open(path, "w") as fh:
        for s in steps:
            write_dump_frame(fh, atoms, s, s * 0.001, ("Li", "P", "S"))
        if partial:
            fh.write("ITEM: TIMESTEP\n999\nITEM: NUMBER OF ATOMS\n")


def test_truncate_dump(tmp_path, small_interface):
    p = tmp_path / "d.lammpstrj"
    _write(p, small_interface, [0, 10, 20, 30], partial=True)
    assert dump_steps(p) == [0, 10, 20, 30, 999]
    assert truncate_dump(p, 20) == 2
    assert dump_steps(p) == [0, 10]
    assert p.read_text().count("ITEM: ATOMS") == 2


def test_dump_readable_by_ase_and_analysis(tmp_path, small_interface):
    from ase.io import read

    a = small_interface.copy()
    rng = np.random.default_rng(0)
    un = a.positions + rng.normal(0, 3.0, a.positions.shape)  # some atoms leave the cell
    p = tmp_path / "d.lammpstrj"
    with open(p, "w") as fh:
        write_dump_frame(fh, a, 0, 0.0, ("Li", "P", "S"), unwrapped=un)
    b = read(p, format="lammps-dump-text", index=-1)
    assert b.get_chemical_symbols() == a.get_chemical_symbols()
    assert np.allclose(b.cell.array, a.cell.array, atol=1e-6)
    frac = np.linalg.solve(a.cell.array.T, (b.positions - un).T).T
    assert np.allclose(frac - np.round(frac), 0, atol=1e-6)
    try:
        from seilab.analysis.trajectory import iter_frames
    except ImportError:
        pytest.skip("seilab.analysis.trajectory not available")
    fr = next(iter(iter_frames(p)))
    assert fr.n_atoms == len(a)
    assert np.allclose(fr.unwrapped - fr.origin, un, atol=1e-5)


def test_merge_segments_keeps_one_row_per_step():
    seg0 = [{"step": s} for s in range(0, 70, 10)]        # killed at 60, restart file at 50
    seg1 = [{"step": s, "resumed": True} for s in range(50, 110, 10)]
    rows = merge_segments([(0, seg0), (50, seg1)])
    steps = [r["step"] for r in rows]
    assert steps == list(range(0, 110, 10))
    assert all(r.get("resumed") for r in rows if r["step"] >= 50)
