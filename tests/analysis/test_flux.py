"""Net ionic flux from a known displacement field (in memory and through a dump file)."""

from __future__ import annotations

import numpy as np
import pytest

from seilab.analysis.flux import IonicFlux
from seilab.analysis.interface import InterfaceReference, find_interface
from seilab.analysis.pipeline import analyze_trajectory
from seilab.settings.analysis import AnalysisSettings
from seilab.analysis.trajectory import Frame, write_lammps_dump

L = np.array([12.0, 12.0, 40.0])
ORIGIN = np.array([0.0, 0.0, -20.0])
M_LI = [0, 1, 3, 6, 8, 9, 16]  # planes of Li moved toward -z (the electrolyte)
M_P = [0, 1, 1, 2, 2, 2, 3]  # planes of P moved toward +z (the metal)
TIMES = [0.0, 1.0, 2.0, 4.0, 5.0, 7.0, 10.0]
DZ = 2.0  # grid plane spacing along z (Å)


def _frames():
    """16 atoms per z plane (8 Li, 4 P, 4 S), 20 planes at z = ±1, ±3, ... ±19 Å."""
    g = np.arange(4) * 3.0 + 1.5
    gx, gy, gz = np.meshgrid(g, g, -20 + (np.arange(20) + 0.5) * DZ, indexing="ij")
    r0 = np.column_stack([gx.ravel(), gy.ravel(), gz.ravel()])
    pattern = np.array(["Li", "Li", "P", "S"] * 4, dtype="U8")  # per (x, y) column
    sym = np.tile(pattern, 20).reshape(20, 16).T.ravel()  # same order as r0
    assert (sym == "Li").sum() == 8 * 20
    frames = []
    for k, t in enumerate(TIMES):
        r = r0.copy()
        r[sym == "Li", 2] -= DZ * M_LI[k]
        r[sym == "P", 2] += DZ * M_P[k]
        r[sym == "S", 2] += 0.6 * np.sin(k)  # S rattles (and crosses the box edge at ±20)
        s = (r - ORIGIN) / L
        w = ORIGIN + (s - np.floor(s)) * L
        frames.append(
            Frame(
                k,
                t,
                np.diag(L),
                ORIGIN.copy(),
                np.array([True] * 3),
                np.arange(1, r.shape[0] + 1),
                sym,
                w,
                r,
                step=int(t * 1000),
            )
        )
    return frames


def _expected(direction=1):
    area_nm2 = L[0] * L[1] / 100.0
    li = -8 * np.array(M_LI) * direction
    p = 4 * np.array(M_P) * direction
    return area_nm2, li, p


def test_flux_known_displacements_in_memory():
    frames = _frames()
    ref = InterfaceReference(normal_axis=2, s0=0.5, direction=1, periodic=True, z0_A=0.0, height0_A=40.0, area_A2=144.0)
    fl = IonicFlux(ref, ["Li", "P", "S"])
    for fr in frames:
        fl.compute(fr)
    area, li, p = _expected()
    np.testing.assert_array_equal(fl.net_crossings[:, 0], li)
    np.testing.assert_array_equal(fl.net_crossings[:, 1], p)
    np.testing.assert_array_equal(fl.net_crossings[:, 2], 0)
    np.testing.assert_allclose(fl.net_per_area[:, 0], li / area)
    # flux between frames: Δ(net per area) / Δt, e.g. 2 Li planes in 1 ps between t = 1 and 2
    np.testing.assert_allclose(fl.flux[1, 0], -16 / area / 1.0)
    np.testing.assert_allclose(fl.flux_times_ps, 0.5 * (np.array(TIMES[1:]) + TIMES[:-1]))
    np.testing.assert_allclose(fl.flux[:, 1], np.diff(p) / area / np.diff(TIMES))


