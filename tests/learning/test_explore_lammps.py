"""Exploration in LAMMPS through the MD layer (issue 16 items 1, 2, 5): the same frames the loop reads,
the same γ as the ASE path, a γ halt, the engine setting, and kill -9 mid-run then rerun.

The potential is the tiny campaign's gen000 (6 functions per element, fitted to LJ labels, with its active set).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import helpers
from seilab.config import load_config

pytestmark = pytest.mark.skipif(
    __import__("seilab.md.lammps", fromlist=["find_lmp"]).find_lmp() is None,
    reason="no LAMMPS with ML-PACE (make lammps)")


def _settings(campaign, **kw):
    return campaign.learning.model_copy(update={"engine": "lammps", **kw})


def _job(atoms, name="interface_t", batch="interface", T=600.0, steps=40, seed=3):
    from seilab.learning.explore import ExplorationJob

    return ExplorationJob(name, batch, "Li_bcc|Li2S", atoms, T, steps, seed)


def test_lammps_frames_have_what_selection_needs_and_the_ase_gamma(fitted_campaign, tmp_path):
    from seilab import provenance
    from seilab.learning.explore import iter_frames, replicate_in_plane, run_job, run_md_gamma
    from seilab.learning.gamma import model_calculator, per_atom_gamma
    from seilab.learning.select import make_candidates
    from seilab.learning.stage import potential_sha
    from seilab.md.lammps import LammpsEngine
    from seilab.training import latest_potential

    campaign = load_config(fitted_campaign / "campaign.yaml")
    pot = latest_potential(campaign)
    elements = list(pot.elements)
    # a low window: every graded frame is kept (the 6-function model extrapolates little at 600 K)
    s = _settings(campaign, gamma_window=(0.05, 2.5))
    big, _ = replicate_in_plane(helpers.sandwich(), 450)
    job = _job(big)
    folder = tmp_path / "explore"
    rec = run_job(job, None, s, folder, potential_sha(pot), engine="lammps", potential=pot, elements=elements)
    assert rec["engine"] == "lammps" and not rec["skipped"] and rec["steps_run"] == 40 and not rec["halted"]
    assert rec["frames_graded"] == 4 and rec["segments"] == 1 and rec["resumed_from_step"] is None

    path = folder / f"{job.name}.extxyz"
    frames = list(iter_frames(path))
    assert [f.info["md_step"] for f in frames] == [10, 20, 30, 40] == list(range(10, 41, s.md.sample_every))
    for f in frames:  # the fields the candidates / selection / reassess read
        assert f.arrays["gamma"].shape == (len(big),) and f.info["max_gamma"] == pytest.approx(f.arrays["gamma"].max())
        assert f.info["max_gamma"] > s.gamma_window[0] and 100 < f.info["md_T_K"] < 2000
        assert (f.info["batch"], f.info["run"], f.info["md_target_T_K"]) == ("interface", job.name, 600.0)
        assert f.numbers.tolist() == big.numbers.tolist() and all(f.pbc)
        np.testing.assert_allclose(f.cell.array, big.cell.array, atol=1e-9)  # the structure's own cell
    side = provenance.read_json(provenance.sidecar_path(path))
    assert side["run"]["engine"] == "lammps" and side["run"]["frames"] == 4 and side["run"]["halted"] is False
    md = folder / f"{job.name}.md"
    assert (md / "result.json").is_file() and (md / "gamma.csv").is_file()
    assert not (md / "restart").exists() and not (md / "extrapolative.dump").exists()  # bulky files gone
    again = run_job(job, None, s, folder, potential_sha(pot), engine="lammps", potential=pot, elements=elements)
    assert again["skipped"]

    # the same γ as the ASE path's calculator on the same frames ...
    calc = model_calculator(pot)
    for f in frames:
        np.testing.assert_allclose(per_atom_gamma(f, calc), f.arrays["gamma"], rtol=1e-6, atol=1e-7)
    # ... and LAMMPS grades an ASE exploration frame as pyace does
    ase_frames, _ = run_md_gamma(big, calc, 600.0, 20, 1.0, 0.02, 10, gamma_halt=50.0, keep_before_halt=0, seed=1)
    lam = LammpsEngine().single_point(ase_frames[-1], pot, elements, extrapolation=True)["gamma"]
    np.testing.assert_allclose(lam, ase_frames[-1].arrays["gamma"], rtol=1e-6, atol=1e-7)

    # a cell LAMMPS has to rotate (not lower-triangular): frames come back in the structure's own orientation
    turned = helpers.li2s().repeat((2, 2, 2))
    turned.rotate(30, "z", rotate_cell=True)
    turned.rotate(20, "x", rotate_cell=True)
    tjob = _job(turned, name="bulk_turned", batch="bulk", steps=20)
    run_job(tjob, None, s, folder, potential_sha(pot), engine="lammps", potential=pot, elements=elements)
    tframes = list(iter_frames(folder / "bulk_turned.extxyz"))
    assert [f.info["md_step"] for f in tframes] == [10, 20]
    for f in tframes:
        np.testing.assert_allclose(f.cell.array, turned.cell.array, atol=1e-9)
        np.testing.assert_allclose(per_atom_gamma(f, calc), f.arrays["gamma"], rtol=1e-6, atol=1e-7)
        d = f.positions - turned.positions  # 20 fs at 600 K: every atom near its start, in the same frame
        frac = np.linalg.solve(turned.cell.array.T, d.T).T
        assert np.abs((frac - np.round(frac)) @ turned.cell.array).max() < 0.5

    # the frames go through the candidates step as ASE's do: subcells around atoms in the window
    cands, report = make_candidates(frames, s.model_copy(update={"subcell_atoms": 50, "subcells_per_frame": 3,
                                                                 "min_distance_A": 1.7}), 4.5, elements)
    assert report["frames_cut"] == 4 and report["candidates_subcells"] > 0
    assert all(a.info["run"] == job.name and s.gamma_window[0] < a.info["gamma_centre"] < 2.5 for a in cands)


def test_lammps_run_halts_above_gamma_halt(fitted_campaign, tmp_path):
    from seilab.learning.explore import iter_frames, run_job
    from seilab.learning.stage import potential_sha
    from seilab.training import latest_potential

    campaign = load_config(fitted_campaign / "campaign.yaml")
    pot = latest_potential(campaign)
    wild = helpers.li_bcc().repeat((3, 3, 3))
    wild.rattle(0.3, seed=3)
    wild.set_cell(wild.cell.array * 0.9, scale_atoms=True)
    s = _settings(campaign, gamma_window=(0.5, 1.0), gamma_halt=1.5)
    job = _job(wild, name="bulk_wild", batch="bulk", T=3000.0, steps=200)
    rec = run_job(job, None, s, tmp_path, potential_sha(pot), engine="lammps", potential=pot,
                  elements=list(pot.elements))
    assert rec["halted"] and rec["halt_step"] == rec["steps_run"] < 200 and rec["reason"].startswith("max γ")
    frames = list(iter_frames(tmp_path / "bulk_wild.extxyz"))
    assert frames[-1].info["md_step"] == rec["halt_step"] and frames[-1].info["max_gamma"] > 1.5  # the halting frame


def test_engine_setting(fitted_campaign, tmp_path, monkeypatch):
    from pydantic import ValidationError

    from seilab.errors import SeilabError
    from seilab.learning.explore import exploration_engine
    from seilab.settings.learning import LearningSettings
    from seilab.training import latest_potential

    pot = latest_potential(load_config(fitted_campaign / "campaign.yaml"))
    assert LearningSettings().engine == "auto" and LearningSettings().mpi_ranks == 1
    for bad in ({"engine": "gromacs"}, {"mpi_ranks": 0}):
        with pytest.raises(ValidationError):
            LearningSettings(**bad)
    assert exploration_engine(LearningSettings(), pot) == "lammps"  # a binary is there (module skip otherwise)
    assert exploration_engine(LearningSettings(engine="ase"), pot) == "ase"
    no_asi = type(pot).from_dict({**pot.as_dict(), "asi": None})
    assert exploration_engine(LearningSettings(), no_asi) == "ase"
    with pytest.raises(SeilabError, match=r"^learning.engine: 'lammps' needs the potential's .yaml and .asi"):
        exploration_engine(LearningSettings(engine="lammps"), no_asi)
    monkeypatch.setenv("SEILAB_CACHE", str(tmp_path / "empty"))  # no cached build, and no lmp on PATH
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("SEILAB_LMP", raising=False)
    assert exploration_engine(LearningSettings(), pot) == "ase"
    with pytest.raises(SeilabError, match=r"^learning.engine: 'lammps', but no LAMMPS with ML-PACE was found"):
        exploration_engine(LearningSettings(engine="lammps"), pot)


LEARN = """
import sys
sys.path.insert(0, sys.argv[2])
import helpers
from seilab.config import load_config
from seilab.learning import stage
stage.run_learning(load_config(sys.argv[1]), reference_factory=helpers.LJ_FACTORY)
"""


def _newest_restart(md: Path) -> int:
    steps = [int(p.name.split(".")[1]) for p in (md / "restart").glob("restart.*") if p.name.split(".")[1].isdigit()]
    return max(steps, default=-1)


def test_sigkill_during_a_lammps_exploration_run_then_rerun(campaign_copy):
    """kill -9 of the learning process while LAMMPS is inside the interface run: the rerun resumes that run from
    its newest restart file (not from step 0), every graded step is one frame (none twice, none lost), and the
    generation labels no structure twice."""
    import psutil

    from seilab.learning import stage
    from seilab.learning.explore import iter_frames
    from seilab.reference.labelling import store_for

    cfg = Path(campaign_copy)
    text = cfg.read_text().replace("  engine: ase ", "  engine: lammps ")
    text = text.replace("  md: {steps: 30, sample_every: 10}\n", "  md: {steps: 30, sample_every: 30}\n  interface_md_steps: 3000\n"
                                                   "  gamma_window: [0.05, 2.5]\n")
    cfg.write_text(text)
    campaign = load_config(cfg)
    assert campaign.learning.engine == "lammps" and campaign.learning.md.sample_every == 30
    n0 = len(store_for(campaign))
    explore = campaign.stage_dir("learning") / "gen001" / "explore"
    here = str(Path(__file__).parent)
    proc = subprocess.Popen([sys.executable, "-c", LEARN, str(cfg), here], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    md = None
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        md = next(iter(explore.glob("interface_*.md")), None) if explore.is_dir() else None
        if md is not None and 600 <= _newest_restart(md) < 2400:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the learning process ended before the kill"
    killed_at = _newest_restart(md)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -9
    lmp_pid = json.loads((md / "run.json").read_text())["segments"][-1]["pid"]
    for _ in range(200):  # LAMMPS follows its parent (PR_SET_PDEATHSIG)
        if not psutil.pid_exists(lmp_pid) or psutil.Process(lmp_pid).status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.05)
    name = md.name[: -len(".md")]
    assert not (explore / f"{name}.extxyz").exists()  # the run had not finished
    # LAMMPS may write more restarts between the poll and its own death (a loaded machine: the poll lags);
    # what it left on disk when it died is what the rerun must resume from
    left_at = _newest_restart(md)
    assert killed_at <= left_at < 3000

    calls = {"n": 0}

    def counting_lj():
        from ase.calculators.lj import LennardJones

        class _LJ(LennardJones):
            def calculate(self, *args, **kwargs):
                calls["n"] += 1
                return super().calculate(*args, **kwargs)

        return _LJ(sigma=2.2, epsilon=0.05, rc=4.5, smooth=True)

    result = stage.run_learning(campaign, reference_factory=counting_lj)
    summary = json.loads((explore / "summary.json").read_text())
    rec = next(r for r in summary["runs"] if r["name"] == name)
    assert summary["engine"] == "lammps" and rec["engine"] == "lammps"
    assert rec["segments"] == 2 and left_at - 60 <= rec["resumed_from_step"] <= left_at
    steps = [f.info["md_step"] for f in iter_frames(explore / f"{name}.extxyz")]
    assert steps == list(range(30, rec["steps_run"] + 1, 30))  # each graded step once (the window keeps all)
    assert rec["frames"] == rec["frames_graded"] == len(steps)
    labels = json.loads((campaign.stage_dir("learning") / "gen001" / "labels.json").read_text())
    assert len(set(labels["hashes"])) == len(labels["hashes"]) == labels["labelled"] + labels["already_in_store"]
    assert calls["n"] == labels["labelled"] and len(store_for(campaign)) == n0 + len(labels["hashes"])
    assert result["generations"][0]["explore_engine"] == "lammps"
