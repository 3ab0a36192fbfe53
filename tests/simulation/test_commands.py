"""`seilab simulate CONFIG`: the stage end to end (ASE engine always; LAMMPS when built)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from seilab.provenance import read_json
from seilab.md.dump import dump_steps
from seilab.md.engine import read_thermo_csv


def _config(tmp_path: Path, **simulation) -> Path:
    sim = {"n_atoms": 200, "steps": 20, "thermo_every": 5, "dump_every": 10, "restart_every": 10,
           "gamma_every": 10, "aspect_ratio": 1.0}
    sim.update(simulation)
    data = {"name": "t", "output": str(tmp_path / "out"),
            "reactants": {"anode": "Li_bcc", "electrolyte": "Li7P3S11"},
            "phases": [{"name": "Li_bcc"}, {"name": "Li7P3S11"}], "simulation": sim}
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def _main(args):
    from seilab.cli import main

    return main([str(a) for a in args])


def _registered() -> bool:
    from seilab.cli import app

    return any(c.name == "simulate" for c in app.registered_commands)


def test_simulate_ase(tmp_path, demo_pot, capsys):
    if not _registered():
        pytest.skip("seilab.cli does not register `simulate`")
    cfg = _config(tmp_path, engine="ase")
    assert _main(["simulate", cfg, "--potential", demo_pot.yaml]) == 0
    latest = read_json(tmp_path / "out" / "simulation" / "latest.json")
    assert latest["status"] == "finished" and latest["engine"] == "ase"
    assert 150 <= latest["n_atoms"] <= 250
    assert [r["step"] for r in read_thermo_csv(Path(latest["thermo"]))] == [0, 5, 10, 15, 20]
    assert (tmp_path / "out" / "simulation" / "interface_200.extxyz").is_file()
    assert str(tmp_path / "out") + "/" not in (tmp_path / "out" / "simulation" / "latest.json").read_text()
    # the campaign folder moved elsewhere (the original gone), more steps: the run folder in the moved
    # campaign is extended, and every path it records is under the new place
    (tmp_path / "out").rename(tmp_path / "moved")
    cfg.write_text(cfg.read_text().replace(str(tmp_path / "out"), str(tmp_path / "moved")))
    assert _main(["simulate", cfg, "--potential", demo_pot.yaml, "--steps", "30"]) == 0
    latest2 = read_json(tmp_path / "moved" / "simulation" / "latest.json")
    moved_run = str(latest["run_dir"]).replace(str(tmp_path / "out"), str(tmp_path / "moved"))
    assert latest2["run_dir"] == moved_run and latest2["steps_done"] == 30 and latest2["segments"] == 2
    assert dump_steps(Path(latest2["trajectory"])) == [0, 10, 20, 30]
    assert latest2["trajectory"].startswith(str(tmp_path / "moved"))


def test_simulate_lammps(tmp_path, demo_pot, lmp):
    if not _registered():
        pytest.skip("seilab.cli does not register `simulate`")
    cfg = _config(tmp_path, engine="lammps")
    assert _main(["simulate", cfg, "--potential", demo_pot.yaml]) == 0
    latest = read_json(tmp_path / "out" / "simulation" / "latest.json")
    assert latest["status"] == "finished" and latest["info"]["lammps_version"]


def test_bad_input_is_one_line_error(tmp_path, capsys):
    cfg = _config(tmp_path, engine="ase")
    assert _main(["simulate", cfg, "--potential", tmp_path / "missing.yaml"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "missing.yaml" in err and "\n" not in err
    assert _main(["simulate", cfg, "--potential", tmp_path / "missing.yaml", "--engine", "gromacs"]) == 2
    assert "simulation.engine" in capsys.readouterr().err
    # no trained potential and no --potential: says what to do
    assert _main(["simulate", cfg]) == 2
    err = capsys.readouterr().err
    assert "--potential" in err and "\n" not in err.strip()
    bad = _config(tmp_path, ensemble="npx")
    assert _main(["simulate", bad]) == 2
    assert "simulation.ensemble" in capsys.readouterr().err
