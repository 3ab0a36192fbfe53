"""The learning loop end to end on a tiny Li/Li2S campaign (LJ reference, 12-function ACE), with kills."""

import json

import numpy as np
import pytest

import helpers
from seilab.config import load_config
from seilab.training.pacemaker import PacemakerBackend


class Killed(RuntimeError):
    pass


class CountingLJ:
    """A reference factory counting every single point it labels."""

    calls = 0

    def __call__(self):
        from ase.calculators.lj import LennardJones

        counter = self

        class _LJ(LennardJones):
            def calculate(self, *args, **kwargs):
                type(counter).calls += 1
                return super().calculate(*args, **kwargs)

        return _LJ(sigma=2.2, epsilon=0.05, rc=4.5, smooth=True)


class CountingBackend(PacemakerBackend):
    fits = 0

    def fit(self, *args, **kwargs):
        type(self).fits += 1
        return super().fit(*args, **kwargs)


def _raise(msg):
    def f(*args, **kwargs):
        raise Killed(msg)
    return f


def test_gamma_md_and_d_optimal_selection(fitted_campaign, tmp_path):
    from seilab.learning.explore import replicate_in_plane, run_md_gamma
    from seilab.learning.gamma import gamma_stats, model_calculator, per_atom_gamma, potential_cutoff
    from seilab.learning.select import d_optimal, random_subset
    from seilab.training import latest_potential

    campaign = load_config(fitted_campaign / "campaign.yaml")
    pot = latest_potential(campaign)
    assert pot.asi is not None and pot.asi.is_file()
    assert potential_cutoff(pot) == pytest.approx(4.5)
    calc = model_calculator(pot)
    # γ: a training-like crystal interpolates, a strongly distorted one extrapolates
    calm = helpers.li_bcc().repeat((2, 2, 2))
    wild = calm.copy()
    wild.rattle(0.35, seed=3)
    wild.set_cell(wild.cell.array * 0.9, scale_atoms=True)
    g_calm, g_wild = per_atom_gamma(calm, calc), per_atom_gamma(wild, calc)
    assert g_calm.shape == (16,) and g_calm.max() < 1.2
    assert g_wild.max() > 1.5 and g_wild.max() > 2 * g_calm.max()
    st = gamma_stats([g_calm, g_wild])
    assert st["n_atoms"] == 32 and 0 < st["frac_gt_1"] < 1 and st["max"] == pytest.approx(g_wild.max())

    # D-optimal: copies of one configuration add no information: at most one of them is chosen (with
    # 6 functions per element one 16-atom cell may already span everything: then only one is chosen)
    def distorted(seed, scale):
        a = calm.copy()
        a.rattle(0.3, seed=seed)
        a.set_cell(a.cell.array * scale, scale_atoms=True)
        return a

    pool = [distorted(10, 0.9) for _ in range(5)] + [distorted(11 + i, 0.88 + 0.03 * i) for i in range(3)]
    assert min(per_atom_gamma(a, calc).max() for a in pool) > 1.0
    chosen = d_optimal(pool, pot, ["Li", "S"], budget=4, workdir=tmp_path / "sel")
    assert 1 <= len(chosen) <= 4 and len(set(chosen)) == len(chosen)
    assert sum(i < 5 for i in chosen) <= 1, chosen
    assert (tmp_path / "sel" / "selected.pkl.gz").is_file()
    r = random_subset(8, 3, seed=1)
    assert len(r) == 3 and r == random_subset(8, 3, seed=1) and len(set(r)) == 3

    # MD with γ: frames every n steps with per-atom γ; a low halt threshold stops the run early
    frames, info = run_md_gamma(calm, calc, 600, 20, 1.0, 0.02, 5, gamma_halt=50.0, keep_before_halt=2, seed=0)
    assert [f.info["md_step"] for f in frames] == [5, 10, 15, 20] and not info["halted"]
    assert all(f.arrays["gamma"].shape == (16,) for f in frames)
    frames, info = run_md_gamma(wild, calc, 3000, 200, 2.0, 0.02, 50, gamma_halt=1.0, keep_before_halt=2, seed=0)
    assert info["halted"] and info["steps_run"] < 200
    assert frames and frames[-1].info["max_gamma"] > 1.0  # the halting frame is kept

    # a run killed mid-way continues from its checkpoint (last kept frame, with momenta)
    class Dies:
        """Delegates to the model calculator and dies at the n-th force call."""

        def __init__(self, inner, n):
            self.inner, self.n = inner, n

        @property
        def results(self):
            return self.inner.results

        def get_forces(self, atoms):
            self.n -= 1
            if self.n < 0:
                raise Killed("killed mid-MD")
            return self.inner.get_forces(atoms)

        def get_potential_energy(self, atoms, force_consistent=False):
            return self.inner.get_potential_energy(atoms)

    counter = Dies(calc, 10 ** 9)
    run_md_gamma(calm, counter, 600, 40, 1.0, 0.02, 10, gamma_halt=50.0, keep_before_halt=0, seed=1)
    per_step = (10 ** 9 - counter.n) / 40
    ck = tmp_path / "run.partial.extxyz"
    with pytest.raises(Killed):  # dies around step 25
        run_md_gamma(calm, Dies(calc, int(25 * per_step)), 600, 40, 1.0, 0.02, 10, gamma_halt=50.0,
                     keep_before_halt=0, seed=1, checkpoint=ck)
    first = [f.info["md_step"] for f in __import__("ase.io").io.read(ck, ":")]
    assert first == [10, 20]
    frames, info = run_md_gamma(calm, calc, 600, 40, 1.0, 0.02, 10, gamma_halt=50.0, keep_before_halt=0, seed=1,
                                checkpoint=ck)
    assert info["resumed_from_step"] == 20 and [f.info["md_step"] for f in frames] == [10, 20, 30, 40]
    assert "momenta" not in frames[0].arrays

    big, reps = replicate_in_plane(helpers.sandwich(), 2000)
    assert reps[0] * reps[1] * 56 == len(big) and abs(len(big) - 2000) < 0.3 * 2000
    assert big.cell.lengths()[2] == pytest.approx(helpers.sandwich().cell.lengths()[2])