def test_flux_sign_flips_when_metal_is_below():
    frames = _frames()
    ref = InterfaceReference(2, 0.5, -1, True, 0.0, 40.0, 144.0)
    fl = IonicFlux(ref, ["Li", "P", "S"])
    for fr in frames:
        fl.compute(fr)
    _, li, p = _expected(direction=-1)
    np.testing.assert_array_equal(fl.net_crossings[:, 0], li)
    np.testing.assert_array_equal(fl.net_crossings[:, 1], p)


def test_flux_through_dump_without_image_flags(tmp_path):
    """Write wrapped coordinates only; the reader unwraps by minimum image; the pipeline gives the flux."""
    frames = _frames()
    path = write_lammps_dump(
        tmp_path / "flux.lammpstrj", frames, type_map=["Li", "P", "S"], columns=("id", "type", "x", "y", "z")
    )
    s = AnalysisSettings(
        type_map=["Li", "P", "S"],
        interface_position_A=0.0,
        metal_side="above",
        figures=False,
        structure_every=100,
        timestep_fs=1.0,
    )
    res = analyze_trajectory(path, s)
    assert res.unwrap_method == "minimum-image"
    np.testing.assert_allclose(res.times_ps, TIMES)
    area, li, p = _expected()
    np.testing.assert_allclose(res.flux.net_crossings[:, 0], li)
    np.testing.assert_allclose(res.flux.net_crossings[:, 1], p)
    np.testing.assert_allclose(res.flux.net_crossings[:, 2], 0)
    assert res.to_dict()["flux"]["net_per_area_per_nm2"]["Li"][-1] == pytest.approx(-8 * 16 / area)


def test_interface_found_at_composition_step():
    """Metal above z = 5 Å, electrolyte-like below; auto detection puts the plane there, metal up."""
    from seilab.analysis.synthetic import layered_frame

    fr = layered_frame(
        [(5.0, 30.0, {"Li": 1}), (-30.0, 5.0, {"Li": 7, "P": 3, "S": 11})], (15, 15, 60), spacing=(2.5, 2.5, 1.0)
    )
    ref = find_interface(fr, ["Li"])
    assert ref.direction == 1
    assert ref.z0_A == pytest.approx(5.0, abs=0.6)
    z = ref.z(fr)
    assert np.all(fr.symbols[(z > 1.0) & (z < 20)] == "Li")
    # forcing the other orientation finds the second interface (periodic image at ±30 Å), metal below
    ref2 = find_interface(fr, ["Li"], metal_side="below")
    assert ref2.direction == -1
    assert abs(abs(ref2.z0_A) - 30.0) < 0.6


def _sandwich(h: float, k: int = 0, t: float = 0.0):
    """Periodic Li | Li2S | Li7P3S11 | Li2S | (Li): the metal fills z in (0, 40), the electrolyte (-40, 0),
    and an interphase of half-width h grows at both interfaces (z = 0 and the box edge z = ±40)."""
    from seilab.analysis.synthetic import layered_frame

    li, li2s, sse = {"Li": 1}, {"Li": 2, "S": 1}, {"Li": 7, "P": 3, "S": 11}
    regions = [(h, 40 - h, li), (-h, h, li2s), (40 - h, 40, li2s), (-40, -40 + h, li2s), (-40 + h, -h, sse)]
    regions = [r for r in regions if r[1] > r[0]]
    return layered_frame(regions, (15, 15, 80), spacing=(2.5, 2.5, 1.0), jitter=0.2, seed=k, time_ps=t, index=k)


