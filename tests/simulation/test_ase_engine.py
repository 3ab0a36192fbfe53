"""The ASE engine: outputs, γ monitoring and halt, bitwise resume, NpT barostat sign."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seilab.errors import SeilabError
from seilab.md.dump import dump_steps
from seilab.md.engine import MDSpec, read_thermo_csv
from seilab.md.engines import run_md

ELEMENTS = ("Li", "P", "S")


def _spec(atoms, pot, **kw):
    base = dict(structure=atoms, potential=pot, elements=ELEMENTS, ensemble="nvt", steps=20, thermo_every=5,
                dump_every=10, restart_every=10, seed=7)
    base.update(kw)
    return MDSpec(**base)


def test_outputs_and_time_axis(tmp_path, small_interface, demo_pot):
    r = run_md(_spec(small_interface, demo_pot, gamma_every=10), tmp_path / "run", engine="ase")
    assert r.status == "finished" and r.steps_done == 20 and r.n_atoms == len(small_interface)
    rows = read_thermo_csv(r.thermo)
    assert [x["step"] for x in rows] == [0, 5, 10, 15, 20]
    assert rows[-1]["time_ps"] == pytest.approx(0.020)
    assert all(np.isfinite(x["pe_eV"]) and x["temperature_K"] > 0 for x in rows)
    assert [x["max_gamma"] is not None for x in rows] == [True, False, True, False, True]
    assert dump_steps(r.trajectory) == [0, 10, 20]
    assert (tmp_path / "run" / "restart" / "restart.20.npz").is_file()
    res = json.loads((tmp_path / "run" / "result.json").read_text())
    assert res["provenance"]["stage"] == "simulation-md" and res["status"] == "finished"
    assert r.atom_steps_per_s > 0
    # rerun of a finished run is a no-op
    again = run_md(_spec(small_interface, demo_pot, gamma_every=10), tmp_path / "run", engine="ase")
    assert again.status == "finished" and again.wall_s == 0.0


def test_resume_is_continuous_and_bitwise(tmp_path, small_interface, demo_pot):
    """A run stopped at step 20 and extended to 40 equals an uninterrupted 40-step run."""
    ref = run_md(_spec(small_interface, demo_pot, steps=40), tmp_path / "ref", engine="ase")
    first = run_md(_spec(small_interface, demo_pot, steps=20), tmp_path / "split", engine="ase")
    assert first.steps_done == 20
    # a 'kill' after the step-20 restart: leftovers beyond it must be cut, not duplicated
    with open(tmp_path / "split" / "thermo.csv", "a") as fh:
        fh.write("25,0.025,1,1,1,1,1,1,1,1,1,\n")
    second = run_md(_spec(small_interface, demo_pot, steps=40), tmp_path / "split", engine="ase")
    assert second.status == "finished" and second.segments == 2
    rows = read_thermo_csv(second.thermo)
    steps = [x["step"] for x in rows]
    assert steps == list(range(0, 45, 5))
    assert dump_steps(second.trajectory) == [0, 10, 20, 30, 40]
    ref_rows = read_thermo_csv(ref.thermo)
    assert [x["pe_eV"] for x in rows] == pytest.approx([x["pe_eV"] for x in ref_rows], abs=1e-9)
    assert (tmp_path / "split" / "dump.lammpstrj").read_text() == (tmp_path / "ref" / "dump.lammpstrj").read_text()


def test_other_settings_refuse_the_folder(tmp_path, small_interface, demo_pot):
    run_md(_spec(small_interface, demo_pot, steps=5), tmp_path / "run", engine="ase")
    with pytest.raises(SeilabError, match="different run"):
        run_md(_spec(small_interface, demo_pot, steps=5, temperature_K=500), tmp_path / "run", engine="ase")


def test_gamma_halt_and_extrapolative_frames(tmp_path, small_interface, demo_pot):
    r = run_md(_spec(small_interface, demo_pot, steps=30, gamma_every=10, gamma_dump_threshold=0.01,
                     gamma_halt=0.02), tmp_path / "run", engine="ase")
    assert r.status == "halted" and r.steps_done == 0
    assert r.extrapolative is not None and r.max_gamma > 0.02
    from ase.io import read

    frames = read(r.extrapolative, index=":")
    assert len(frames) == 1 and "gamma" in frames[0].arrays
    assert frames[0].info["max_gamma"] == pytest.approx(float(frames[0].arrays["gamma"].max()))


def test_npt_barostat_sign_with_any_calculator(tmp_path):
    """LangevinBAOAB NpT (here with EMT, any ASE calculator works): high pressure compresses."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    cu = bulk("Cu", cubic=True).repeat((2, 2, 2))
    vols = {}
    for p in (0.0, 200_000.0):  # bar
        spec = MDSpec(structure=cu, potential=None, calculator=EMT(), elements=("Cu",), ensemble="npt",
                      barostat="iso", pressure_bar=p, temperature_K=300, steps=150, thermo_every=25,
                      dump_every=150, restart_every=150, barostat_damp_fs=50, seed=1)
        r = run_md(spec, tmp_path / f"p{int(p)}", engine="ase")
        vols[p] = np.mean([x["volume_A3"] for x in read_thermo_csv(r.thermo)[-3:]])
    assert vols[200_000.0] < 0.97 * vols[0.0]


def test_z_barostat_not_available_in_ase(tmp_path, small_interface, demo_pot):
    with pytest.raises(SeilabError, match="barostat"):
        run_md(_spec(small_interface, demo_pot, ensemble="npt", barostat="z"), tmp_path / "r", engine="ase")