def test_loop_runs_and_resumes_after_kills(campaign_copy, monkeypatch, capsys):
    from seilab.learning import explore, stage
    from seilab.reference.labelling import store_for

    campaign = load_config(campaign_copy)
    n0 = len(store_for(campaign))
    ref = CountingLJ()
    backend = CountingBackend()
    real_md = explore.run_md_gamma
    md_calls = {"n": 0}

    def md(*args, kill_at=None, **kwargs):
        md_calls["n"] += 1
        if kill_at is not None and md_calls["n"] == kill_at:
            raise Killed("killed during exploration")
        return real_md(*args, **kwargs)

    def run():
        return stage.run_learning(campaign, backend=backend, reference_factory=ref)

    # 1. killed during the second MD run of the exploration
    monkeypatch.setattr(explore, "run_md_gamma", lambda *a, **k: md(*a, kill_at=2, **k))
    with pytest.raises(Killed):
        run()
    gdir = campaign.stage_dir("learning") / "gen001"
    assert len(list((gdir / "explore").glob("*.extxyz"))) == 1
    assert CountingLJ.calls == 0 and CountingBackend.fits == 0

    # 2. the finished MD run is not redone; killed between labelling and fitting
    monkeypatch.setattr(explore, "run_md_gamma", lambda *a, **k: md(*a, **k))
    monkeypatch.setattr(stage, "_step_fit", _raise("killed before the fit"))
    with pytest.raises(Killed):
        run()
    n_jobs = len(json.loads((gdir / "explore" / "summary.json").read_text())["runs"])
    assert n_jobs == 3  # bulk Li, bulk Li2S, the replicated interface
    assert md_calls["n"] == 2 + (n_jobs - 1)  # run 1: one finished + the killed call; run 2: the rest
    labels = json.loads((gdir / "labels.json").read_text())
    n_labels = labels["labelled"]
    assert 1 <= n_labels <= 4 and CountingLJ.calls == n_labels
    assert len(store_for(campaign)) == n0 + n_labels
    state = json.loads((campaign.stage_dir("learning") / "state.json").read_text())
    assert state["generations"]["1"]["steps"]["label"] == "done" and "fit" not in state["generations"]["1"]["steps"]

    # 3. exploration, candidates, selection and labels are not redone; killed after the fit
    monkeypatch.undo()
    monkeypatch.setattr(explore, "run_md_gamma", _raise("exploration must not run again"))
    monkeypatch.setattr(stage, "_step_validate", _raise("killed before validation"))
    with pytest.raises(Killed, match="before validation"):
        run()
    assert CountingLJ.calls == n_labels and CountingBackend.fits == 1
    assert (campaign.stage_dir("training") / "gen001" / "done.json").is_file()

    # 4. the fit is not redone; validation, reassessment and the summary finish the generation
    monkeypatch.undo()
    monkeypatch.setattr(explore, "run_md_gamma", _raise("exploration must not run again"))
    result = run()
    assert CountingLJ.calls == n_labels and CountingBackend.fits == 1
    assert result["stop_reason"] == "max_generations" and len(result["generations"]) == 1
    g = result["generations"][0]
    assert g["training_generation"] == "gen001" and g["start_potential"] == "gen000"
    assert g["dataset_size"] == n0 + n_labels and g["labelled"] == n_labels
    assert g["n_train"] + g["n_test"] == n0 + n_labels
    assert g["test_force_rmse_meV_per_A"] > 0 and g["validation_passed"] in (True, False)
    assert g["fixed_test_structures"] >= 1 and g["fixed_test_force_rmse_meV_per_A"] > 0
    assert g["fixed_test_force_rmse_start_meV_per_A"] > 0 and g["fixed_test_energy_rmse_start_meV_per_atom"] > 0
    ex = g["explore_gamma"]
    assert ex["runs"] == 3 and ex["n_atoms"] > 0 and 0 <= ex["frac_gt_1"] <= 1 and ex["max"] >= ex["mean"] > 0
    assert set(g["explore_gamma_per_batch"]) == {"bulk", "interface"}
    assert g["reassess_gamma"]["n_atoms"] == ex["n_atoms"]
    rep = g["candidates_report"]
    assert rep["frames_cut"] > 0 and rep["frames_whole"] > 0  # interface frames were cut into subcells
    assert g["selected"] == n_labels + json.loads((gdir / "labels.json").read_text())["already_in_store"]
    kinds = {lab.meta["kind"] for lab in store_for(campaign)}
    assert "active_learning" in kinds
    selected = __import__("seilab").provenance.read_extxyz(gdir / "select" / "selected.extxyz")
    labels = {lab.hash: lab for lab in store_for(campaign)}
    from seilab.reference.store import structure_hash

    weighted = [a for a in selected if "force_weight" in a.arrays]
    assert weighted  # the interface frames gave subcells, and some were selected
    for a in weighted:  # a subcell's force weights (zero at the cut) are kept with its label
        assert labels[structure_hash(a)].meta["force_weight"] == [float(w) for w in a.arrays["force_weight"]]
    for a in (__import__("seilab").provenance.read_extxyz(gdir / "candidates.extxyz")):
        if "subcell_centre" in a.info:  # subcells: size, vacuum, pbc, no close contact
            from seilab.geometry import min_distance

            assert all(a.pbc) and min_distance(a) >= 1.7 - 1e-9
            assert np.all(a.positions.min(axis=0) >= 0.5 - 1e-9)
            assert abs(len(a) - 50) <= 0.3 * 50 or len(a) > 50  # the 4.5 Å cutoff may need more atoms
    summary = json.loads((campaign.stage_dir("learning") / "learning.json").read_text())
    assert summary["stop_reason"] == "max_generations"
    assert (campaign.stage_dir("learning") / "learning_curve.png").stat().st_size > 5000
    state = json.loads((campaign.stage_dir("learning") / "state.json").read_text())
    assert state["status"] == "stopped" and state["generations"]["1"]["steps"]["reassess"] == "done"

    # 5. a rerun through the command does nothing and prints the table
    from seilab.cli import main

    monkeypatch.setattr(stage, "_step_label", _raise("labels must not run again"))
    assert main(["learn", str(campaign_copy)]) == 0
    out = capsys.readouterr().out
    assert "gen001: finished earlier" in out and "stopped: max_generations" in out
    assert CountingBackend.fits == 1


