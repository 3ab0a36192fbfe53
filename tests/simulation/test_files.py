"""Dump writing/truncation and segment merging: the pieces that make resume duplicate-free."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from seilab.md.dump import dump_frame_index, dump_steps, truncate_dump, write_dump_frame
from seilab.md.engine import merge_segments


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


# ----------------------------------------------------------------------------------------------- strict dumps
def strict_dump_frames(path) -> list[dict]:
    """Parse a LAMMPS text dump as a strict reader does; an AssertionError names the first defect.

    Every frame must be exactly ``[ITEM: TIME]`` (then on every frame), ``ITEM: TIMESTEP``,
    ``ITEM: NUMBER OF ATOMS``, ``ITEM: BOX BOUNDS`` (3 lines), ``ITEM: ATOMS <columns>`` and then the
    declared number of atom rows, one value per column and unique ids; the file ends with the newline
    of the last atom row; as many ``ITEM: TIME`` as ``ITEM: TIMESTEP`` headers; timesteps strictly
    increase. Returns ``[{"step", "time", "n_atoms", "columns"}]``, one per frame.
    """
    text = Path(path).read_text()
    assert text.endswith("\n"), f"{path}: the last line has no newline (partial tail)"
    lines = text[:-1].split("\n")
    where = lambda i: f"{path}:{i + 1}"  # noqa: E731

    def header(i, name, exact=True):
        got = lines[i] if i < len(lines) else "<end of file>"
        ok = got == name if exact else got.startswith(name + " ")
        assert ok, f"{where(i)}: expected {name!r}, got {got[:60]!r}"

    def numbers(i, count, kind=float):
        got = lines[i].split() if i < len(lines) else []
        assert len(got) in count, f"{where(i)}: expected {count} numbers, got {got[:6]}"
        try:
            return [kind(v) for v in got]
        except ValueError:
            raise AssertionError(f"{where(i)}: not {kind.__name__}s: {got[:6]}") from None

    frames, i = [], 0
    while i < len(lines):
        fr = {"time": None}
        if lines[i] == "ITEM: TIME":
            fr["time"] = numbers(i + 1, (1,))[0]
            i += 2
        header(i, "ITEM: TIMESTEP")
        fr["step"] = numbers(i + 1, (1,), int)[0]
        header(i + 2, "ITEM: NUMBER OF ATOMS")
        n = fr["n_atoms"] = numbers(i + 3, (1,), int)[0]
        header(i + 4, "ITEM: BOX BOUNDS", exact=False)
        for k in range(5, 8):
            numbers(i + k, (2, 3, 4))  # lo hi [tilt] (or the 4 numbers of "abc origin")
        header(i + 8, "ITEM: ATOMS", exact=False)
        cols = fr["columns"] = lines[i + 8].split()[2:]
        assert cols and len(set(cols)) == len(cols), f"{where(i + 8)}: bad columns {cols}"
        i += 9
        rows = lines[i:i + n]
        assert len(rows) == n, f"{path}: step {fr['step']}: {n} atom rows declared, {len(rows)} left"
        for k, row in enumerate(rows):
            vals = row.split()
            assert len(vals) == len(cols) and not row.startswith("ITEM:"), \
                f"{where(i + k)}: atom row {row[:60]!r} does not match columns {cols}"
        if "id" in cols:
            ids = {int(r.split()[cols.index("id")]) for r in rows}
            assert len(ids) == n, f"{path}: step {fr['step']}: duplicate atom ids"
        i += n
        frames.append(fr)
    assert frames, f"{path}: no frames"
    timed = [f["time"] is not None for f in frames]
    assert all(timed) or not any(timed), f"{path}: ITEM: TIME on some frames only"
    n_time, n_step = text.count("ITEM: TIME\n"), text.count("ITEM: TIMESTEP\n")
    assert n_time in (0, n_step), f"{path}: {n_time} ITEM: TIME vs {n_step} ITEM: TIMESTEP headers"
    steps = [f["step"] for f in frames]
    bad = [(a, b) for a, b in zip(steps, steps[1:]) if b <= a]
    assert not bad, f"{path}: timesteps not strictly increasing (or duplicated) at {bad[:3]}"
    return frames


def _lammps_frame(step: int, n: int = 3) -> str:
    """One frame of ``dump custom ... id type element x y z ix iy iz`` as LAMMPS 4Feb2025 writes it with
    ``dump_modify ... sort id time yes`` (dump_custom.cpp: ITEM: TIME comes *before* ITEM: TIMESTEP)."""
    box = "0.0000000000000000e+00 5.0000000000000000e+00\n"
    rows = "".join(f"{i} 1 Li {0.5 * i:.8f} {0.25 * i + 1e-3 * step:.8f} 1.00000000 0 0 0\n" for i in range(1, n + 1))
    return (f"ITEM: TIME\n{step * 0.001:.16}\nITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n{n}\n"
            f"ITEM: BOX BOUNDS pp pp pp\n{box}{box}{box}ITEM: ATOMS id type element x y z ix iy iz\n{rows}")


def _ase_frame(step: int) -> str:
    """One frame as :func:`write_dump_frame` (the ASE engine) writes it."""
    from ase import Atoms

    a = Atoms("LiPS", positions=[[0.5, 0.5, 0.5], [2.0, 1.0 + 1e-3 * step, 3.0], [4.0, 4.5, 1.0]],
              cell=[5.0, 5.5, 6.0], pbc=True)
    buf = io.StringIO()
    write_dump_frame(buf, a, step, step * 0.001, ("Li", "P", "S"))
    return buf.getvalue()


FRAME_WRITERS = {"lammps": _lammps_frame, "write_dump_frame": _ase_frame}


@pytest.mark.parametrize("writer", sorted(FRAME_WRITERS))
def test_resumed_dump_stays_well_formed(tmp_path, writer):
    """Two kills in mid-frame, two resumes (cut at the restart step, append the continuation): a strict
    parser reads every frame once; no stray ITEM: TIME of a dropped frame, no partial tail left."""
    frame = FRAME_WRITERS[writer]
    p = tmp_path / "dump.lammpstrj"

    def segment(steps, killed_in=None, cut=None):
        with open(p, "a") as fh:
            fh.write("".join(frame(s) for s in steps))
            if killed_in is not None:  # the frame the writer was in when SIGKILL came
                fh.write(cut(frame(killed_in)))

    # segment 0 writes 0..60 and dies inside the headers of 70; newest restart file: step 40
    segment(range(0, 70, 10), killed_in=70, cut=lambda t: t[:t.index("ITEM: TIMESTEP") + 9])
    assert truncate_dump(p, 40) == 4
    assert [f["step"] for f in strict_dump_frames(p)] == [0, 10, 20, 30]
    # segment 1 resumes at 40, writes 40..110 and dies in an atom row of 120; newest restart: 90
    segment(range(40, 120, 10), killed_in=120, cut=lambda t: t[:-7])
    assert truncate_dump(p, 90) == 9
    assert [f["step"] for f in strict_dump_frames(p)] == list(range(0, 90, 10))
    # segment 2 resumes at 90 and finishes at 150
    segment(range(90, 160, 10))
    frames = strict_dump_frames(p)
    assert [f["step"] for f in frames] == list(range(0, 160, 10)) == dump_steps(p)
    assert all(f["time"] == pytest.approx(f["step"] * 0.001) for f in frames)
    text = p.read_text()
    assert text.count("ITEM: TIME\n") == text.count("ITEM: TIMESTEP\n") == len(frames)
    from ase.io import read

    assert len(read(p, format="lammps-dump-text", index=":")) == len(frames)


@pytest.mark.parametrize("writer", sorted(FRAME_WRITERS))
def test_truncate_dump_removes_any_partial_tail(tmp_path, writer):
    """Whatever byte of its last frame a writer was killed after, the partial frame goes entirely,
    also when no complete frame is at or after the cut step."""
    frame = FRAME_WRITERS[writer]
    whole = "".join(frame(s) for s in (0, 10, 20))
    last = frame(30)
    p = tmp_path / "d.lammpstrj"
    for cut in range(len(last)):
        p.write_text(whole + last[:cut])
        assert truncate_dump(p, 10**9) == 3, f"killed after {cut} bytes of the last frame"
        assert p.read_text() == whole, f"killed after {cut} bytes of the last frame"
    p.write_text(whole + last)
    assert truncate_dump(p, 10**9) == 4 and p.read_text() == whole + last  # nothing to cut
    assert truncate_dump(p, 10) == 1 and p.read_text() == frame(0)


def test_ase_and_lammps_frames_have_the_same_layout(tmp_path):
    """write_dump_frame (ASE engine) writes its headers in the order LAMMPS does (ITEM: TIME first)."""
    def items(text):
        return [ln.split()[1] for ln in text.splitlines() if ln.startswith("ITEM:")]

    assert items(_ase_frame(10)) == items(_lammps_frame(10)) == ["TIME", "TIMESTEP", "NUMBER", "BOX", "ATOMS"]
    for name, frame in FRAME_WRITERS.items():
        (tmp_path / name).write_text(frame(0) + frame(10))
        frames = strict_dump_frames(tmp_path / name)
        assert [(f["step"], f["time"]) for f in frames] == [(0, 0.0), (10, pytest.approx(0.01))]
        assert frames[0]["columns"] == "id type element x y z ix iy iz".split()
        assert [s for s, _ in dump_frame_index(tmp_path / name)] == [0, 10]
        assert dump_frame_index(tmp_path / name)[1][1] == len(frame(0).encode())  # offset of ITEM: TIME


def test_resumed_dump_reads_in_ovito(tmp_path):
    """OVITO's LAMMPS dump reader (``ovito`` from PyPI, if installed) sees every frame of a resumed dump once."""
    pytest.importorskip("ovito")
    p = tmp_path / "dump.lammpstrj"
    p.write_text("".join(_lammps_frame(s) for s in range(0, 70, 10)) + _lammps_frame(70)[:40])
    truncate_dump(p, 40)
    with open(p, "a") as fh:
        fh.write("".join(_lammps_frame(s) for s in range(40, 100, 10)))
    frames = ovito_frames(p)
    assert [s for s, _, _ in frames] == list(range(0, 100, 10))
    assert all(t == pytest.approx(s * 0.001) and n == 3 for s, t, n in frames)


def ovito_frames(path) -> list[tuple[int, float, int]]:
    """(timestep, time, number of atoms) of each frame as OVITO reads the dump."""
    from ovito.io import import_file

    pipeline = import_file(str(path), multiple_frames=True)
    out = []
    for i in range(pipeline.source.num_frames):
        data = pipeline.compute(i)
        out.append((int(data.attributes["Timestep"]), float(data.attributes.get("Time", float("nan"))),
                    data.particles.count))
    return out
