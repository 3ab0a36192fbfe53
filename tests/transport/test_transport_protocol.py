"""The transport MD protocol (issue 15, item 1), on EMT copper: production at the volume where ⟨P⟩ = 0
at T (not the crystal's), an amorphisation check before production, a global thermostat by default,
and resume with the NpT stage in place."""

import json

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.constraints import FixCom

from seilab.transport.campaign import (NotAmorphous, Phase, bragg_order, count_complete_frames,
                                                crystal_supercell, run_campaign)
from seilab.settings.transport import TransportMD, TransportSettings
from seilab.transport.trajectory import load_trajectory
from seilab.errors import SeilabError
from seilab.provenance import read_extxyz, read_json, sidecar_path
from fixtures.killing import killed_transport_run


def compressed_cu():
    return bulk("Cu", "fcc", a=3.45, cubic=True)  # EMT's a0 is 3.61 Å: ~13 % too dense, tens of GPa at 900 K


def settings(**kw):
    base = dict(temperatures_K=[900], steps=40, sample_every=2, equilibration_steps=100, npt_steps=300,
                target_atoms=32, melt_steps=0, n_blocks=2, flush_every=10, amorphous_max_order=None)
    base.update(kw)
    md = {k: base.pop(k) for k in list(base) if k in TransportMD.model_fields}  # the MD block's keys
    return TransportSettings(**base, md=md)


def pressure_GPa(atoms) -> float:
    """Instantaneous pressure with the kinetic term, from EMT on a stored frame (its momenta included)."""
    a = atoms.copy()
    a.calc = EMT()
    return float(-np.trace(a.get_stress(voigt=False, include_ideal_gas=True)) / 3 / units.GPa)


def test_production_runs_at_the_volume_where_the_mean_pressure_is_zero(tmp_path):
    (entry,) = run_campaign([Phase("Cu", compressed_cu())], EMT(), tmp_path, settings())
    assert entry.status == "computed"
    frames = read_extxyz(entry.trajectory, index=":")
    crystal, _ = crystal_supercell(compressed_cu(), settings())
    v_crystal = crystal.get_volume()
    v_prod = frames[0].get_volume()
    assert all(f.get_volume() == pytest.approx(v_prod) for f in frames)  # NVT: one volume
    # the pressure of the production frames, recomputed here: ~0, while at the crystal's volume (the old
    # protocol) the same configurations are under tens of GPa
    p_prod = np.mean([pressure_GPa(f) for f in frames])
    at_crystal = []
    for f in frames:
        g = f.copy()
        g.set_cell(crystal.cell, scale_atoms=True)
        at_crystal.append(pressure_GPa(g))
    assert abs(p_prod) < 1.0, p_prod
    assert np.mean(at_crystal) > 10.0
    assert v_prod / v_crystal > 1.1

    # the record: volumes, <P> +- sigma at the production volume, density ratio, in the entry, the
    # trajectory's provenance and the summary
    eq = entry.equilibration
    assert eq["volume_A3"] == pytest.approx(v_prod) and eq["volume_A3_crystal"] == pytest.approx(v_crystal)
    assert eq["density_ratio_to_crystal"] == pytest.approx(v_crystal / v_prod)
    assert abs(eq["pressure_GPa"]["mean"]) < 1.0 and eq["pressure_GPa"]["std"] > 0
    assert abs(eq["npt"]["pressure_GPa"]["mean"]) < 1.0 and eq["npt"]["volume_A3"]["mean"] == pytest.approx(v_prod)
    side = read_json(sidecar_path(entry.trajectory))
    assert side["equilibration"]["volume_A3"] == pytest.approx(v_prod)
    summary = json.loads((tmp_path / "transport_summary.json").read_text())["entries"][0]
    assert summary["equilibration"]["density_ratio_to_crystal"] == pytest.approx(v_crystal / v_prod)
    # the Onsager estimator used the production volume
    assert entry.result.volume_A3 == pytest.approx(v_prod)


