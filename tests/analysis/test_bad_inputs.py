"""`seilab analyze` on malformed, non-finite, truncated or too short trajectories: one-line errors,
`--partial`, and outputs that are swapped in only when complete (an earlier result is never
replaced by a worse one)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seilab.analysis.pipeline import analyze_trajectory
from seilab.settings.analysis import AnalysisSettings
from seilab.analysis.synthetic import layered_frame
from seilab.analysis.trajectory import write_lammps_dump
from seilab.cli import main
from seilab.errors import SeilabError

LI, LI2S, LI3P, SSE = {"Li": 1}, {"Li": 2, "S": 1}, {"Li": 3, "P": 1}, {"Li": 7, "P": 3, "S": 11}


def _frames(n=5):
    out = []
    for k, t in enumerate(np.array([0, 1, 2, 4, 8, 16, 32], float)[:n]):
        h = 3.0 * t**0.5
        regions = [(h, 30, LI), (h / 2, h, LI3P), (-h, h / 2, LI2S), (-30, -h, SSE)]
        out.append(layered_frame(regions, (10, 10, 60), spacing=(2.5, 2.5, 2.0), jitter=0.2, seed=k, time_ps=t, index=k))
        out[-1].step = int(t * 1000)
    return out


@pytest.fixture(scope="module")
def frames():
    return _frames()


@pytest.fixture
def dump(frames, tmp_path):
    return write_lammps_dump(tmp_path / "dump.lammpstrj", frames, type_map=["Li", "P", "S"])


def _run(capsys, *args):
    capsys.readouterr()
    rc = main(["analyze", *map(str, args), "--type-map", "Li,P,S", "--no-figures"])
    err = capsys.readouterr().err.strip()
    return rc, err


def _error_line(err: str) -> str:
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err[len("error: "):]


def test_non_numeric_timestep_is_one_line_error(dump, tmp_path, capsys):
    lines = dump.read_text().splitlines(True)
    n = len(lines) // 5  # second frame starts here
    assert lines[n] == "ITEM: TIMESTEP\n"
    lines[n + 1] = "1e3x\n"
    dump.write_text("".join(lines))
    rc, err = _run(capsys, dump, "--out", tmp_path / "out")
    assert rc == 2
    assert _error_line(err) == f"{dump}: line {n + 2} (frame 1): ITEM: TIMESTEP expects an integer timestep, got '1e3x'"
    assert not (tmp_path / "out").exists()


def test_non_numeric_atom_count_box_and_row(dump, tmp_path, capsys):
    good = dump.read_text().splitlines(True)
    for k, bad, needle in (
        (3, "lots\n", "line 4 (frame 0): ITEM: NUMBER OF ATOMS expects a count of atoms (integer >= 0), got 'lots'"),
        (6, "0 ten\n", "line 7 (frame 0): ITEM: BOX BOUNDS line 2 of 3 expects 2 finite numbers (lo hi), got '0 ten'"),
        (12, "3 2 1.0 x 2.0 0 0 0\n", "line 13 (frame 0): atom row: column 'y' is not a number: 'x'"),
    ):
        lines = list(good)
        lines[k] = bad
        dump.write_text("".join(lines))
        rc, err = _run(capsys, dump, "--out", tmp_path / "out")
        assert rc == 2 and _error_line(err) == f"{dump}: {needle}"


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_extxyz_with_non_finite_positions(frames, tmp_path, capsys, bad):
    from ase.io import write

    images = [f.to_atoms() for f in frames]
    images[3].positions[17, 0] = float(bad)
    p = tmp_path / "md.extxyz"
    write(p, images, format="extxyz")
    rc, err = _run(capsys, p, "--out", tmp_path / "out")
    assert rc == 2
    assert _error_line(err) == f"{p}: frame 3: non-finite position (NaN or inf) of atom 17 (0-based)"


def test_truncated_dump_is_refused_and_keeps_the_complete_result(dump, tmp_path, capsys):
    out = tmp_path / "analysis"
    rc, _ = _run(capsys, dump, "--out", out)
    assert rc == 0
    before = (out / "analysis.json").read_bytes()
    assert json.loads(before)["partial"] is False
    # the run is still writing: the last frame is cut mid-way
    text = dump.read_text()
    cut = tmp_path / "cut.lammpstrj"
    cut.write_text(text[: len(text) - len(text) // 10])
    n_rows = int(text.splitlines()[3])
    rc, err = _run(capsys, cut, "--out", out)
    assert rc == 2
    msg = _error_line(err)
    assert msg.startswith(f"{cut}: the last frame (frame 4) is truncated: ") and "atom rows" in msg
    assert msg.endswith("pass --partial (partial=True) to analyse the 4 complete frames only")
    assert (out / "analysis.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis", "cut.lammpstrj", "dump.lammpstrj"]
    # --partial: the complete frames, marked partial with the reason
    capsys.readouterr()
    rc = main(["analyze", str(cut), "--type-map", "Li,P,S", "--no-figures", "--out", str(out), "--partial"])
    text_out = capsys.readouterr().out
    assert rc == 0 and "analysed 4 frames" in text_out and "partial result: last frame (frame 4)" in text_out
    data = json.loads((out / "analysis.json").read_text())
    assert data["partial"] is True and f"of {n_rows} atom rows" in data["partial_reason"]
    assert data["provenance"]["partial"] is True
    assert len(data["times_ps"]) == 4


def test_one_frame_dump_is_an_error_and_keeps_the_result(frames, dump, tmp_path, capsys):
    out = tmp_path / "analysis"
    assert _run(capsys, dump, "--out", out)[0] == 0
    before = (out / "analysis.json").read_bytes()
    one = write_lammps_dump(tmp_path / "one.lammpstrj", frames[:1], type_map=["Li", "P", "S"])
    rc, err = _run(capsys, one, "--out", out)
    assert rc == 2
    assert _error_line(err) == (
        f"{one}: 1 frame to analyse, the interphase analysis needs at least 2 (growth and flux are time series); "
        "use a longer run"
    )
    assert (out / "analysis.json").read_bytes() == before
    rc, err = _run(capsys, dump, "--out", out, "--start", "4")
    assert rc == 2 and "1 frame to analyse (--start 4)" in err and "or a wider frame selection" in err


def test_failure_while_writing_outputs_leaves_the_old_result(dump, tmp_path, monkeypatch):
    import seilab.analysis.figures as figures

    out = tmp_path / "analysis"
    s = AnalysisSettings(type_map=["Li", "P", "S"], figures=False)
    analyze_trajectory(dump, s, out_dir=out)
    (out / "thickness.png").write_bytes(b"old figure")
    (out / "notes.txt").write_text("not ours")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(result, folder, dpi=120, snapshots=None):
        (folder / "thickness.png").write_bytes(b"new, half done")
        raise RuntimeError("disk full")

    monkeypatch.setattr(figures, "write_figures", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        analyze_trajectory(dump, s.model_copy(update={"figures": True}), out_dir=out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis", "dump.lammpstrj"]  # no temp folder left

    def fine(result, folder, dpi=120, snapshots=None):
        (folder / "thickness.png").write_bytes(b"new figure")

    monkeypatch.setattr(figures, "write_figures", fine)
    res = analyze_trajectory(dump, s.model_copy(update={"figures": True}), out_dir=out)  # the runner's call form
    assert res.partial is False
    assert (out / "thickness.png").read_bytes() == b"new figure" and (out / "notes.txt").read_text() == "not ours"
    assert json.loads((out / "analysis.json").read_text())["summary"]["n_frames"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis", "dump.lammpstrj"]


def test_partial_keyword_of_the_pipeline(dump, tmp_path):
    lines = dump.read_text().splitlines(True)
    cut = tmp_path / "cut.lammpstrj"
    cut.write_text("".join(lines[:-3]))
    s = AnalysisSettings(type_map=["Li", "P", "S"], figures=False)
    with pytest.raises(SeilabError, match="--partial"):
        analyze_trajectory(cut, s)
    res = analyze_trajectory(cut, settings=s, partial=True)
    assert any("truncated last frame (frame 4) ignored" in n for n in res.notes)
    assert res.partial and res.to_dict()["partial"] is True and "atom rows" in res.partial_reason
    assert res.summary()["n_frames"] == 4
