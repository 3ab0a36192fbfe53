"""Audit of the potential on the production trajectory (seilab.simulation.audit).

A tiny Li/Li2S campaign (the learning tests' helpers: LJ labels, a tiny ACE fit with active set), a
20-step ASE interface MD, then the audit with an LJ reference that counts its force calls.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "learning"))

import helpers  # noqa: E402
from ase.calculators.lj import LennardJones  # noqa: E402

from seilab.errors import SeilabError  # noqa: E402

SIMULATION = """
simulation:
  engine: ase
  n_atoms: 200
  aspect_ratio: 1.0
  ensemble: nvt
  steps: 20
  dump_every: 5
  thermo_every: 5
  restart_every: 10
  gamma_every: 0
  audit_frames: 2
  audit_top_gamma: 1
  audit_random: 1
  audit_interphase_half_width_A: 3.0
"""


class CountingLJ(LennardJones):
    """A real LJ calculator (the tests' reference) whose force evaluations are counted, class-wide."""

    calls = 0

    def __init__(self):
        super().__init__(sigma=2.2, epsilon=0.05, rc=4.5, smooth=True)

    def get_forces(self, atoms=None):
        CountingLJ.calls += 1
        return super().get_forces(atoms)


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """(campaign.yaml, audit dict, reference calls of the first audit) of a fitted, simulated campaign."""
    from seilab.config import load_config
    from seilab.simulation.audit import run_audit
    from seilab.simulation.stage import run_simulation
    from seilab.training.stage import latest_potential, run_training

    root = tmp_path_factory.mktemp("audit")
    cfg = helpers.make_campaign(root, extra=SIMULATION)
    campaign = load_config(cfg)
    run_training(campaign)
    run_simulation(campaign, potential=latest_potential(campaign).yaml)
    CountingLJ.calls = 0
    data = run_audit(campaign, reference_factory=CountingLJ)
    return cfg, data, CountingLJ.calls


def test_audit_reports_errors_per_region(audited):
    cfg, data, calls = audited
    out = cfg.parent / "out" / "simulation"
    assert (out / "audit.json").is_file() and (out / "audit.png").stat().st_size > 1000
    assert calls == data["n_subcells"] > 0
    for region in ("metal", "interphase", "electrolyte"):
        e = data["errors"]["regions"][region]
        assert e["n_subcells"] > 0, region
        assert np.isfinite(e["energy_meV_per_atom"]["rmse"]) and np.isfinite(e["force_meV_per_A"]["rmse"])
        assert e["n_core_atoms"] > 0
    assert sum(data["errors"]["regions"][r]["n_subcells"] for r in data["errors"]["regions"]) == data["n_subcells"]
    assert data["errors"]["by_selection"]["top_gamma"]["n_subcells"] == 2  # one per audited frame
    assert data["test"]["force_meV_per_A"] > 0 and data["test"]["energy_meV_per_atom"] > 0
    assert set(data["ratio_to_test"]) == {"metal", "interphase", "electrolyte", "all"}
    # frames: evenly spread, the last one always, with a γ profile along z
    steps = [f["step"] for f in data["frames"]]
    assert steps == [10, 20]
    for f in data["frames"]:
        prof = f["profile"]
        assert len(prof["z_A"]) == len(prof["gamma_max"]) > 5 and sum(prof["n_atoms"]) == f["n_atoms"]
        assert f["gamma_max"] == max(g for g in prof["gamma_max"] if g is not None)
    # the potential is the one the MD recorded
    run_dir = Path(data["run_dir"])
    md_pot = json.loads((run_dir / "result.json").read_text())["provenance"]["settings"]["potential"]
    assert data["potential"]["yaml"] == md_pot["yaml"] and data["potential"]["generation"] == "gen000"
    # labelled subcells with their metadata
    from seilab import provenance

    subs = provenance.read_extxyz(out / "audit" / "subcells.extxyz")
    assert len(subs) == data["n_subcells"]
    for a, entry in zip(subs, data["subcells"]):
        assert a.info["audit_region"] == entry["region"] and a.info["audit_step"] == entry["step"]
        core = a.arrays["audit_core"].astype(bool)
        assert core.sum() == entry["n_core"] < len(a)
        assert core[a.info["subcell_centre"]]
        assert a.get_forces().shape == a.arrays["model_forces"].shape
        f_core = np.sqrt(np.mean((a.arrays["model_forces"][core] - a.get_forces()[core]) ** 2)) * 1000
        assert f_core == pytest.approx(entry["force_rmse_core_meV_per_A"], rel=1e-5)


def test_rerun_makes_no_reference_calls(audited):
    from seilab.config import load_config
    from seilab.simulation.audit import run_audit

    cfg, data, _ = audited
    campaign = load_config(cfg)
    CountingLJ.calls = 0
    again = run_audit(campaign, reference_factory=CountingLJ)
    assert CountingLJ.calls == 0 and again["key"] == data["key"] and again["subcells"] == data["subcells"]
    # killed after labelling (no audit.json yet): the labels come from the audit's store
    (cfg.parent / "out" / "simulation" / "audit.json").unlink()
    redone = run_audit(campaign, reference_factory=CountingLJ)
    assert CountingLJ.calls == 0
    assert redone["labelling"]["labelled"] == 0 and redone["labelling"]["already_in_store"] == data["n_subcells"]
    assert redone["errors"]["all"]["force_meV_per_A"]["rmse"] == pytest.approx(
        data["errors"]["all"]["force_meV_per_A"]["rmse"])


def test_changed_potential_is_refused(audited, tmp_path):
    from seilab.config import load_config
    from seilab.simulation.audit import run_audit

    cfg, data, _ = audited
    dst = tmp_path / "copy"
    shutil.copytree(cfg.parent, dst)
    # the copy's files point at the original's absolute paths: edit the original's potential in a copy of
    # its folder instead by rewriting the recorded paths
    src_out, dst_out = str(cfg.parent / "out"), str(dst / "out")
    for p in [dst / "out" / "simulation" / "latest.json", *dst.glob("out/simulation/run-*/result.json")]:
        p.write_text(p.read_text().replace(src_out, dst_out))
    pot = dst / "out" / "training" / "gen000" / "potential.yaml"
    pot.write_text(pot.read_text() + "\n# edited\n")
    (dst / "out" / "simulation" / "audit.json").unlink(missing_ok=True)
    with pytest.raises(SeilabError, match="changed since the MD run"):
        run_audit(load_config(dst / "campaign.yaml"), reference_factory=CountingLJ)


def test_missing_or_bad_latest_json(tmp_path):
    from seilab.config import load_config
    from seilab.simulation.audit import run_audit

    cfg = tmp_path / "campaign.yaml"
    cfg.write_text(helpers.CONFIG)
    campaign = load_config(cfg)
    latest = campaign.stage_dir("simulation") / "latest.json"
    with pytest.raises(SeilabError) as exc:
        run_audit(campaign)
    assert str(latest) in str(exc.value) and "\n" not in str(exc.value)
    latest.parent.mkdir(parents=True)
    latest.write_text("{not json")
    with pytest.raises(SeilabError) as exc:
        run_audit(campaign)
    assert str(latest) in str(exc.value) and "\n" not in str(exc.value)
    latest.write_text(json.dumps({"interface": "x"}))
    with pytest.raises(SeilabError, match="run_dir"):
        run_audit(campaign)


def test_audit_off_does_nothing(tmp_path):
    from seilab.config import load_config
    from seilab.simulation.audit import run_audit

    cfg = tmp_path / "campaign.yaml"
    cfg.write_text(helpers.CONFIG + "simulation: {audit: false}\n")
    assert run_audit(load_config(cfg))["skipped"] is True
    assert not (tmp_path / "out" / "simulation").exists()


# ----------------------------------------------------------------------------------------------- units
def test_force_errors_count_core_atoms_only():
    from seilab.simulation.audit import aggregate_errors

    n = 4
    f_ref = [np.zeros((n, 3)), np.zeros((n, 3))]
    f_pred = [np.full((n, 3), 0.1), np.full((n, 3), 0.2)]
    f_pred[0][3] = 1000.0  # a boundary atom next to the vacuum: huge, artificial error
    core = [np.array([True, True, True, False]), np.array([True, True, False, False])]
    pred = {"e_ref": np.array([-1.0, -2.0]), "e_pred": np.array([-0.99, -2.03]), "f_ref": f_ref, "f_pred": f_pred,
            "kind": ["interphase", "metal"], "symbols": [["Li"] * n, ["Li", "S", "S", "S"]], "n_atoms": [n, n]}
    out = aggregate_errors(pred, core)
    assert out["groups"]["interphase"]["force_meV_per_A"]["rmse"] == pytest.approx(100.0)
    assert out["groups"]["metal"]["force_meV_per_A"]["rmse"] == pytest.approx(200.0)
    assert out["all"]["force_meV_per_A"]["rmse"] == pytest.approx(np.sqrt((9 * 0.01 + 6 * 0.04) / 15) * 1000)
    assert out["all"]["force_meV_per_A"]["n"] == 15 and out["all"]["n_core_atoms"] == 5
    assert out["groups"]["interphase"]["energy_meV_per_atom"]["rmse"] == pytest.approx(10.0)
    assert out["all"]["energy_meV_per_atom"]["rmse"] == pytest.approx(np.sqrt((0.01 ** 2 + 0.03 ** 2) / 2) * 1000)
    empty = out["groups"]["electrolyte"]
    assert empty["n_subcells"] == 0 and empty["force_meV_per_A"]["rmse"] is None
    assert out["force_by_element"]["S"]["n_atoms"] == 1
    # without the mask the boundary atom would dominate
    full = aggregate_errors(pred, [np.ones(n, bool)] * 2)
    assert full["all"]["force_meV_per_A"]["rmse"] > 100 * out["all"]["force_meV_per_A"]["rmse"]


def test_warning_fires_above_the_factor():
    from seilab.simulation.audit import audit_warnings

    def e(energy, force):
        return {"energy_meV_per_atom": {"rmse": energy}, "force_meV_per_A": {"rmse": force}}

    errors = {"regions": {"metal": e(5.0, 100.0), "interphase": e(12.0, 412.0), "electrolyte": e(None, None)},
              "all": e(9.0, 290.0)}
    test = {"energy_meV_per_atom": 5.0, "force_meV_per_A": 150.0}
    w = audit_warnings(errors, test, 2.0)
    assert w == ["interphase energy RMSE 12.0 meV/atom is 2.4× the test-set 5.0 meV/atom",
                 "interphase force RMSE 412 meV/Å is 2.7× the test-set 150 meV/Å"]
    assert len(audit_warnings(errors, test, 1.5)) == 4  # + overall energy (1.8×) and force (1.9×)
    assert audit_warnings(errors, test, 3.0) == []
    assert audit_warnings(errors, None, 2.0) == []


def test_interface_planes_and_regions():
    from seilab.simulation.audit import REGIONS, cell_height, classify, interface_planes

    s = helpers.sandwich()  # Li2S below, 1.5 Å, Li, 1.5 Å (periodic): planes in the two gaps
    side = s.arrays["interface_side"]
    fz = s.get_scaled_positions(wrap=True)[:, 2]
    h = cell_height(s)
    planes = interface_planes(fz, side) * h
    z = fz * h
    top_el, bot_li = z[side == 0].max(), z[side == 1].min()
    top_li, bot_el = z[side == 1].max(), z[side == 0].min() + h  # the gap across the periodic boundary
    inner = [p for p in planes if top_el < p < bot_li]
    outer = [p for p in planes if top_li < p < bot_el or top_li < p + h < bot_el]
    assert len(inner) == 1 and len(outer) == 1
    # rolling the structure along z moves the planes with it
    rolled = (fz + 0.3) % 1.0
    p2 = interface_planes(rolled, side)
    assert np.allclose(np.sort((interface_planes(fz, side) + 0.3) % 1.0), p2, atol=1e-9)
    # a few swapped labels (mixing) do not move them
    noisy = side.copy()
    for sd, k in ((0, 1), (1, 2)):  # atoms deep inside each slab took the other side's label
        idx = np.flatnonzero(side == sd)
        noisy[idx[np.argsort(np.abs(z[idx] - np.median(z[idx])))[:k]]] ^= 1
    assert np.allclose(interface_planes(fz, noisy), interface_planes(fz, side), atol=0.05)
    reg = classify(fz, side, interface_planes(fz, side), h, 2.0)
    d = np.min([np.abs((z - p + h / 2) % h - h / 2) for p in planes], axis=0)
    assert np.all((reg == REGIONS.index("interphase")) == (d <= 2.0))
    far = d > 2.0
    assert np.all(reg[far & (side == 1)] == REGIONS.index("metal"))
    assert np.all(reg[far & (side == 0)] == REGIONS.index("electrolyte"))


def test_pick_frames_spreads_and_keeps_the_last():
    from seilab.simulation.audit import pick_frames

    assert pick_frames(5, 4) == [1, 2, 3, 4]
    assert pick_frames(11, 4) == [2, 5, 8, 10]
    assert pick_frames(3, 4) == [1, 2]
    assert pick_frames(1, 4) == [0] and pick_frames(0, 4) == []
    assert pick_frames(101, 1) == [100]


def test_trajectory_reads_dump_and_extxyz_alike(audited, tmp_path):
    from ase.io import write

    from seilab.simulation.audit import Trajectory

    _, data, _ = audited
    dump = Trajectory(Path(data["run_dir"]), ["Li", "S"])
    assert dump.format == "lammps-dump-text" and dump.steps == [0, 5, 10, 15, 20]
    frames = [dump.read(i) for i in range(len(dump))]
    run = tmp_path / "run"
    run.mkdir()
    for f in frames:
        write(str(run / "trajectory.extxyz"), f, format="extxyz", append=True)
    ext = Trajectory(run, ["Li", "S"])
    assert ext.format == "extxyz" and ext.steps == dump.steps
    b = ext.read(3)
    assert np.allclose(b.positions, frames[3].positions) and np.array_equal(b.numbers, frames[3].numbers)
    assert np.allclose(b.cell.array, frames[3].cell.array)


def test_audit_settings():
    from seilab.settings.simulation import SimulationSettings

    s = SimulationSettings()
    assert s.audit is True and s.audit_frames == 4 and s.audit_top_gamma == 2 and s.audit_random == 2
    assert s.audit_interphase_half_width_A == 5.0 and s.audit_z_bin_A == 2.0 and s.audit_warn_factor == 2.0
    for name in ("audit", "audit_frames", "audit_top_gamma", "audit_random", "audit_interphase_half_width_A",
                 "audit_z_bin_A", "audit_warn_factor"):
        assert SimulationSettings.model_fields[name].description
    with pytest.raises(ValueError, match="audit"):
        SimulationSettings(audit_top_gamma=0, audit_random=0)
    SimulationSettings(audit=False, audit_top_gamma=0, audit_random=0)
    with pytest.raises(ValueError):
        SimulationSettings(audit_frames=0)


@pytest.mark.parametrize("fmt", ["lammps-dump", "extxyz"])
def test_halt_diagnosis_names_the_atoms_that_stopped_the_run(tmp_path, fmt):
    """The halting frame of an extrapolative dump (LAMMPS' text dump, or the ASE engine's extxyz): atoms above
    the window's upper end per element and region, the highest first with its distance to the nearer interface
    plane and its neighbours within 3 Å."""
    from seilab.md.dump import write_dump_frame
    from seilab.simulation.audit import (REGIONS, cell_height, classify, describe_halt, halt_diagnosis,
                                         interface_planes)

    s = helpers.sandwich()
    side = s.arrays["interface_side"]
    h = cell_height(s)
    planes = interface_planes(s.get_scaled_positions(wrap=True)[:, 2], side)
    reg = np.array(REGIONS)[classify(s.get_scaled_positions(wrap=True)[:, 2], side, planes, h, 2.0)]
    g = np.full(len(s), 0.5)
    hot_s = int(np.flatnonzero((np.array(s.get_chemical_symbols()) == "S") & (reg == "interphase"))[0])
    hot_li = int(np.flatnonzero((np.array(s.get_chemical_symbols()) == "Li") & (reg == "metal"))[0])
    g[hot_s], g[hot_li] = 30.0, 3.0
    frames = ((100, np.full(len(s), 0.5)), (200, g))  # the last frame is the halting one
    if fmt == "lammps-dump":
        dump = tmp_path / "extrapolative.dump"
        with open(dump, "w") as fh:
            for step, gg in frames:
                write_dump_frame(fh, s, step, None, ["Li", "S"], extra={"f_pace_gamma": gg},
                                 columns=("id", "type", "element", "x", "y", "z"))
    else:  # as seilab.md.ase_engine writes it: per-atom array gamma, info step
        from ase.io import write

        dump = tmp_path / "extrapolative.extxyz"
        for step, gg in frames:
            fr = s.copy()
            fr.arrays["gamma"] = gg
            fr.info["step"] = step
            write(dump, fr, format="extxyz", append=True)
    d = halt_diagnosis(dump, s, 2.5, 2.0)
    assert d["step"] == 200 and d["max_gamma"] == 30.0 and d["n_above"] == 2
    assert d["above_by_element"] == {"Li": 1, "S": 1} and d["above_by_region"] == {"interphase": 1, "metal": 1}
    top = d["top"][0]
    assert top["index"] == hot_s and top["element"] == "S" and top["region"] == "interphase"
    assert top["distance_to_interface_A"] <= 2.0
    from ase.neighborlist import neighbor_list

    i, j = neighbor_list("ij", s, 3.0)
    assert top["neighbours"]["Li"] == int(np.sum(np.array(s.get_chemical_symbols())[j[i == hot_s]] == "Li"))
    assert "γ > 2.5 on 2 atoms" in describe_halt(d) and "the highest: S (γ 30" in describe_halt(d)
    assert halt_diagnosis(tmp_path / "none.dump", s, 2.5, 2.0) is None