def test_a_cell_that_was_not_melted_is_flagged_and_a_melted_one_passes(tmp_path):
    s = settings(temperatures_K=[1600], npt_steps=0, equilibration_steps=50, amorphous_max_order=0.3)
    # not melted: the crystal enters "production" -> stopped by default, recorded with on_error="record"
    with pytest.raises(NotAmorphous, match=r"Cu 1600 K: still crystalline before production: Bragg order"):
        run_campaign([Phase("Cu", bulk("Cu", "fcc", a=3.61, cubic=True))], EMT(), tmp_path / "raise", s)
    out = tmp_path / "record"
    (crys,) = run_campaign([Phase("Cu", bulk("Cu", "fcc", a=3.61, cubic=True))], EMT(), out, s,
                           on_error="record")
    assert crys.status == "not_amorphous" and crys.result is None and "still crystalline" in crys.error
    assert crys.equilibration["amorphous"] is False and crys.equilibration["bragg_order"] > 0.5
    assert count_complete_frames(out / "Cu" / "T1600K" / "trajectory.part.extxyz") == 1  # no production
    summary = json.loads((out / "transport_summary.json").read_text())["entries"][0]
    assert summary["status"] == "not_amorphous" and "Bragg order" in summary["error"]
    # a rerun skips it (the verdict is stored), and with the check switched off it goes on from the
    # stored equilibrated frame: no equilibration again
    calc = EMT()
    (again,) = run_campaign([Phase("Cu", bulk("Cu", "fcc", a=3.61, cubic=True))], calc, out, s, on_error="record")
    assert again.status == "not_amorphous" and again.md_steps == 0
    (on,) = run_campaign([Phase("Cu", bulk("Cu", "fcc", a=3.61, cubic=True))], EMT(), out,
                         s.model_copy(update={"amorphous_max_order": None}))
    assert on.status == "computed" and on.md_steps == s.md.steps

    # melted at 3000 K (in a 25 % expanded cell: a 32-atom fcc cell at its own volume superheats, even
    # 300 steps at 4000 K leave it crystalline, which the check catches), then NpT at 1600 K: passes
    melted = s.model_copy(update={"melt_steps": 300, "melt_temperature_K": 3000.0, "volume_scale": 1.25,
                                  "npt_steps": 100})
    (liq,) = run_campaign([Phase("Cu", bulk("Cu", "fcc", a=3.61, cubic=True))], EMT(), tmp_path / "melted", melted)
    assert liq.status == "computed" and liq.equilibration["amorphous"] is True
    assert liq.equilibration["bragg_order"] < 0.3


def test_bragg_order_is_one_for_the_crystal_high_with_vibrations_and_zero_for_random_positions():
    cu = bulk("Cu", "fcc", a=3.61, cubic=True)
    sc, reps = crystal_supercell(cu, settings())
    assert bragg_order(sc, cu, reps) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    hot = sc.copy()
    hot.positions += rng.normal(scale=0.12, size=hot.positions.shape)
    assert bragg_order(hot, cu, reps) > 0.6
    hot.set_cell(hot.cell * 1.05, scale_atoms=True)  # isotropic rescaling does not change it
    assert bragg_order(hot, cu, reps) > 0.6
    rand = sc.copy()
    rand.set_scaled_positions(rng.uniform(size=(len(sc), 3)))
    assert abs(bragg_order(rand, cu, reps)) < 0.15


