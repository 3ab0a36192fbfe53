"""Harvest of the production run (issue 16 item 3): γ dumps → subcells → the next generation's candidates."""

import json
from pathlib import Path

import numpy as np
import pytest

import helpers
from seilab.config import load_config

ELEMENTS = ["Li", "S"]


def interface(n=896, seed=0):
    from seilab.learning.explore import replicate_in_plane

    big, _ = replicate_in_plane(helpers.sandwich(), n)
    big.rattle(0.03, seed=seed)
    big.wrap()
    return big


def spread_atoms(atoms, k, min_sep=10.0):
    """``k`` atoms at least ``min_sep`` Å apart (minimum image, Chebyshev)."""
    cell = atoms.cell.array
    frac = atoms.get_scaled_positions()
    chosen: list = []
    out = []
    for i in range(len(atoms)):
        d = frac[chosen] - frac[i] if chosen else np.zeros((0, 3))
        d -= np.round(d)
        if not chosen or np.min(np.max(np.abs(d @ cell), axis=1)) > min_sep:
            chosen.append(i)
            out.append(i)
            if len(out) == k:
                return out
    raise AssertionError("cell too small for the test")


def write_gamma_dump(path, frames, steps, mode="w"):
    """The LAMMPS extrapolative dump as ``seilab/md/lammps.py`` writes it: ``dump custom K extrapolative.dump
    id type element x y z f_pace_gamma`` with ``dump_modify ... sort id time yes``."""
    with open(path, mode) as fh:
        for a, step in zip(frames, steps):
            L = np.diag(a.cell.array)
            sym = a.get_chemical_symbols()
            fh.write(f"ITEM: TIME\n{step * 0.001:.10g}\nITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n{len(a)}\n"
                     f"ITEM: BOX BOUNDS pp pp pp\n0 {L[0]:.8f}\n0 {L[1]:.8f}\n0 {L[2]:.8f}\n"
                     "ITEM: ATOMS id type element x y z f_pace_gamma\n")
            fh.write("".join(f"{i + 1} {ELEMENTS.index(s) + 1} {s} {x:.8f} {y:.8f} {z:.8f} {g:.6g}\n"
                             for i, (s, (x, y, z), g) in enumerate(zip(sym, a.positions, a.arrays["gamma"]))))


def synthetic_frames():
    """Five frames of an 896-atom interface: (frame, expected fate, centres in the γ window)."""
    base = interface()
    hot_all = spread_atoms(base, 4)
    out = []
    # 1. three atoms in the window (1 < γ < 2.5), the rest below
    a = base.copy()
    g = np.full(len(a), 0.5)
    g[hot_all[:3]] = [1.4, 1.9, 2.2]
    a.arrays["gamma"] = g
    out.append((a, "kept", hot_all[:3]))
    # 2. nothing in the window: ignored
    b = base.copy()
    b.rattle(0.02, seed=5)
    b.arrays["gamma"] = np.full(len(b), 0.8)
    out.append((b, "outside_window", []))
    # 3. above the halt (γ 40 on one atom) and two atoms in the window far from it: kept
    c = base.copy()
    c.rattle(0.06, seed=6)  # (more than the duplicate tolerance: its subcells are not frame 1's)
    g = np.full(len(c), 0.6)
    g[hot_all[3]] = 40.0
    g[hot_all[:2]] = [1.6, 1.3]
    c.arrays["gamma"] = g
    out.append((c, "kept", hot_all[:2]))
    # 4. two atoms 0.6 Å apart (the model's MD blew up): dropped, though atoms are in the window
    d = base.copy()
    d.positions[hot_all[1]] = d.positions[hot_all[0]] + [0.6, 0, 0]
    g = np.full(len(d), 0.5)
    g[hot_all[2]] = 1.8
    d.arrays["gamma"] = g
    out.append((d, "close_contact", []))
    # 5. non-finite positions: dropped
    e = base.copy()
    e.positions[7] = np.nan
    g = np.full(len(e), 0.5)
    g[hot_all[2]] = 1.8
    e.arrays["gamma"] = g
    out.append((e, "nonfinite", []))
    return out


def _settings(**kw):
    from seilab.settings.learning import LearningSettings

    return LearningSettings(subcell_atoms=50, subcells_per_frame=3, min_distance_A=1.7, **kw)