def test_settings_validation(tmp_path):
    from pydantic import ValidationError

    from seilab.errors import SeilabError
    from seilab.settings.learning import LearningSettings

    s = LearningSettings()
    assert s.gamma_window == (1.0, 2.5) and s.gamma_halt == 25 and s.max_generations == 2
    assert s.subcell_atoms == 100 and s.subcell_vacuum_A == 0.5 and s.centre_gamma == 1.0
    for bad in ({"gamma_window": (2.5, 1.0)}, {"gamma_halt": 2.0}, {"min_generations": 3},
                {"md": {"sample_every": 500}}, {"md": {"damp_fs": 50.0}}, {"md_steps": 20, "md": {"steps": 30}}, {"bulk_lattice_scales": [2.0]}, {"bulk_temperatures_K": [-5]},
                {"batches": ["bulk", "bulk"]}, {"budget_per_generation": 0}):
        with pytest.raises(ValidationError):
            LearningSettings(**bad)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(helpers.CONFIG.replace("  max_generations: 1\n", "  max_generations: 1\n  gamma_halt: 2\n"))
    with pytest.raises(SeilabError, match="learning: gamma_halt 2.0 must exceed"):
        load_config(cfg)
    cfg.write_text(helpers.CONFIG.replace("  max_generations: 1\n", "  max_generations: 1\n  gamma_windw: [1, 2]\n"))
    with pytest.raises(SeilabError, match="learning.gamma_windw: unknown key"):
        load_config(cfg)