@pytest.mark.parametrize("thermostat", ["default", "langevin"])
def test_production_thermostat_is_global_by_default_and_stated(tmp_path, thermostat):
    """Every stored step must obey velocity Verlet up to ONE momentum scale factor (Bussi): p(t+dt) −
    dt/2 (F(t) + F(t+dt)) = α p(t) for all atoms. A per-atom Langevin friction + noise breaks that."""
    kw = {} if thermostat == "default" else {"thermostat": "langevin"}
    s = settings(steps=12, sample_every=1, npt_steps=0, equilibration_steps=20, n_blocks=1, **kw)
    (entry,) = run_campaign([Phase("Cu", bulk("Cu", "fcc", a=3.61, cubic=True))], EMT(), tmp_path, s)
    frames = read_extxyz(entry.trajectory, index=":")
    dt = s.md.timestep_fs * units.fs
    forces = []
    for f in frames:
        a = f.copy()
        a.set_constraint(FixCom())
        a.calc = EMT()
        forces.append(a.get_forces())
    residuals = []
    for k in range(len(frames) - 1):
        p0, p1 = frames[k].get_momenta(), frames[k + 1].get_momenta()
        r = p1 - 0.5 * dt * (forces[k] + forces[k + 1])
        alpha = float((r * p0).sum() / (p0 * p0).sum())
        residuals.append(np.linalg.norm(r - alpha * p0) / np.linalg.norm(r))
    side = read_json(sidecar_path(entry.trajectory))
    summary = json.loads((tmp_path / "transport_summary.json").read_text())["entries"][0]
    if thermostat == "default":
        assert max(residuals) < 1e-4, residuals  # one scale factor per step: no per-atom friction
        assert side["thermostat"]["name"] == "bussi" and side["thermostat"]["taut_fs"] == 100.0
        assert summary["thermostat"]["class"] == "ase.md.bussi.Bussi"
    else:
        assert min(residuals) > 1e-2, residuals  # per-atom kicks
        assert side["thermostat"] == {"name": "langevin", "class": "ase.md.langevin.Langevin",
                                      "scope": "per atom", "friction_per_fs": 0.01}


@pytest.mark.parametrize("kill_after", [40, 150])  # in the NpT stage; in production
def test_sigkill_with_the_npt_stage_then_rerun_keeps_the_production_cell_and_duplicates_nothing(tmp_path,
                                                                                                 kill_after):
    kw = dict(steps=200, npt_steps=50, equilibration_steps=20, flush_every=10)
    s = settings(**kw)
    rc = killed_transport_run(tmp_path, kill_after, kw | dict(
        temperatures_K=[900], sample_every=2, target_atoms=32, melt_steps=0, n_blocks=2, amorphous_max_order=None))
    assert rc == -9
    part = tmp_path / "Cu" / "T0900K" / "trajectory.part.extxyz"
    kept = count_complete_frames(part) if part.is_file() else 0
    assert (kept == 0) == (kill_after < 100)  # ~122 force calls before frame 0 (NpT: 2 per step)
    (entry,) = run_campaign([("Cu", compressed_cu())], EMT(), tmp_path, s)
    assert entry.status == "computed"
    tr = load_trajectory(entry.trajectory)
    assert tr.n_frames == 101 and np.allclose(np.diff(tr.times_ps), s.timestep_ps)  # no frame twice
    frames = read_extxyz(entry.trajectory, index=":")
    assert [f.info["step"] for f in frames] == list(range(0, 201, 2))
    v = entry.equilibration["volume_A3"]
    assert v > 1.1 * crystal_supercell(compressed_cu(), s)[0].get_volume()
    assert all(f.get_volume() == pytest.approx(v) for f in frames)  # resumed frames keep the NpT volume
    if kept:
        assert entry.md_steps == (101 - kept) * 2


def test_changing_the_thermostat_or_the_npt_stage_for_an_existing_folder_is_an_error(tmp_path):
    s = settings(npt_steps=0, equilibration_steps=0, steps=20)
    run_campaign([compressed_cu()], EMT(), tmp_path, s)
    for change in ({"thermostat": "langevin"}, {"damp_fs": 200.0}, {"npt_steps": 50}):
        key = next(iter(change))
        changed = (s.model_copy(update={"md": s.md.model_copy(update=change)}) if key in type(s.md).model_fields
                   else s.model_copy(update=change))
        with pytest.raises(SeilabError, match=key):
            run_campaign([compressed_cu()], EMT(), tmp_path, changed)


def test_bad_protocol_settings_name_the_field():
    for kw, field in [({"md": {"thermostat": "berendsen"}}, "thermostat"), ({"md": {"damp_fs": 0}}, "damp_fs"),
                      ({"npt_steps": -1}, "npt_steps"), ({"npt_steps": 5}, "npt_steps"),
                      ({"npt_compressibility_per_GPa": 0}, "npt_compressibility_per_GPa"),
                      ({"amorphous_max_order": 1.5}, "amorphous_max_order"),
                      ({"npt_taup_fs": 0.5}, "npt_taup_fs")]:
        with pytest.raises(ValueError, match=field):
            TransportSettings(**kw)
