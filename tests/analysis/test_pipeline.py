"""End to end: dump file → analyze_trajectory / the `analyze` command → analysis.json + figures."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from pydantic import ValidationError

from seilab.cli.analysis import analyze, load_analysis_settings
from seilab.analysis.pipeline import analyze_trajectory
from seilab.settings.analysis import AnalysisSettings
from seilab.analysis.synthetic import layered_frame
from seilab.analysis.trajectory import write_lammps_dump
from seilab.errors import SeilabError

LI, LI2S, LI3P, SSE = {"Li": 1}, {"Li": 2, "S": 1}, {"Li": 3, "P": 1}, {"Li": 7, "P": 3, "S": 11}


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    """8 frames, 1,000 atoms: Li | Li3P | Li2S | Li7P3S11 with a growing interphase."""
    ts = np.array([0, 1, 2, 4, 8, 16, 32, 64], float)
    frames = []
    for k, t in enumerate(ts):
        h = 3.0 * t**0.5
        regions = [(h, 40, LI), (h / 2, h, LI3P), (-h, h / 2, LI2S), (-40, -h, SSE)]
        frames.append(
            layered_frame(regions, (12, 12, 80), spacing=(2.4, 2.4, 2.0), jitter=0.2, seed=k, time_ps=t, index=k)
        )
        frames[-1].step = int(t * 1000)
    path = tmp_path_factory.mktemp("traj") / "interface.lammpstrj"
    return write_lammps_dump(path, frames, type_map=["Li", "P", "S"])


def test_analyze_trajectory_writes_json_and_figures(dump, tmp_path):
    s = AnalysisSettings(type_map=["Li", "P", "S"], timestep_fs=1.0, phase_coordination_weight=0.0, figure_dpi=40,
                         fold_interfaces=False)  # one interface grows here; the box edge is a fixed boundary
    res = analyze_trajectory(dump, s, out_dir=tmp_path)

    def strict(tok):
        raise ValueError(f"non-standard JSON constant {tok}")

    data = json.loads((tmp_path / "analysis.json").read_text(), parse_constant=strict)
    prov = data["provenance"]
    assert prov["stage"] == "analysis"
    assert prov["inputs"][0]["path"] == str(dump) and len(prov["inputs"][0]["sha256"]) == 64
    assert prov["settings"]["type_map"] == ["Li", "P", "S"]
    np.testing.assert_allclose(data["times_ps"], [0, 1, 2, 4, 8, 16, 32, 64])
    assert data["units"]["time"] == "ps"
    assert set(data["coordination"]["mean_cn"]) == {"P-Li", "S-Li", "Li-P", "P-P", "P-S"}
    assert len(data["coordination"]["mean_cn"]["S-Li"]) == 8
    assert data["cutoff_sources"]["P-Li"] == "settings"
    assert data["summary"]["layer_sequence"] == ["Li metal", "Li3P", "Li2S", "Li7P3S11"]
    # interphase thickness follows 3 t^0.5 on each side (grid planes every 2 Å)
    th = np.array(data["growth"]["thickness_A"])
    np.testing.assert_allclose(th[3:], 6.0 * np.array([4, 8, 16, 32, 64]) ** 0.5, atol=3.0)
    assert data["growth"]["fit_total"]["fast"]["exponent"] == pytest.approx(0.5, abs=0.1)
    for name in ("thickness", "flux", "coordination", "phase_map", "layers", "nanocrystals", "snapshots"):
        png = tmp_path / f"{name}.png"
        assert png.is_file() and png.stat().st_size > 2000, name
    assert res.summary()["n_frames"] == 8


def test_analyze_command_function(dump, tmp_path, capsys):
    out = tmp_path / "cli"
    analyze(dump, type_map="Li,P,S", out=out, stride=2, no_figures=True)
    text = capsys.readouterr().out
    assert "analysed 4 frames of" in text and "wrote" in text
    data = json.loads((out / "analysis.json").read_text())
    np.testing.assert_allclose(data["times_ps"], [0, 2, 8, 32])
    assert not list(out.glob("*.png"))
    # per-atom phases of the first and last analysed frames: file frames 0 and 6 (stride 2), steps 0 and 32000
    atoms = data["phases"]["atoms"]
    assert [(f["frame"], f["step"], f["n_atoms"]) for f in atoms["frames"]] == [(0, 0, 1000), (6, 32000, 1000)]
    last = atoms["frames"][-1]["labels"]
    assert {atoms["codes"][c] for c in set(last)} >= {"Li metal", "Li2S", "Li7P3S11"}, data["summary"]["layer_sequence"]


def test_analyze_registers_as_typer_command(dump, tmp_path):
    import typer
    from typer.testing import CliRunner

    app = typer.Typer()
    app.command("analyze")(analyze)

    @app.command("other")
    def _other():  # a second command so that "analyze" is a sub-command as in seilab.cli
        pass

    r = CliRunner().invoke(
        app,
        ["analyze", str(dump), "--type-map", "Li,P,S", "--out", str(tmp_path / "o"), "--stride", "4", "--no-figures"],
    )
    assert r.exit_code == 0, r.output
    assert "analysed 2 frames" in r.output
    assert (tmp_path / "o" / "analysis.json").is_file()
    h = CliRunner().invoke(app, ["analyze", "--help"])
    assert "--type-map" in h.output and "--stride" in h.output


def test_analyze_command_errors(dump, tmp_path):
    with pytest.raises(SeilabError, match="type_map"):
        analyze(dump, type_map="Li", out=tmp_path / "x", no_figures=True)
    with pytest.raises(SeilabError, match="not found"):
        analyze(tmp_path / "missing.lammpstrj", type_map="Li,P,S", out=tmp_path / "y")


def test_cutoffs_from_last_frame(dump):
    s = AnalysisSettings(
        type_map=["Li", "P", "S"], coordination_cutoffs_A=None, cutoff_frame="last", figures=False, structure_every=4
    )
    res = analyze_trajectory(dump, s)
    assert res.cutoff_sources["S-Li"] == "rdf-minimum (last frame)"
    assert res.cutoff_sources["Li-P"] == "conjugate" or res.cutoff_sources["Li-P"].startswith("rdf")
    # user cutoffs merge over the defaults; a conjugate key replaces the default pair
    c = AnalysisSettings(coordination_cutoffs_A={"Li-P": 3.0}).coordination_cutoffs_A
    assert c == {"S-Li": 3.2, "P-P": 2.6, "P-S": 2.6, "Li-P": 3.0}


def test_settings_file_and_validation(tmp_path):
    good = tmp_path / "campaign.yaml"
    good.write_text("name: x\nanalysis:\n  bin_width_A: 1.5\n  type_map: [Li, P, S]\n")
    s = load_analysis_settings(good, stride=3)
    assert s.bin_width_A == 1.5 and s.stride == 3 and s.type_map == ["Li", "P", "S"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("analysis:\n  bin_width_A: -1\n")
    with pytest.raises(SeilabError, match=r"bad.yaml: analysis.bin_width_A"):
        load_analysis_settings(bad)
    bad.write_text("analysis:\n  bin_widht_A: 1\n")
    with pytest.raises(SeilabError, match="unknown key"):
        load_analysis_settings(bad)
    bad.write_text("analysis:\n  bin_width_A: 1.5\nanalysis:\n  stride: 2\n")  # the first would be lost
    with pytest.raises(SeilabError, match=r"bad.yaml: key 'analysis' appears twice \(lines 1 and 3\)"):
        load_analysis_settings(bad)
    for kw in (
        {"coordination_pairs": ["PLi"]},
        {"coordination_cutoffs_A": {"P-Li": 0}},
        {"crystal_q6_range": (0.7, 0.3)},
        {"start_frame": 5, "stop_frame": 2},
        {"metal_species": []},
    ):
        with pytest.raises(ValidationError):
            AnalysisSettings(**kw)


def test_settings_module_is_import_light():
    # the settings live in seilab.settings (the stage package itself imports its numpy code since the lazy
    # shims went): what the config loader imports stays free of numpy, scipy and matplotlib
    code = (
        "import sys, seilab.settings.analysis, seilab.config; "
        "print(any(m in sys.modules for m in ('numpy', 'scipy', 'matplotlib')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "PYTHONPATH": str(__import__("pathlib").Path(__file__).parents[2] / "src")},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_triclinic_and_slab_descriptions():
    """The same periodic system in a sheared (triclinic) cell gives identical results; a slab with
    vacuum (non-periodic z) gives the same interphase thickness and layers."""
    from seilab.analysis.pipeline import analyze_frames
    from seilab.analysis.trajectory import Frame

    frames = []
    for k, t in enumerate([0.0, 1.0, 4.0, 9.0]):
        h = 3 * t**0.5
        frames.append(
            layered_frame(
                [(h, 30, LI), (-h, h, LI2S), (-30, -h, SSE)],
                (14, 14, 60),
                spacing=(2.8, 2.8, 2.0),
                jitter=0.3,
                seed=k,
                time_ps=t,
                index=k,
            )
        )

    def shear(fr):
        c = fr.cell.copy()
        c[2] = c[2] + c[0] + c[1]
        return Frame(fr.index, fr.time_ps, c, fr.origin, fr.pbc, fr.ids, fr.symbols, fr.positions, fr.unwrapped)

    def slab(fr):
        c, o = fr.cell.copy(), fr.origin.copy()
        c[2, 2] += 40.0
        o[2] -= 20.0
        return Frame(
            fr.index, fr.time_ps, c, o, np.array([True, True, False]), fr.ids, fr.symbols, fr.positions, fr.unwrapped
        )

    # one interface grows here; the box edge is a fixed boundary
    s = AnalysisSettings(figures=False, phase_coordination_weight=0.0, fold_interfaces=False)
    ra = analyze_frames(frames, s)
    rb = analyze_frames([shear(f) for f in frames], s)
    rc = analyze_frames([slab(f) for f in frames], s)
    np.testing.assert_allclose(ra.growth.thickness_A, 6 * np.array([0, 1, 2, 3]), atol=1.5)
    np.testing.assert_allclose(rb.growth.thickness_A, ra.growth.thickness_A)
    for k in ra.coordination:
        np.testing.assert_allclose(rb.coordination[k], ra.coordination[k])
    np.testing.assert_allclose(rc.growth.thickness_A, ra.growth.thickness_A, atol=0.5)
    assert ra.layer_names == rb.layer_names == rc.layer_names == ["Li metal", "Li2S", "Li7P3S11"]


def test_coordination_time_windows_are_atom_weighted(dump):
    base = dict(type_map=["Li", "P", "S"], figures=False)
    one = analyze_trajectory(dump, AnalysisSettings(**base))
    win = analyze_trajectory(dump, AnalysisSettings(coordination_window=3, **base))
    assert win.coordination_times_ps.tolist() == pytest.approx([1.0, (4 + 8 + 16) / 3, 48.0])
    for p in ("S-Li", "P-Li"):
        m, c = one.coordination[p], one.coordination_centres[p]
        for w, sl in enumerate((slice(0, 3), slice(3, 6), slice(6, 8))):
            num = np.nansum(m[sl] * c[sl], axis=0)
            den = c[sl].sum(axis=0)
            expect = np.where(den > 0, num / np.maximum(den, 1), np.nan)
            np.testing.assert_allclose(win.coordination[p][w], expect)
            np.testing.assert_array_equal(win.coordination_centres[p][w], den)
