"""LAMMPS ML-PACE engine: agreement with PyACECalculator, MD outputs, γ, MPI, restart after a kill.

Skipped (with the reason) when no LAMMPS with ML-PACE is built.
"""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from seilab.errors import SeilabError
from seilab.md.dump import dump_steps
from seilab.md.engine import MDSpec, read_thermo_csv
from seilab.md.engines import run_md
from seilab.md.lammps import LammpsEngine, build_info, parse_log

ELEMENTS = ("Li", "P", "S")


@pytest.fixture(scope="module")
def rattled(small_interface):
    a = small_interface.copy()
    a.positions += np.random.default_rng(3).normal(0, 0.05, a.positions.shape)
    return a


def _spec(atoms, pot, **kw):
    base = dict(structure=atoms, potential=pot, elements=ELEMENTS, ensemble="npt", steps=40, thermo_every=10,
                dump_every=10, restart_every=20, seed=11)
    base.update(kw)
    return MDSpec(**base)


def test_build_info_records_version_and_packages(lmp):
    info = build_info(lmp)
    assert "ML-PACE" in info["packages"]
    assert "Feb" in info["lammps_version"] or "2025" in info["lammps_version"]


@pytest.mark.parametrize("packages, threads, flags", [
    (["ML-PACE"], 1, []),
    (["ML-PACE", "OPENMP"], 4, ["-sf", "omp", "-pk", "omp", "4"]),
    (["ML-PACE"], 4, None),
])
def test_omp_threads_need_the_openmp_package(tmp_path, packages, threads, flags):
    from seilab.md.lammps import omp_flags

    lmp = tmp_path / packages[-1] / "bin" / "lmp"
    lmp.parent.mkdir(parents=True)
    lmp.write_text("#!/bin/sh\n")
    (lmp.parent.parent / "build-info.json").write_text(json.dumps({"packages": packages}))
    if flags is None:
        with pytest.raises(SeilabError, match="simulation.omp_threads: .* has no OPENMP package"):
            omp_flags(lmp, threads)
    else:
        assert omp_flags(lmp, threads) == flags


def test_energy_forces_agree_with_pyace(lmp, rattled, demo_pot):
    """pair_style pace (.yace) and pace/extrapolation (.yaml+.asi) vs PyACECalculator: 1e-6 eV."""
    from pyace import PyACECalculator

    calc = PyACECalculator(str(demo_pot.yaml))
    calc.set_active_set(str(demo_pot.asi))
    a = rattled.copy()
    a.calc = calc
    e_ref, f_ref, s_ref = a.get_potential_energy(), a.get_forces(), a.get_stress()
    g_ref = np.asarray(calc.results["gamma"])
    eng = LammpsEngine()
    sp = eng.single_point(rattled, demo_pot, ELEMENTS)
    assert abs(sp["energy"] - e_ref) < 1e-6
    assert np.abs(sp["forces"] - f_ref).max() < 1e-6
    assert np.abs(sp["stress"] - s_ref).max() < 1e-6
    ex = eng.single_point(rattled, demo_pot, ELEMENTS, extrapolation=True)
    assert abs(ex["energy"] - e_ref) < 1e-6
    assert np.abs(ex["gamma"] - g_ref).max() < 1e-6


def test_npt_run_outputs(lmp, tmp_path, small_interface, demo_pot):
    r = run_md(_spec(small_interface, demo_pot, gamma_every=10), tmp_path / "run", engine="lammps")
    assert r.status == "finished" and r.steps_done == 40 and r.n_atoms == len(small_interface)
    rows = read_thermo_csv(r.thermo)
    assert [x["step"] for x in rows] == [0, 10, 20, 30, 40]
    assert rows[-1]["time_ps"] == pytest.approx(0.040)
    assert all(x["max_gamma"] is not None and x["max_gamma"] > 0 for x in rows)
    assert dump_steps(r.trajectory) == [0, 10, 20, 30, 40]
    # readable by ASE (element column) and by the analysis reader
    from ase.io import read

    frames = read(r.trajectory, format="lammps-dump-text", index=":")
    assert len(frames) == 5 and frames[0].get_chemical_symbols() == small_interface.get_chemical_symbols()
    assert r.info["lammps_version"] and "ML-PACE" in r.info["lammps_packages"]
    res = json.loads((tmp_path / "run" / "result.json").read_text())
    assert res["provenance"]["lammps"]["packages"] == r.info["lammps_packages"]
    assert r.atom_steps_per_s > 0