def test_both_interfaces_of_a_periodic_sandwich_are_found_and_folded():
    """Issue 15 item 7: z is the distance to the nearest interface, so the second interface is not a
    feature inside the metal, and the interphase growing at both is measured once, at its true width."""
    from seilab.analysis.pipeline import analyze_frames

    first = _sandwich(0.0)
    ref = find_interface(first, ["Li"])
    assert ref.s1 is not None and len(ref.planes) == 2
    assert abs(ref.z0_A) < 1.0 and abs((ref.s1 - ref.s0) % 1.0 - 0.5) < 0.02  # z = 0 and the box edge
    assert ref.planes[1][1] == -ref.planes[0][1]
    z = ref.z(first)
    metal = first.symbols == "Li"
    assert np.abs(z).max() <= 20.0 + 1e-9  # folded: nothing is farther than half a slab from an interface
    in_metal = (first.positions[:, 2] > 2) & (first.positions[:, 2] < 38)
    assert (z[in_metal] > 0).all() and (z[~metal] < 0).all()  # metal on the + side of both interfaces
    hs = [0.0, 4.0, 8.0, 12.0]
    frames = [_sandwich(h, k, t) for k, (h, t) in enumerate(zip(hs, [0.0, 1.0, 4.0, 9.0]))]
    s = AnalysisSettings(figures=False, phase_coordination_weight=0.0, structure_every=1)
    res = analyze_frames(frames, s)
    np.testing.assert_allclose(res.growth.thickness_A, 2 * np.array(hs), atol=1.5)
    assert res.layer_names[0] == "Li metal" and res.layer_names[-1] == "Li7P3S11" and "Li2S" in res.layer_names
    # one plane only (the old behaviour): the second interface lies deep in the "metal" side at z ≈ +40 - h,
    # where the profile then shows Li2S
    one = analyze_frames(frames, s.model_copy(update={"fold_interfaces": False}))
    assert one.interface.s1 is None
    centres = one.bin_centers_A
    last = one.composition_counts[-1]  # (species, bins)
    s_code = one.species.index("S")
    assert last[s_code, centres > 30].sum() > 0  # S "inside the metal": the unfolded second interface
    fold_last = res.composition_counts[-1]
    assert fold_last[res.species.index("S"), res.bin_centers_A > 14].sum() == 0


def test_flux_counts_both_planes_per_area_of_one_interface():
    """Li entering the metal through either interface counts; an atom crossing the whole metal does not."""
    ref = InterfaceReference(normal_axis=2, s0=0.25, direction=1, periodic=True, z0_A=-10.0, height0_A=40.0,
                             area_A2=144.0, s1=0.75)  # metal between s = 0.25 and 0.75
    cell, origin, pbc = np.diag(L), ORIGIN.copy(), np.array([True] * 3)
    sym = np.array(["Li", "Li", "Li", "S"])
    # s:   Li a enters at plane 0 (0.2 -> 0.3), Li b enters at plane 1 (0.8 -> 0.7),
    #      Li c crosses the metal (0.2 -> 0.8), S stays in the electrolyte (0.9 -> 1.1, across the box edge)
    s_start = np.array([0.2, 0.8, 0.2, 0.9])
    s_end = np.array([0.3, 0.7, 0.8, 1.1])
    frames = []
    for k, sz in enumerate((s_start, s_end)):
        r = np.column_stack([np.full(4, 6.0), np.full(4, 6.0), ORIGIN[2] + sz * L[2]])
        w = r.copy()
        w[:, 2] = ORIGIN[2] + (sz % 1.0) * L[2]
        frames.append(Frame(k, float(k), cell, origin, pbc, np.arange(1, 5), sym, w, r))
    fl = IonicFlux(ref, ["Li", "S"])
    for fr in frames:
        fl.compute(fr)
    assert fl.n_planes == 2
    np.testing.assert_array_equal(fl.net_crossings[-1], [2, 0])  # a and b in; c in and out; S nowhere
    assert fl.net_per_area[-1, 0] == pytest.approx(2 / (2 * 144.0 / 100.0))  # per area of one interface
    d = fl.to_dict()
    assert d["planes"] == 2 and "per area of one interface" in d["area_convention"]
    # one plane (s1 None) counts a and c at plane 0 only
    single = IonicFlux(InterfaceReference(2, 0.25, 1, True, -10.0, 40.0, 144.0), ["Li", "S"])
    for fr in frames:
        single.compute(fr)
    np.testing.assert_array_equal(single.net_crossings[-1], [2, 0])
    assert single.net_per_area[-1, 0] == pytest.approx(2 / 1.44)
