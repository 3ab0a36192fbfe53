"""A tiny EMT campaign: runs, writes files, resumes, and skips finished work."""

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from seilab.transport.campaign import (Phase, count_complete_frames, run_campaign,
                                                supercell_repeats)
from seilab.settings.transport import TransportMD, TransportSettings
from seilab.transport.trajectory import load_trajectory
from seilab.errors import SeilabError
from seilab.provenance import is_valid_artifact
from fixtures.killing import killed_transport_run


class CountingEMT(EMT):
    """EMT that counts force evaluations and can fail after ``fail_after`` of them."""

    def __init__(self, fail_after=None, **kw):
        super().__init__(**kw)
        self.calls = 0
        self.fail_after = fail_after

    def calculate(self, *args, **kwargs):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("simulated crash")
        super().calculate(*args, **kwargs)


def cuau():
    a = bulk("Cu", "fcc", a=3.7, cubic=True)
    a.symbols[::2] = "Au"
    return a


def small(**kw):
    # npt_steps 0 and no amorphisation check: these tests count force calls of the melt, equilibration and
    # production (the NpT stage and the check have their own tests below)
    base = dict(temperatures_K=[900, 1200], steps=200, sample_every=2, equilibration_steps=20, npt_steps=0,
                amorphous_max_order=None,
                target_atoms=16, melt_steps=30, melt_temperature_K=2500, n_blocks=2, flush_every=20)
    base.update(kw)
    md = {k: base.pop(k) for k in list(base) if k in TransportMD.model_fields}  # the MD block's keys
    return TransportSettings(**base, md=md)


def test_campaign_runs_writes_files_and_rerun_skips(tmp_path):
    calc = CountingEMT()
    s = small()
    progress = []
    entries = run_campaign([Phase("CuAu", cuau())], calc, tmp_path, s, progress=progress.append)
    assert [(e.phase, e.temperature_K, e.status) for e in entries] == [
        ("CuAu", 900.0, "computed"), ("CuAu", 1200.0, "computed")]
    # melt + 2 x (equilibration + production) force calls, plus a few initial ones
    assert calc.calls >= 30 + 2 * (20 + 200)
    assert progress[-1] == {"phase": "CuAu", "temperature_K": 1200.0, "frames_done": 101, "frames_total": 101}
    for e in entries:
        assert is_valid_artifact(e.trajectory) and e.result_path.is_file()
        assert count_complete_frames(e.trajectory, truncate=False) == 101
        tr = load_trajectory(e.trajectory)  # refuses wrapped files: the MD output is unwrapped
        assert len(tr.species) == 16 and tr.timestep_ps == pytest.approx(s.timestep_ps)
        r = e.result
        assert r.species == ("Au", "Cu") and r.L.shape == (2, 2) and np.all(np.isfinite(r.L_err))
        assert r.temperature_K == e.temperature_K and r.meta["phase"] == "CuAu"
        d = json.loads(e.result_path.read_text())
        assert d["units"]["L"] == "1/(eV*Angstrom*ps)" and d["provenance"]["stage"] == "analysis.transport"
    assert (tmp_path / "transport_summary.json").is_file()
    assert (tmp_path / "CuAu" / "cell.extxyz").is_file()

    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.extxyz")}
    calc2 = CountingEMT()
    again = run_campaign([Phase("CuAu", cuau())], calc2, tmp_path, s)
    assert calc2.calls == 0
    assert [e.status for e in again] == ["skipped", "skipped"]
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.extxyz")} == mtimes
    assert np.allclose(again[0].result.L, entries[0].result.L)


def test_campaign_resumes_after_a_crash_and_extends(tmp_path):
    s = small(temperatures_K=[900], steps=100, flush_every=10)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_campaign([("CuAu", cuau())], CountingEMT(fail_after=130), tmp_path, s)
    part = tmp_path / "CuAu" / "T0900K" / "trajectory.part.extxyz"
    done = count_complete_frames(part)
    assert 10 <= done < 51  # melt 30 + equil 20, then 2 steps per frame, flushed by 10 frames

    calc = CountingEMT()
    (entry,) = run_campaign([("CuAu", cuau())], calc, tmp_path, s)
    assert entry.status == "computed" and entry.md_steps == (51 - done) * 2
    assert calc.calls <= (51 - done) * 2 + 3  # only the missing frames were computed
    tr = load_trajectory(entry.trajectory)
    assert tr.n_frames == 51
    assert np.allclose(np.diff(tr.times_ps), s.timestep_ps)

    # raising md.steps extends the finished trajectory instead of starting over
    calc = CountingEMT()
    (entry,) = run_campaign([("CuAu", cuau())], calc, tmp_path, small(temperatures_K=[900], steps=160,
                                                                        flush_every=10))
    assert entry.md_steps == 60 and calc.calls <= 63
    assert load_trajectory(entry.trajectory).n_frames == 81


def test_partial_last_frame_is_cut(tmp_path):
    p = tmp_path / "t.extxyz"
    frame = "2\nProperties=species:S:1:pos:R:3\nLi 0 0 0\nLi 1 1 1\n"
    p.write_text(frame * 3 + "2\nProperties=species:S:1:pos:R:3\nLi 0 0")
    assert count_complete_frames(p) == 3
    assert p.read_text() == frame * 3


