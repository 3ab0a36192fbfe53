"""The large-interface builder: size, bulk densities, intact PS units, cell shape, LAMMPS data I/O."""

from __future__ import annotations

import time

import numpy as np
import pytest

from seilab.md.engine import read_lammps_data, write_lammps_data
from seilab.simulation.interface import build_interface, lattice_matches, oriented_cell


def _side(atoms, k):
    return np.asarray(atoms.arrays["interface_side"]) == k


def test_size_composition_and_density(bulk):
    a = build_interface(bulk["Li_bcc"], bulk["Li7P3S11"], 1000, anode_name="Li_bcc", electrolyte_name="Li7P3S11")
    info = a.info["interface"]
    assert abs(len(a) - 1000) / 1000 < 0.05
    syms = np.array(a.get_chemical_symbols())
    el, an = _side(a, 0), _side(a, 1)
    assert set(syms[an]) == {"Li"}
    counts = {e: int(np.sum(syms[el] == e)) for e in ("Li", "P", "S")}
    k = counts["P"] // 3
    assert counts == {"Li": 7 * k, "P": 3 * k, "S": 11 * k}
    # both slabs at their bulk density (the anode's strain is compensated along z)
    area = abs(np.linalg.det(a.cell.array[:2, :2]))
    for mask, name, period, reps in ((el, "Li7P3S11", "electrolyte_period_A", "electrolyte_repeats"),
                                     (an, "Li_bcc", "anode_period_A", "anode_repeats")):
        rho = mask.sum() / (area * info[period] * info[reps])
        rho_bulk = len(bulk[name]) / bulk[name].get_volume()
        assert rho == pytest.approx(rho_bulk, rel=1e-6), name
    # orthogonal along z, a along x, Gauss-reduced in-plane cell
    c = a.cell.array
    assert np.allclose(c[2, :2], 0) and np.allclose(c[:2, 2], 0) and abs(c[0, 1]) < 1e-9
    assert abs(c[1, 0]) <= c[0, 0] / 2 + 1e-9
    assert info["anode_strain"] <= 0.05
    # electrolyte below, anode above
    assert a.positions[el, 2].mean() < a.positions[an, 2].mean()


def test_ps_units_stay_whole(small_interface, bulk):
    from ase.neighborlist import neighbor_list

    a = small_interface
    syms = np.array(a.get_chemical_symbols())
    i, j = neighbor_list("ij", a, {("P", "S"): 2.45})
    per_p = np.bincount(i[syms[i] == "P"], minlength=len(a))[syms == "P"]
    b = bulk["Li7P3S11"]
    bs = np.array(b.get_chemical_symbols())
    bi, _ = neighbor_list("ij", b, {("P", "S"): 2.45})
    bulk_per_p = np.bincount(bi[bs[bi] == "P"], minlength=len(b))[bs == "P"]
    assert sorted(set(per_p)) == sorted(set(bulk_per_p)) == [4]
    # no overlapping atoms: closest pair is the 1.5 Å interface gap, not a collision
    d = neighbor_list("d", a, 1.4)
    assert len(d) == 0


def test_scales_to_10k_quickly(bulk):
    t0 = time.perf_counter()
    a = build_interface(bulk["Li_bcc"], bulk["Li7P3S11"], 10_000)
    assert abs(len(a) - 10_000) / 10_000 < 0.05
    assert time.perf_counter() - t0 < 60
    H = a.cell.array[2, 2]
    lateral = np.sqrt(abs(np.linalg.det(a.cell.array[:2, :2])))
    assert 1.0 < H / lateral < 4.0  # aspect_ratio 2 (approximately)


def test_lattice_match_and_seed(bulk):
    f = oriented_cell(bulk["Li_bcc"], (1, 0, 0))
    s = oriented_cell(bulk["Li7P3S11"], (1, 0, 0))
    ms = lattice_matches(f, s, max_strain=0.05)
    assert ms and all(m.strain <= 0.05 + 1e-9 for m in ms)
    assert ms[0].area_A2 <= ms[-1].area_A2
    # a seed cell picks the match with that in-plane metric
    big = ms[-1]
    S = s.cell.array[:2, :2]
    Sp = big.substrate_M @ S
    seed = np.zeros((3, 3))
    seed[:2, :2] = Sp
    seed[2, 2] = 30
    a = build_interface(bulk["Li_bcc"], bulk["Li7P3S11"], 2000, seed_cell=seed)
    got = sorted(np.linalg.norm(np.array(a.info["interface"]["match_cell_A"]), axis=1))
    want = sorted(np.linalg.norm(Sp, axis=1))
    assert got == pytest.approx(want, rel=1e-6)
    b = build_interface(bulk["Li_bcc"], bulk["Li7P3S11"], 2000)
    assert sorted(np.linalg.norm(np.array(b.info["interface"]["match_cell_A"]), axis=1)) != pytest.approx(want, rel=1e-3)


def test_lammps_data_roundtrip(tmp_path, small_interface):
    p = write_lammps_data(tmp_path / "s.data", small_interface, ("Li", "P", "S"))
    text = p.read_text()
    assert "3 atom types" in text and "Masses" in text
    b = read_lammps_data(p, ("Li", "P", "S"))
    assert b.get_chemical_symbols() == small_interface.get_chemical_symbols()
    assert np.allclose(b.cell.array, small_interface.cell.array, atol=1e-6)
    d = b.positions - small_interface.positions
    frac = np.linalg.solve(b.cell.array.T, d.T).T
    assert np.allclose(frac - np.round(frac), 0, atol=1e-6)