@pytest.mark.parametrize("fmt", ["lammps-dump", "extxyz"])
def test_gamma_dump_gives_subcells_around_window_atoms(tmp_path, fmt):
    from ase.io import write

    from seilab.learning.harvest import describe_source, frame_index, harvest_frames
    from seilab.learning.select import make_candidates

    frames = synthetic_frames()
    steps = [100, 200, 300, 400, 500]
    if fmt == "lammps-dump":
        path = tmp_path / "extrapolative.dump"
        write_gamma_dump(path, [f for f, _, _ in frames], steps)
    else:  # the ASE engine's extrapolative.extxyz (per-atom array gamma)
        path = tmp_path / "extrapolative.extxyz"
        for (f, _, _), st in zip(frames, steps):
            f.info["step"] = st
        write(path, [f for f, _, _ in frames], format="extxyz")
    src = describe_source(path, "cli")
    assert src["format"] == fmt and len(frame_index(path, fmt)) == 5
    s = _settings()
    kept, report = harvest_frames([src], s, ELEMENTS, floors={})
    rep = report["sources"][0]
    assert rep["frames_in_file"] == rep["frames_read"] == 5
    assert (rep["kept"], rep["outside_window"], rep["close_contact"], rep["nonfinite"]) == (2, 1, 1, 1)
    assert rep["kept_above_halt"] == 1 and rep["atoms_in_window"] == 5
    assert [f.info["md_step"] for f in kept] == [100, 300]
    assert all(f.info["batch"] == "production" and len(f) == 896 for f in kept)
    np.testing.assert_allclose(kept[0].arrays["gamma"], frames[0][0].arrays["gamma"], rtol=1e-5)

    cands, crep = make_candidates(kept, s, cutoff=4.5, elements=ELEMENTS)
    assert crep["frames_cut"] == 2 and crep["candidates_subcells"] == len(cands)
    by_step: dict = {}
    for a in cands:
        by_step.setdefault(a.info["md_step"], []).append(a)
        assert a.info["batch"] == "production" and a.info["source"].startswith("learning:production:")
        assert "force_weight" in a.arrays and a.arrays["force_weight"][a.info["subcell_centre"]] == 1.0
        assert all(a.pbc) and a.info["gamma_max"] < s.gamma_window[1]  # nothing above the window inside
    # subcells centred on exactly the atoms in the window, one each (they are far apart)
    for (f, fate, centres), st in zip(frames, steps):
        got = sorted(a.info["subcell_centre_parent"] for a in by_step.get(st, []))
        assert got == (sorted(centres) if fate == "kept" else []), (st, got)
    for a in by_step[100]:
        assert a.info["gamma_centre"] == pytest.approx(frames[0][0].arrays["gamma"][a.info["subcell_centre_parent"]],
                                                       rel=1e-5)
    # a cap on the frames read keeps the last one (the frame nearest the halt)
    kept, report = harvest_frames([src], _settings(harvest_max_frames=1), ELEMENTS, floors={})
    assert report["sources"][0]["frames_read"] == 1 and kept == []  # frame 5 is non-finite
    assert report["sources"][0]["nonfinite"] == 1


def test_trajectory_without_gamma_is_graded_and_partial_frame_skipped(tmp_path):
    from seilab.learning.harvest import describe_source, harvest_frames

    frames = synthetic_frames()
    path = tmp_path / "dump.lammpstrj"
    write_gamma_dump(path, [frames[0][0]], [100])
    text = path.read_text().replace(" f_pace_gamma\n", "\n")
    text = "\n".join(" ".join(ln.split()[:6]) if ln[:1].isdigit() and len(ln.split()) == 7 else ln
                     for ln in text.splitlines()) + "\n"
    path.write_text(text + text.split("ITEM: ATOMS")[0].replace("TIMESTEP\n100", "TIMESTEP\n200"))  # partial tail
    calls = []

    def grade(a):
        calls.append(len(a))
        return frames[0][0].arrays["gamma"]

    kept, report = harvest_frames([describe_source(path, "cli")], _settings(), ELEMENTS, {}, grade=grade)
    rep = report["sources"][0]
    assert calls == [896] and rep["graded"] == 1 and rep["unreadable"] == 1 and len(kept) == 1