def test_changed_md_settings_for_an_existing_folder_is_an_error(tmp_path):
    s = small(temperatures_K=[900], steps=20, melt_steps=0, equilibration_steps=0)
    run_campaign([cuau()], CountingEMT(), tmp_path, s)
    with pytest.raises(SeilabError, match="timestep_fs"):
        run_campaign([cuau()], CountingEMT(), tmp_path, small(temperatures_K=[900], steps=20, melt_steps=0,
                                                              equilibration_steps=0, timestep_fs=2.0))


def test_bad_campaign_input(tmp_path):
    with pytest.raises(SeilabError, match="calculator"):
        run_campaign([cuau()], None, tmp_path, small())
    with pytest.raises(SeilabError, match="duplicated"):
        run_campaign([("A", cuau()), ("A", cuau())], CountingEMT(), tmp_path, small())
    with pytest.raises(SeilabError, match="phases"):
        run_campaign([42], CountingEMT(), tmp_path, small())
    with pytest.raises(SeilabError, match="error_method"):
        run_campaign([cuau()], CountingEMT(), tmp_path, small(error_method="runs"))


def test_supercell_repeats_aim_at_target():
    assert np.prod(supercell_repeats(cuau(), 16)) == 4
    a, b, c = supercell_repeats(cuau(), 100)
    assert abs(4 * a * b * c - 100) <= 20


class ExplodingEMT(CountingEMT):
    """EMT whose forces on Au-containing cells become 10^4 times too large after ``after`` calls: a
    potential driven outside its fitted range, the way a poorly trained MLIP blows up."""

    def __init__(self, after, **kw):
        super().__init__(**kw)
        self.after = after

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        super().calculate(atoms, properties, system_changes)
        if self.calls > self.after and "Au" in atoms.get_chemical_symbols():
            self.results["forces"] = self.results["forces"] * 1e4


def test_a_blown_up_phase_is_recorded_and_the_others_go_on(tmp_path):
    s = small(temperatures_K=[900], steps=60, melt_steps=0, equilibration_steps=0, flush_every=5)
    cu = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    phases = [Phase("CuAu", cuau().repeat((2, 1, 1))), Phase("Cu", cu)]
    # the library default stops at the blow-up, naming phase, temperature and step
    with pytest.raises(SeilabError, match=r"CuAu 900 K: MD blew up at step \d+"):
        run_campaign(phases, ExplodingEMT(after=10), tmp_path / "raise", s)

    out = tmp_path / "record"
    entries = run_campaign(phases, ExplodingEMT(after=10), out, s, on_error="record")
    bad, good = entries
    assert bad.status == "failed" and bad.result is None and "blew up" in bad.error
    assert good.status == "computed" and good.result is not None and np.all(np.isfinite(good.result.L))
    failed = json.loads((out / "CuAu" / "T0900K" / "failed.json").read_text())
    assert "blew up" in failed["error"]
    summary = json.loads((out / "transport_summary.json").read_text())["entries"]
    assert [e["status"] for e in summary] == ["failed", "computed"] and "L" not in summary[0]
    # the frames before the blow-up are kept, and none of them is the exploded one
    part = out / "CuAu" / "T0900K" / "trajectory.part.extxyz"
    assert count_complete_frames(part, truncate=False) < 31

    # a rerun skips the failed phase (finished work) and the finished one
    calc = ExplodingEMT(after=10)
    again = run_campaign(phases, calc, out, s, on_error="record")
    assert calc.calls == 0 and [e.status for e in again] == ["failed", "skipped"]
    assert again[0].error == bad.error


def test_on_error_must_be_raise_or_record(tmp_path):
    with pytest.raises(SeilabError, match="on_error"):
        run_campaign([cuau()], CountingEMT(), tmp_path, small(), on_error="ignore")


@pytest.mark.parametrize("kill_after", [67, 104, 141])
def test_sigkill_mid_run_then_rerun_loses_at_most_one_flush_and_duplicates_nothing(tmp_path, kill_after):
    rc = killed_transport_run(tmp_path, kill_after, dict(
        temperatures_K=[900], steps=100, sample_every=2, equilibration_steps=20, target_atoms=16, melt_steps=30,
        melt_temperature_K=2500, n_blocks=2, flush_every=10, npt_steps=0, amorphous_max_order=None),
        name="CuAu", lattice_A=3.7, gold_every=2)
    assert rc == -9
    part = tmp_path / "CuAu" / "T0900K" / "trajectory.part.extxyz"
    kept = count_complete_frames(part) if part.is_file() else 0
    produced = max(0, (kill_after - 50) // 2)  # frames the killed run had computed (after melt + equilibration)
    assert produced - kept <= 10  # at most one flush (flush_every=10 frames) is lost
    s = small(temperatures_K=[900], steps=100, flush_every=10)
    calc = CountingEMT()
    (entry,) = run_campaign([("CuAu", cuau())], calc, tmp_path, s)
    assert entry.status == "computed"
    tr = load_trajectory(entry.trajectory)
    assert tr.n_frames == 51 and np.allclose(np.diff(tr.times_ps), s.timestep_ps)  # no frame twice
    if kept:
        assert entry.md_steps == (51 - kept) * 2  # only the missing frames were computed
