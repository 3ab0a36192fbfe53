"""The typer command writes JSON + figure; bad input gives SeilabError naming the field/file."""

import json

import numpy as np
import pytest
import typer
from ase import Atoms
from ase.io import write
from typer.testing import CliRunner

from seilab.cli.transport import transport
from seilab.errors import SeilabError


@pytest.fixture
def app():
    a = typer.Typer()
    a.command("transport")(transport)
    a.command("noop")(lambda: None)  # more than one command: the name is required on the line
    return a


def _write_traj(path, n=300, seed=0):
    rng = np.random.default_rng(seed)
    pos = np.cumsum(rng.normal(scale=0.05, size=(n, 6, 3)), axis=0) + 4.0
    frames = [Atoms("Li3S3", positions=p, cell=[8, 8, 8], pbc=True) for p in pos]
    write(path, frames, format="extxyz")


def test_transport_command_writes_json_and_figure(tmp_path, app):
    _write_traj(tmp_path / "md.extxyz")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["transport", str(tmp_path / "md.extxyz"), "--temperature", "900",
                                   "--timestep-ps", "0.01", "--out", str(out), "--n-blocks", "3",
                                   "--grad-mu", "Li=0.2,S=-0.3"])
    assert res.exit_code == 0, res.output
    d = json.loads((out / "onsager.json").read_text())
    assert d["species"] == ["Li", "S"] and d["units"]["L"] == "1/(eV*Angstrom*ps)"
    assert d["volume_A3"] == pytest.approx(512.0) and d["temperature_K"] == 900.0
    assert len(d["L_err"]) == 2 and d["provenance"]["inputs"][0]["sha256"]
    assert (out / "onsager.png").stat().st_size > 1000
    assert json.loads((out / "fluxes.json").read_text())["units"]["sign"] == "positive toward the metal"
    assert "wrote" in res.output


@pytest.mark.parametrize("args, needle", [
    (["missing.extxyz", "--temperature", "900", "--timestep-ps", "0.01"], "missing.extxyz: file not found"),
    (["md.extxyz", "--temperature", "-900", "--timestep-ps", "0.01"], "--temperature"),
    (["md.extxyz", "--temperature", "900", "--timestep-ps", "0"], "--timestep-ps"),
    (["md.extxyz", "--temperature", "900", "--timestep-ps", "0.01", "--fit-window", "a,b"], "--fit-window"),
    (["md.extxyz", "--temperature", "900", "--timestep-ps", "0.01", "--grad-mu", "Li:1"], "--grad-mu"),
])
def test_transport_command_bad_input(tmp_path, app, args, needle, monkeypatch):
    _write_traj(tmp_path / "md.extxyz", n=50)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["transport", *args, "--out", str(tmp_path / "o")])
    assert isinstance(res.exception, SeilabError), res.output
    assert needle in str(res.exception) and "\n" not in str(res.exception)


@pytest.mark.parametrize("n, extra, expected", [
    (1, [], "{p}: 1 frame, the Onsager estimator needs at least 20 (8, and 4 per block with --n-blocks 5); "
            "use a longer run or fewer --n-blocks"),
    (5, ["--n-blocks", "1"], "{p}: 5 frames, the Onsager estimator needs at least 8; use a longer run"),
    (50, ["--n-blocks", "2", "--stride", "10"],
     "{p}: 5 frames after --stride 10, the Onsager estimator needs at least 8; "
     "use a longer run or a smaller --stride (now 10)"),
])
def test_transport_too_few_frames_names_file_and_option(tmp_path, capsys, n, extra, expected):
    from seilab.cli import main

    p = tmp_path / "md.extxyz"
    _write_traj(p, n=n)
    capsys.readouterr()
    rc = main(["transport", str(p), "--temperature", "900", "--timestep-ps", "0.01",
               "--out", str(tmp_path / "o"), *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err == "error: " + expected.format(p=p)
    assert not (tmp_path / "o").exists()


def test_estimator_too_few_frames_says_how_many_are_needed():
    from seilab.transport.onsager import MIN_FRAMES, onsager_coefficients

    with pytest.raises(SeilabError) as exc:
        onsager_coefficients(np.zeros((1, 2, 3)), ["Li", "S"], 0.01, 100.0, 900.0)
    assert str(exc.value) == f"positions: 1 frame, the Onsager estimator needs at least {MIN_FRAMES} (a longer run)"