def test_production_source_from_latest_json(campaign_copy, tmp_path):
    from seilab import provenance
    from seilab.learning.harvest import resolve_sources
    from seilab.learning.stage import REQUEST, _pending_harvest, gen_dir

    campaign = load_config(campaign_copy)
    assert resolve_sources(campaign, None) == []  # no production run yet
    sim = campaign.stage_dir("simulation")
    run = sim / "run-lammps-abc"
    run.mkdir(parents=True)
    write_gamma_dump(run / "extrapolative.dump", [synthetic_frames()[0][0]], [800])
    latest = {"run_dir": "/elsewhere/simulation/run-lammps-abc", "status": "halted", "engine": "lammps",
              "extrapolative": "/elsewhere/simulation/run-lammps-abc/extrapolative.dump", "max_gamma": 31.0,
              "steps_done": 800, "info": {"halted": "max γ 31 > 25"}}
    provenance.write_json(sim / "latest.json", {**latest, "status": "finished"})
    assert resolve_sources(campaign, None) == []  # a run that finished is not harvested by itself
    provenance.write_json(sim / "latest.json", latest)
    (src,) = resolve_sources(campaign, None)  # the campaign folder moved: found beside latest.json
    assert src["origin"] == "production" and Path(src["path"]) == (run / "extrapolative.dump").resolve()
    assert src["max_gamma"] == 31.0 and src["steps_done"] == 800
    off = load_config(campaign_copy)
    off.learning.harvest_production = False
    assert resolve_sources(off, None) == []
    # the same bytes given explicitly too: one source
    assert len(resolve_sources(campaign, [run / "extrapolative.dump"])) == 1
    # once a generation asked for it, it is not pending any more
    provenance.write_json(gen_dir(campaign, 3) / "harvest" / REQUEST, {"sources": [src]})
    assert _pending_harvest(campaign, None, print) == []


def test_production_round_is_due_once_per_halted_run_and_at_most_production_rounds_times(campaign_copy):
    from seilab import provenance
    from seilab.learning.harvest import resolve_sources
    from seilab.learning.stage import REQUEST, gen_dir, production_round_due

    campaign = load_config(campaign_copy)
    assert production_round_due(campaign) is None  # production_rounds 0 (the default)
    campaign.learning.production_rounds = 2
    assert production_round_due(campaign) is None  # no production run
    sim = campaign.stage_dir("simulation")

    def halted_run(name, step):
        run = sim / name
        run.mkdir(parents=True)
        frame = synthetic_frames()[0][0].copy()
        frame.rattle(0.01 * step / 100, seed=step)
        write_gamma_dump(run / "extrapolative.dump", [frame], [step])
        provenance.write_json(sim / "latest.json", {"run_dir": str(run), "status": "halted", "engine": "lammps",
                                                    "extrapolative": str(run / "extrapolative.dump"),
                                                    "max_gamma": 31.0, "steps_done": step})

    halted_run("run-lammps-a", 800)
    assert production_round_due(campaign).endswith("production round 1 of 2")
    (src,) = resolve_sources(campaign, None)
    provenance.write_json(gen_dir(campaign, 4) / "harvest" / REQUEST, {"sources": [src]})
    assert production_round_due(campaign) is None  # that run was harvested
    halted_run("run-lammps-b", 1500)  # the next potential's run halted too
    assert "step 1500); production round 2 of 2" in production_round_due(campaign)
    (src,) = resolve_sources(campaign, None)
    provenance.write_json(gen_dir(campaign, 5) / "harvest" / REQUEST, {"sources": [src]})
    halted_run("run-lammps-c", 2500)
    assert production_round_due(campaign) is None  # two rounds done
    latest = provenance.read_json(sim / "latest.json")
    provenance.write_json(sim / "latest.json", {**latest, "status": "finished"})
    campaign.learning.production_rounds = 5
    assert production_round_due(campaign) is None  # a run that finished needs no round


HARVEST_LEARNING = """
  harvest_max_frames: 10
  validation: false
  reassess: false
  selection: random
  budget_per_generation: 200
"""