def test_stage_uses_lowest_energy_sampling_interface(tmp_path, bulk, demo_pot):
    """interface_structure() takes the lattice match of the sampling interface with the lowest
    interface energy, and rebuilds (not reuses) the cached interface when settings change."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from seilab import provenance
    from seilab.sampling.interfaces import pair_name
    from seilab.md.ase_engine import ace_calculator
    from seilab.settings.simulation import SimulationSettings
    from seilab.simulation.stage import interface_structure
    from fixtures.training import demo_campaign

    camp = demo_campaign(tmp_path / "out", phases=("Li_bcc", "Li7P3S11"))
    calc = ace_calculator(demo_pot)
    e = {}
    for name in ("Li_bcc", "Li7P3S11"):
        b = bulk[name].copy()
        b.calc = calc
        e[name] = b.get_potential_energy() / len(b)
    f = oriented_cell(bulk["Li_bcc"], (1, 0, 0))
    s = oriented_cell(bulk["Li7P3S11"], (1, 0, 0))
    ms = lattice_matches(f, s)
    small = build_interface(bulk["Li_bcc"], bulk["Li7P3S11"], 300)
    seed_big = np.zeros((3, 3))
    seed_big[:2, :2] = ms[-1].substrate_M @ s.cell.array[:2, :2]
    seed_big[2, 2] = 40
    big = build_interface(bulk["Li_bcc"], bulk["Li7P3S11"], 600, seed_cell=seed_big)
    frames = []
    for atoms, gamma in ((small, 0.05), (big, 0.01)):  # the big-cell match has the lower interface energy
        side = atoms.arrays["interface_side"]
        area = float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1])))
        energy = (side == 1).sum() * e["Li_bcc"] + (side == 0).sum() * e["Li7P3S11"] + 2 * area * gamma
        fr = atoms.copy()
        fr.info = {}
        fr.calc = SinglePointCalculator(fr, energy=energy, forces=np.zeros((len(fr), 3)))
        frames.append(fr)
    path = camp.stage_dir("sampling") / "interfaces" / f"{pair_name('Li_bcc', (1, 0, 0), 'Li7P3S11', (1, 0, 0))}.extxyz"
    provenance.write_extxyz(path, frames, provenance.record("test"))
    settings = SimulationSettings(n_atoms=800)
    atoms, ipath = interface_structure(camp, settings, demo_pot)
    import json

    def lengths(info):
        return sorted(np.linalg.norm(np.array(info["match_cell_A"]), axis=1))

    def seed_lengths(m):
        from seilab.simulation.interface import _gauss_reduce

        Sp = m.substrate_M @ s.cell.array[:2, :2]
        return sorted(np.linalg.norm(_gauss_reduce(Sp[0], Sp[1]) @ Sp, axis=1))

    assert not np.allclose(seed_lengths(ms[0]), seed_lengths(ms[-1]), atol=0.1)  # the test can tell them apart

    info = json.loads(provenance.read_extxyz(ipath, index=-1).info["interface"])
    assert info["seeded"] and info["seed_file"] == str(path)
    assert lengths(info) == pytest.approx(seed_lengths(ms[-1]), rel=1e-6)
    # without sampling interfaces the smallest match is used
    unseeded = SimulationSettings(n_atoms=800, use_sampling_interfaces=False)
    _, ipath2 = interface_structure(camp, unseeded, demo_pot)
    info2 = json.loads(provenance.read_extxyz(ipath2, index=-1).info["interface"])
    assert not info2["seeded"] and lengths(info2) == pytest.approx(seed_lengths(ms[0]), rel=1e-6)


def _cross_minima(atoms, cutoff=3.0):
    from seilab.geometry import neighbour_list

    side = np.asarray(atoms.arrays["interface_side"])
    syms = np.array(atoms.get_chemical_symbols())
    i, j, d = neighbour_list("ijd", atoms, cutoff)
    out = {}
    for a, b, r in zip(i[side[i] != side[j]], j[side[i] != side[j]], d[side[i] != side[j]]):
        k = "-".join(sorted((syms[a], syms[b])))
        out[k] = min(out.get(k, np.inf), float(r))
    return out


def test_auto_gap_keeps_bulk_contacts_at_both_interfaces(bulk):
    """'auto' (the default): no pair across either interface is closer than its shortest bulk distance;
    the paper's fixed 1.5 Å puts S next to Li at ~1.55 Å (bulk Li-S >= 2.39 Å)."""
    from seilab.geometry import pair_minima

    li_s = pair_minima([bulk["Li7P3S11"]])["Li-S"]
    fixed = build_interface(bulk["Li_bcc"], bulk["Li7P3S11"], 1000, gap_A=1.5)
    auto = build_interface(bulk["Li_bcc"], bulk["Li7P3S11"], 1000)
    assert fixed.info["interface"]["gap_A"] == [1.5, 1.5]
    assert _cross_minima(fixed)["Li-S"] < 0.75 * li_s
    info = auto.info["interface"]
    assert info["gap_choice"].startswith("auto")
    g1, g2 = info["gap_A"]
    assert 1.5 < g1 < 3.5 and 1.5 < g2 < 3.5 and g1 != g2  # one gap per interface, from its own terminations
    cross = _cross_minima(auto)
    assert cross["Li-S"] == pytest.approx(li_s, abs=0.02)  # the closest contact is the bulk one, not closer
    assert min(cross.values()) >= li_s - 0.02
    # the interfaces sit in the middle of their gaps
    z = auto.positions[:, 2]
    side = np.asarray(auto.arrays["interface_side"])
    assert info["interfaces_z_A"][0] == pytest.approx((z[side == 0].max() + z[side == 1].min()) / 2, abs=0.3)
    # composition and size as with a fixed gap
    assert len(auto) == len(fixed)