def test_ase_and_lammps_md_start_identically(lmp, tmp_path, small_interface, demo_pot):
    """Same structure, same potential: step-0 potential energy of both engines agree to 1e-6 eV."""
    kw = dict(ensemble="nve", steps=1, thermo_every=1, dump_every=1, restart_every=1, velocities=False)
    ra = run_md(_spec(small_interface, demo_pot, **kw), tmp_path / "a", engine="ase")
    rl = run_md(_spec(small_interface, demo_pot, **kw), tmp_path / "l", engine="lammps")
    ea, el = read_thermo_csv(ra.thermo), read_thermo_csv(rl.thermo)
    assert abs(ea[0]["pe_eV"] - el[0]["pe_eV"]) < 1e-6
    assert abs(ea[1]["pe_eV"] - el[1]["pe_eV"]) < 1e-5  # one velocity-Verlet step from rest


def test_gamma_halt(lmp, tmp_path, small_interface, demo_pot):
    r = run_md(_spec(small_interface, demo_pot, steps=100, gamma_every=10, gamma_dump_threshold=0.01,
                     gamma_halt=0.02), tmp_path / "run", engine="lammps")
    assert r.status == "halted" and r.steps_done < 100
    assert r.extrapolative is not None and dump_steps(r.extrapolative)
    assert "f_pace_gamma" in r.extrapolative.read_text()
    again = run_md(_spec(small_interface, demo_pot, steps=100, gamma_every=10, gamma_dump_threshold=0.01,
                         gamma_halt=0.02), tmp_path / "run", engine="lammps")
    assert again.status == "halted" and again.wall_s == 0.0


def _kill_after_restart(eng, spec, work, after_step: int) -> int:
    """Start (or resume) the run, SIGKILL LAMMPS a little after it wrote a restart file past ``after_step``.

    Returns the step of the newest restart file, where the next segment resumes.
    """
    from seilab.md.engine import restart_files

    proc = eng.start(spec, work)
    t0 = time.time()
    while (not [s for s, _ in restart_files(work) if s > after_step] and proc.poll() is None
           and time.time() - t0 < 120):
        time.sleep(0.02)
    time.sleep(0.3)  # let it write some frames past the restart step
    assert proc.poll() is None, "LAMMPS finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return restart_files(work)[-1][0]


@pytest.fixture(scope="module")
def killed_twice(lmp, tmp_path_factory, small_interface, demo_pot):
    """A 1500-step run killed twice (each time past a new restart file), then finished by run_md.

    ``gamma_dump_threshold=0`` puts every γ step into extrapolative.dump, so it is resumed as well.
    """
    spec = _spec(small_interface, demo_pot, steps=1500, thermo_every=10, dump_every=10, restart_every=50,
                 gamma_every=10, gamma_dump_threshold=0.0)
    work = tmp_path_factory.mktemp("killed_twice") / "run"
    eng = LammpsEngine()
    first = _kill_after_restart(eng, spec, work, -1)
    killed_steps = dump_steps(work / "dump.lammpstrj")
    assert killed_steps and killed_steps[-1] < spec.steps
    second = _kill_after_restart(eng, spec, work, first)
    assert first < second < spec.steps
    r = run_md(spec, work, engine="lammps")
    return spec, work, r, (first, second)