def test_harvest_generation_cli_latest_json_resume_and_dedup(campaign_copy, monkeypatch, capsys):
    """--harvest joins the next generation; the same file again does nothing; a halted production run in
    simulation/latest.json runs one extra generation after the stopped loop, resumable after a kill
    between labelling and the fit; subcells labelled by an earlier generation are not labelled again."""
    from seilab import provenance
    from seilab.cli import main
    from seilab.learning import stage
    from seilab.reference.labelling import store_for

    text = campaign_copy.read_text().replace("  batches: [bulk, interface]\n", "  batches: [bulk]\n")
    text = text.replace("  budget_per_generation: 4\n", "")
    campaign_copy.write_text(text.replace("  loss_threshold: null\n", "  loss_threshold: null\n" + HARVEST_LEARNING))
    campaign = load_config(campaign_copy)
    root = campaign.stage_dir("learning")
    n0 = len(store_for(campaign))
    frames = [f for f, fate, _ in synthetic_frames() if fate in ("kept", "outside_window")]
    dump1 = campaign_copy.parent / "my.dump"
    write_gamma_dump(dump1, frames, [100, 200, 300])

    # 1. seilab learn CONFIG --harvest PATH: the harvest joins gen001 (the loop had not run yet)
    assert main(["learn", str(campaign_copy), "--harvest", str(dump1)]) == 0
    out = capsys.readouterr().out
    assert "from the production run" in out
    gen1 = json.loads((root / "gen001" / "generation.json").read_text())["summary"]
    assert gen1["harvest"]["frames"] == 2 and gen1["harvest"]["sources"][0]["outside_window"] == 1
    assert gen1["candidates_per_source"]["production"] == 5  # 3 + 2 atoms in the window
    assert gen1["candidates_per_source"]["explore"] > 0
    assert gen1["selected_per_source"]["production"] == 5 and gen1["extra_generation"] is False
    state = json.loads((root / "state.json").read_text())
    assert state["generations"]["1"]["steps"]["harvest"] == "done"
    assert state["generations"]["1"]["summary"]["candidates_per_source"]["production"] == 5
    prod_labels = [lab for lab in store_for(campaign) if ":production:" in lab.meta.get("source", "")]
    assert len(prod_labels) == 5 and all("force_weight" in lab.meta for lab in prod_labels)
    n1 = len(store_for(campaign))
    assert n1 == n0 + gen1["labelled"]

    # 2. the same file again: harvested by gen001 already, nothing runs
    monkeypatch.setattr(stage, "_step_label", lambda *a, **k: pytest.fail("nothing must be labelled"))
    assert main(["learn", str(campaign_copy), "--harvest", str(dump1)]) == 0
    assert "harvested by gen001 already" in capsys.readouterr().out
    assert not (root / "gen002").exists() and len(store_for(campaign)) == n1
    monkeypatch.undo()

    # 3. the production run halted: latest.json names its extrapolative dump (the same frames + one more)
    run = campaign.stage_dir("simulation") / "run-lammps-0123456789"
    run.mkdir(parents=True)
    extra = synthetic_frames()[2][0].copy()
    extra.rattle(0.05, seed=9)
    extra.arrays["gamma"] = synthetic_frames()[2][0].arrays["gamma"]
    write_gamma_dump(run / "extrapolative.dump", frames + [extra], [100, 200, 300, 400])
    provenance.write_json(campaign.stage_dir("simulation") / "latest.json",
                          {"run_dir": str(run), "status": "halted", "extrapolative": str(run / "extrapolative.dump"),
                           "max_gamma": 40.0, "steps_done": 400, "engine": "lammps"})
    calls = {"n": 0}

    class CountingLJ:
        def __call__(self):
            from ase.calculators.lj import LennardJones

            class _LJ(LennardJones):
                def calculate(self, *args, **kwargs):
                    calls["n"] += 1
                    return super().calculate(*args, **kwargs)

            return _LJ(sigma=2.2, epsilon=0.05, rc=4.5, smooth=True)

    class Killed(RuntimeError):
        pass

    real_fit = stage._step_fit
    monkeypatch.setattr(stage, "_step_fit", lambda *a, **k: (_ for _ in ()).throw(Killed("killed before the fit")))
    with pytest.raises(Killed):
        stage.run_learning(campaign, reference_factory=CountingLJ())
    labels = json.loads((root / "gen002" / "labels.json").read_text())
    before = {lab.hash for lab in store_for(campaign)}
    assert calls["n"] == labels["labelled"] and len(before) == n1 + labels["labelled"]
    # gen001's production subcells (the same frames, the same cuts) were selected again and found in the store
    assert {lab.hash for lab in prod_labels} <= set(labels["hashes"]) and labels["already_in_store"] >= 5
    monkeypatch.setattr(stage, "_step_fit", real_fit)
    calls["n"] = 0
    result = stage.run_learning(campaign, reference_factory=CountingLJ())
    assert calls["n"] == 0  # the resumed generation labels nothing twice
    assert len(store_for(campaign)) == len(before)
    g2 = result["generations"][-1]
    assert len(result["generations"]) == 2 and g2["generation"] == 2 and g2["extra_generation"] is True
    assert g2["stop"] == "harvested" and result["stop_reason"] == "harvested"
    assert g2["harvest"]["sources"][0]["origin"] == "production" and g2["harvest"]["frames"] == 3
    n_prod = g2["candidates_per_source"]["production"]  # gen001's 5 + up to 2 of the new frame (a cut may
    assert 5 <= n_prod <= 7 and g2["training_generation"] == "gen002"  # meet a pair floor across its seam)
    assert result["candidates_per_source"]["production"] == 5 + n_prod and result["harvest_generations"] == [1, 2]

    # 4. a plain rerun: the production run was harvested; nothing runs
    result = stage.run_learning(campaign, reference_factory=CountingLJ())
    assert calls["n"] == 0 and len(result["generations"]) == 2 and result["stop_reason"] == "harvested"
    assert not (root / "gen003").exists()


