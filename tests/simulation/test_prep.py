"""The fresh start's preparation (minimise at fixed cell, then an NVT ramp to the run temperature), in both
engines: it removes the built interface's close contacts, is done once (not again on resume), and its runs
are not counted as production (thermo rows, dump frames, throughput)."""

from __future__ import annotations

import numpy as np
import pytest

from seilab.errors import SeilabError
from seilab.md.dump import dump_steps
from seilab.md.engine import MDSpec, read_thermo_csv
from seilab.md.engines import run_md
from seilab.md.lammps import parse_log

ELEMENTS = ("Li", "P", "S")


def _spec(atoms, pot, **kw):
    base = dict(structure=atoms, potential=pot, elements=ELEMENTS, ensemble="nvt", steps=20, thermo_every=5,
                dump_every=10, restart_every=10, seed=7, minimize_steps=40, minimize_fmax_eV_per_A=0.05,
                equilibration_steps=20, equilibration_start_K=50.0)
    base.update(kw)
    return MDSpec(**base)


def _check_prepared(r, start_atoms):
    prep = r.info["prep"]
    assert prep["fmax_end_eV_per_A"] < prep["fmax_start_eV_per_A"]
    assert prep["pe_end_eV"] < prep["pe_start_eV"]
    assert prep["equilibration_steps"] == 20 and 0 < prep["temperature_end_K"] < 3 * 300
    assert "Langevin thermostat on every atom, damping 100 fs" in r.info["thermostat"]
    # production starts at step 0 from the prepared state, not from the built structure
    assert [x["step"] for x in read_thermo_csv(r.thermo)][0] == 0
    assert dump_steps(r.trajectory) == [0, 10]
    from ase.io import read

    first = read(r.trajectory, format="lammps-dump-text", index=0)
    assert np.abs(first.positions - start_atoms.positions).max() > 1e-3


@pytest.mark.parametrize("engine", ["ase", "lammps"])
def test_prepared_start_and_resume(engine, tmp_path, small_interface, demo_pot, request):
    if engine == "lammps":
        request.getfixturevalue("lmp")
    r = run_md(_spec(small_interface, demo_pot, steps=10), tmp_path / "run", engine=engine)
    assert r.status == "finished" and r.steps_done == 10
    _check_prepared(r, small_interface)
    prep = dict(r.info["prep"])
    # extended: resumes from its restart, the preparation is not repeated and its numbers stay
    r2 = run_md(_spec(small_interface, demo_pot, steps=20), tmp_path / "run", engine=engine)
    assert r2.segments == 2 and r2.steps_done == 20
    assert r2.info["prep"] == pytest.approx(prep)
    assert [x["step"] for x in read_thermo_csv(r2.thermo)] == [0, 5, 10, 15, 20]
    if engine == "lammps":
        inputs = sorted((tmp_path / "run").glob("in.seg*.lammps"))
        assert "minimize" in inputs[0].read_text() and "minimize" not in inputs[-1].read_text()
        # throughput counts production steps only (the preparation's loops are dropped)
        loops = [lp for p in sorted((tmp_path / "run").glob("log.seg*.lammps")) for lp in parse_log(p)["loops"]]
        assert sum(lp["steps"] for lp in loops) == 20


def test_a_different_preparation_is_another_run(tmp_path, small_interface, demo_pot):
    run_md(_spec(small_interface, demo_pot, steps=10), tmp_path / "run", engine="ase")
    with pytest.raises(SeilabError, match="holds a different run"):
        run_md(_spec(small_interface, demo_pot, steps=10, equilibration_steps=30), tmp_path / "run", engine="ase")


def test_preparation_settings_are_checked(small_interface, demo_pot):
    with pytest.raises(SeilabError, match="^equilibration_start_K"):
        _spec(small_interface, demo_pot, equilibration_start_K=500.0).validate()
    with pytest.raises(SeilabError, match="^minimize_steps"):
        _spec(small_interface, demo_pot, minimize_steps=-1).validate()


def test_parse_log_reads_the_preparation_and_forgets_its_loops(tmp_path):
    log = tmp_path / "log.lammps"
    log.write_text("\n".join([
        "Step Temp PotEng Fmax", "0 0 -10 3.5",
        "Loop time of 0.5 on 1 procs for 0 steps with 10 atoms",
        "SEILAB_PREP fmax_start_eV_per_A 3.5 pe_start_eV -10",
        "Loop time of 2.0 on 1 procs for 40 steps with 10 atoms",
        "SEILAB_PREP fmax_end_eV_per_A 0.04 pe_end_eV -12 minimize_steps 40",
        "SEILAB_PREP_END",
        "Step Time Temp Press TotEng PotEng KinEng Volume Lx Ly Lz",
        "0 0 300 1 -11 -12 1 1000 10 10 10",
        "Loop time of 1.0 on 1 procs for 10 steps with 10 atoms",
    ]) + "\n")
    p = parse_log(log)
    assert p["prep"] == {"fmax_start_eV_per_A": 3.5, "pe_start_eV": -10.0, "fmax_end_eV_per_A": 0.04,
                         "pe_end_eV": -12.0, "minimize_steps": 40.0}
    assert [lp["steps"] for lp in p["loops"]] == [10] and [r["step"] for r in p["rows"]] == [0]


@pytest.mark.parametrize("engine", ["ase", "lammps"])
def test_the_equilibration_arrives_at_the_run_temperature(engine, tmp_path, small_interface, demo_pot, request):
    """With the production's weak 1 ps damp the ramp would lag far behind (the demo's 200 steps ended at
    87 K); the equilibration has its own strong damp and holds T over its second half."""
    if engine == "lammps":
        request.getfixturevalue("lmp")
    r = run_md(_spec(small_interface, demo_pot, steps=10, minimize_steps=200, equilibration_steps=200,
                     thermostat_damp_fs=1000.0), tmp_path / "run", engine=engine)
    assert r.info["prep"]["temperature_end_K"] == pytest.approx(300.0, abs=75.0)
    slow = run_md(_spec(small_interface, demo_pot, steps=10, minimize_steps=200, equilibration_steps=200,
                        thermostat_damp_fs=1000.0, equilibration_damp_fs=1000.0), tmp_path / "slow", engine=engine)
    # the production's damp does not get there: it lags behind the ramp from a relaxed start, and it cannot
    # remove the heat a potential releases while the structure settles (the small fixture fit of a fresh
    # machine released ~40 eV in its minimisation and ended at 383 K)
    assert abs(slow.info["prep"]["temperature_end_K"] - 300.0) > 75.0