def test_restart_after_kill(killed_twice):
    """Kill LAMMPS twice after new restart files, resume: continuous time axis, no duplicate frames/rows,
    dumps that a strict parser reads (no stray ITEM: TIME header at the truncation points)."""
    spec, work, r, (first, second) = killed_twice
    assert r.status == "finished" and r.segments == 3 and len(r.info["resumed_from"]) == 2
    steps = dump_steps(r.trajectory)
    assert steps == list(range(0, spec.steps + 1, spec.dump_every))
    rows = read_thermo_csv(r.thermo)
    assert [x["step"] for x in rows] == list(range(0, spec.steps + 1, spec.thermo_every))
    t = np.array([x["time_ps"] for x in rows])
    assert np.allclose(np.diff(t), spec.thermo_every * spec.timestep_fs / 1000)
    gamma = (work / "gamma.csv").read_text().splitlines()[1:]
    assert [int(g.split(",")[0]) for g in gamma] == list(range(0, spec.steps + 1, spec.gamma_every))
    # the later segments read the restart files, never reset the step counter
    for seg, start in ((1, first), (2, second)):
        text = (work / f"in.seg{seg:03d}.lammps").read_text()
        assert f"read_restart restart/restart.{start}" in text and "reset_timestep" not in text
        log = parse_log(work / f"log.seg{seg:03d}.lammps")
        assert log["rows"][0]["step"] == start
    # both dumps are well-formed after the two resumes (the strict parser lives in test_files.py,
    # importable because pytest puts this test folder on sys.path)
    from test_files import strict_dump_frames

    assert r.extrapolative == work / "extrapolative.dump"
    for path, every in ((r.trajectory, spec.dump_every), (r.extrapolative, spec.gamma_every)):
        frames = strict_dump_frames(path)
        assert [f["step"] for f in frames] == list(range(0, spec.steps + 1, every)), path.name
        assert all(f["n_atoms"] == r.n_atoms for f in frames)
        assert all(f["time"] == pytest.approx(f["step"] * spec.timestep_fs / 1000) for f in frames)
        text = path.read_text()
        assert text.count("ITEM: TIME\n") == text.count("ITEM: TIMESTEP\n") == len(frames), path.name
    assert strict_dump_frames(r.extrapolative)[0]["columns"][-1] == "f_pace_gamma"


def test_resumed_lammps_dumps_read_in_ovito(killed_twice):
    """OVITO's reader (``ovito`` from PyPI, when installed) sees each frame of the twice-resumed dumps once."""
    pytest.importorskip("ovito")
    from test_files import ovito_frames

    spec, work, r, _ = killed_twice
    for path, every in ((r.trajectory, spec.dump_every), (r.extrapolative, spec.gamma_every)):
        frames = ovito_frames(path)
        assert [s for s, _, _ in frames] == list(range(0, spec.steps + 1, every)), path.name
        assert all(n == r.n_atoms for _, _, n in frames)
        assert all(t == pytest.approx(s * spec.timestep_fs / 1000) for s, t, _ in frames)


def test_mpi_two_ranks_match_serial(lmp, tmp_path, small_interface, demo_pot):
    if not build_info(lmp).get("mpi"):
        pytest.skip("LAMMPS built without MPI")
    kw = dict(ensemble="nve", steps=10, thermo_every=10, dump_every=10, restart_every=10)
    r1 = run_md(_spec(small_interface, demo_pot, **kw), tmp_path / "serial", engine="lammps")
    r2 = run_md(_spec(small_interface, demo_pot, mpi_ranks=2, **kw), tmp_path / "mpi", engine="lammps")
    a, b = read_thermo_csv(r1.thermo), read_thermo_csv(r2.thermo)
    assert abs(a[0]["pe_eV"] - b[0]["pe_eV"]) < 1e-6
    assert abs(a[-1]["etotal_eV"] - b[-1]["etotal_eV"]) < 1e-4


def test_lammps_error_is_one_line(lmp, tmp_path, small_interface, demo_pot, monkeypatch):
    """A LAMMPS failure (here: an element the potential does not know) becomes a one-line SeilabError."""
    a = small_interface.copy()
    a.symbols[0] = "Cu"
    with pytest.raises(SeilabError) as exc:
        run_md(_spec(a, demo_pot, elements=("Li", "P", "S", "Cu")), tmp_path / "run", engine="lammps")
    assert "LAMMPS failed" in str(exc.value) and "\n" not in str(exc.value)