def test_a_harvest_generation_explores_with_harvest_exploration(campaign_copy, monkeypatch):
    """learning.harvest_exploration: a generation that harvests a production file explores with its engine,
    batches, interface size and steps (here: only the interfaces, replicated to 900 atoms instead of the loop's
    450, 20 steps); its interface candidates are counted per batch in the generation's summary; a generation
    without a harvest explores as before (bulk only)."""
    from seilab.learning import stage
    from seilab.learning.explore import build_jobs, discover_sources

    text = campaign_copy.read_text().replace("  batches: [bulk, interface]\n", "  batches: [bulk]\n")
    text = text.replace("  budget_per_generation: 4\n", "")
    campaign_copy.write_text(text.replace("  loss_threshold: null\n", "  loss_threshold: null\n" + HARVEST_LEARNING
                                          + "  harvest_exploration:\n    batches: [interface]\n"
                                            "    interface_atoms: 900\n    interface_md_steps: 20\n"))
    campaign = load_config(campaign_copy)
    plain = build_jobs(campaign, discover_sources(campaign)[0], 1)
    assert plain and {j.batch for j in plain} == {"bulk"}
    dump = campaign_copy.parent / "my.dump"
    write_gamma_dump(dump, [synthetic_frames()[0][0]], [100])

    class Stop(RuntimeError):
        pass

    monkeypatch.setattr(stage, "_step_label", lambda *a, **k: (_ for _ in ()).throw(Stop("after the selection")))
    with pytest.raises(Stop):
        stage.run_learning(campaign, reference_factory=helpers.LJ_FACTORY, harvest=[dump])
    gen = campaign.stage_dir("learning") / "gen001"
    explore = json.loads((gen / "explore" / "summary.json").read_text())
    assert {r["batch"] for r in explore["runs"]} == {"interface"}
    assert all(800 <= r["n_atoms"] <= 1000 and r["steps"] == 20 for r in explore["runs"])
    assert explore["interface_atoms"] == max(r["n_atoms"] for r in explore["runs"])
    assert explore["provenance"]["settings"]["interface_atoms"] == 900
    per_batch = json.loads((gen / "candidates.json").read_text())["report"]["candidates_per_batch"]
    assert per_batch.get("production") == 3 and per_batch.get("interface", 0) > 0 and "bulk" not in per_batch


def test_harvest_exploration_is_checked_with_the_loop_settings_when_loaded():
    """A harvest generation's settings are validated as a whole when the campaign is loaded: one line naming
    harvest_exploration (here its 5 interface steps, fewer than md.sample_every)."""
    from seilab.settings.learning import LearningSettings

    with pytest.raises(ValueError, match="harvest_exploration: md.sample_every 20 exceeds interface_md_steps 5"):
        LearningSettings(harvest_exploration={"interface_md_steps": 5})
    with pytest.raises(ValueError, match="interface_atom"):
        LearningSettings(harvest_exploration={"interface_atom": 10_000})
    s = LearningSettings(harvest_exploration={"engine": "lammps", "interface_atoms": 10_000})
    h = s.for_harvest()
    assert (h.engine, h.interface_atoms, h.batches, s.engine, s.interface_atoms) == ("lammps", 10_000, s.batches,
                                                                                      "auto", 2000)
    assert LearningSettings().for_harvest() == LearningSettings()