KILL_LEARNING = """
import os, signal, sys
sys.path.insert(0, sys.argv[3])
import helpers
from ase.calculators.lj import LennardJones
from seilab.config import load_config
from seilab.learning import explore, stage

where, n = sys.argv[2].split(":")
calls = {"md": 0, "label": 0}
real_md = explore.run_md_gamma

def md(*a, **k):  # kill -9 at the n-th MD run of the exploration
    calls["md"] += 1
    if where == "md" and calls["md"] == int(n):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_md(*a, **k)

class DyingLJ(LennardJones):  # kill -9 at the n-th reference label
    def calculate(self, *a, **k):
        calls["label"] += 1
        if where == "label" and calls["label"] == int(n):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().calculate(*a, **k)

explore.run_md_gamma = md
stage.run_learning(load_config(sys.argv[1]),
                   reference_factory=lambda: DyingLJ(sigma=2.2, epsilon=0.05, rc=4.5, smooth=True))
"""


def test_sigkill_in_exploration_and_in_labelling_then_rerun(campaign_copy, monkeypatch):
    """kill -9 (no handler runs) during the second exploration MD run, then during the second reference
    label: the plain rerun redoes no finished MD run and labels no structure twice."""
    import subprocess
    import sys
    from pathlib import Path

    from seilab.learning import explore, stage
    from seilab.reference.labelling import store_for

    campaign = load_config(campaign_copy)
    n0 = len(store_for(campaign))
    here = str(Path(__file__).parent)
    gdir = campaign.stage_dir("learning") / "gen001"
    proc = subprocess.run([sys.executable, "-c", KILL_LEARNING, str(campaign_copy), "md:2", here])
    assert proc.returncode == -9
    assert len(list((gdir / "explore").glob("*.extxyz"))) == 1  # the first MD run was kept
    proc = subprocess.run([sys.executable, "-c", KILL_LEARNING, str(campaign_copy), "label:2", here])
    assert proc.returncode == -9
    n_explore = len(json.loads((gdir / "explore" / "summary.json").read_text())["runs"])
    stored_before = len(store_for(campaign))
    assert stored_before == n0 + 1  # the label before the kill is in the store

    md_calls, ref = {"n": 0}, CountingLJ()
    CountingLJ.calls = 0
    real_md = explore.run_md_gamma
    monkeypatch.setattr(explore, "run_md_gamma", lambda *a, **k: md_calls.__setitem__("n", md_calls["n"] + 1)
                        or real_md(*a, **k))
    result = stage.run_learning(campaign, reference_factory=ref)
    assert md_calls["n"] == 0 and n_explore == 3  # the exploration was finished by the second run
    labels = json.loads((gdir / "labels.json").read_text())
    assert labels["already_in_store"] == 1  # the one stored before the kill is not labelled again
    assert len(labels["hashes"]) == labels["labelled"] + 1 and CountingLJ.calls == labels["labelled"]
    assert len(store_for(campaign)) == n0 + len(labels["hashes"])  # nothing twice
    assert result["generations"][0]["training_generation"] == "gen001"
