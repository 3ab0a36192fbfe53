"""Subcells: pure geometry with synthetic γ (no model, no reference)."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list

from seilab.errors import SeilabError
from seilab.learning.subcells import PaddedFrame, cut_subcells, deduplicate
from seilab.geometry import min_distance


def _hot_gamma(n, hot, seed=0):
    rng = np.random.default_rng(seed)
    g = 0.9 * rng.random(n)
    idx = rng.choice(n, size=hot, replace=False)
    g[idx] = 1.0 + 1.4 * rng.random(hot)
    return g


def _sheared_li(reps=(14, 14, 14), seed=1):
    """A triclinic ~5,500-atom bcc Li frame (cell sheared, atoms follow), rattled."""
    a = bulk("Li", "bcc", a=3.44, cubic=True).repeat(reps)
    shear = np.array([[1.0, 0.0, 0.0], [0.25, 1.0, 0.0], [-0.15, 0.2, 1.0]])
    a.set_cell(a.cell.array @ shear, scale_atoms=True)
    a.rattle(0.08, seed=seed)
    return a


def _assert_subcell_ok(parent, sc, cutoff, target, vacuum, floor):
    sub = sc.atoms
    # size
    assert abs(len(sub) - target) <= 0.3 * target, (len(sub), target)
    # cubic periodic cell = box + vacuum on each side; every atom inside the box part
    edge = 2 * np.asarray(sc.half_width) + 2 * vacuum
    assert all(sub.pbc)
    assert np.allclose(sub.cell.array, np.diag(edge))
    assert np.all(sub.positions.min(axis=0) >= vacuum - 1e-9)
    assert np.all(sub.positions.max(axis=0) <= edge - vacuum + 1e-9)
    if vacuum > 0:  # the box part is filled up to its faces: the padding is real vacuum
        assert np.all(sub.positions.max(axis=0) - sub.positions.min(axis=0) <= 2 * np.asarray(sc.half_width) + 1e-9)
    assert np.all(np.asarray(sc.half_width) >= cutoff - 1e-9)
    assert np.ptp(sc.half_width) <= 2.0  # close to a cube
    # no close contacts, periodic images included
    assert min_distance(sub) >= floor - 1e-9
    # the centre atom's full neighbour shell of the parent (all images) is in the subcell
    i, j, D = neighbor_list("ijD", parent, cutoff)
    shell = D[i == sc.centre]
    assert len(shell) > 0
    rel = sub.positions - sub.positions[sc.centre_local]
    for v in shell:
        assert np.min(np.linalg.norm(rel - v, axis=1)) < 1e-6
    # and no extra atom inside the cutoff sphere that the parent does not have
    inside = np.linalg.norm(rel, axis=1)
    strict = np.linalg.norm(shell, axis=1) < cutoff - 1e-6
    assert np.sum((inside > 1e-8) & (inside < cutoff - 1e-6)) == strict.sum()
    assert sub.numbers[sc.centre_local] == parent.numbers[sc.centre]
    assert sub.arrays["parent_index"][sc.centre_local] == sc.centre


def test_triclinic_frame_subcells_hit_target_and_keep_the_shell():
    parent = _sheared_li()
    g = _hot_gamma(len(parent), 60)
    cutoff, target, vac, floor = 5.0, 100, 0.5, 1.2
    subs, rep = cut_subcells(parent, g, cutoff=cutoff, n_atoms=target, vacuum=vac, min_distance=floor,
                             max_subcells=8, min_gamma=1.0, max_gamma=2.5)
    assert len(subs) == 8 and rep["kept"] == 8
    for sc in subs:
        _assert_subcell_ok(parent, sc, cutoff, target, vac, floor)
    # centres: highest γ first, all in the window, none inside another subcell's box
    gc = [sc.gamma_centre for sc in subs]
    assert gc == sorted(gc, reverse=True) and all(1.0 < x < 2.5 for x in gc)
    for a in subs:
        for b in subs:
            if a is not b:
                assert a.centre not in set(b.atoms.arrays["parent_index"].tolist())
    # the highest-γ atom of the frame in the window is the first centre
    ok = np.flatnonzero((g > 1.0) & (g < 2.5))
    assert subs[0].centre == ok[np.argmax(g[ok])]


@pytest.mark.parametrize("target", [50, 100, 200])
def test_box_edge_follows_the_target_count(target):
    parent = bulk("Li", "bcc", a=3.44, cubic=True).repeat((12, 12, 12))
    parent.rattle(0.05, seed=3)
    subs, _ = cut_subcells(parent, _hot_gamma(len(parent), 20), cutoff=3.5, n_atoms=target, max_subcells=4)
    assert subs
    for sc in subs:
        _assert_subcell_ok(parent, sc, 3.5, target, 0.5, 1.2)


def test_cell_smaller_than_the_box_uses_several_images():
    # 2 atoms, triclinic cell ~3 Å: the box holds dozens of periodic images of each atom
    t = Atoms("LiS", positions=[[0, 0, 0], [1.2, 1.3, 1.1]],
              cell=[[3.0, 0, 0], [1.5, 2.8, 0], [0.7, 0.9, 2.9]], pbc=True)
    subs, rep = cut_subcells(t, np.array([1.5, 0.5]), cutoff=5.0, n_atoms=100, min_distance=1.0, max_subcells=3)
    assert rep["kept"] == 1  # the only other atom is inside the first box: no second centre
    _assert_subcell_ok(t, subs[0], 5.0, 100, 0.5, 1.0)
    assert set(subs[0].atoms.arrays["parent_index"]) == {0, 1}


def _packed(n=1200, density=0.046, dmin=2.1, seed=0):
    """An amorphous-like periodic Li frame: random sequential addition with a minimum distance."""
    L = (n / density) ** (1 / 3)
    rng = np.random.default_rng(seed)
    pos = np.empty((0, 3))
    while len(pos) < n:
        p = rng.random(3) * L
        d = pos - p
        d -= L * np.round(d / L)
        if len(pos) == 0 or np.min(np.einsum("ij,ij->i", d, d)) >= dmin ** 2:
            pos = np.vstack([pos, p])
    return Atoms(f"Li{n}", positions=pos, cell=[L, L, L], pbc=True)


def test_artificial_contacts_across_the_new_boundary_are_removed():
    # atoms just inside opposite faces meet across the new boundary (only 2 x 0.5 Å of vacuum apart)
    parent = _packed()
    floor = 1.8
    assert min_distance(parent) >= 2.1  # the parent itself has no close contact
    g = np.random.default_rng(1).random(len(parent)) * 2.4
    subs, rep = cut_subcells(parent, g, cutoff=4.0, n_atoms=90, vacuum=0.5, min_distance=floor, max_subcells=10)
    assert len(subs) == 10
    assert rep["boundary_atoms_removed"] > 0 and rep["close_contact"] == 0
    for sc in subs:
        _assert_subcell_ok(parent, sc, 4.0, 90, 0.5, floor)
        assert abs(len(sc.atoms) - 90) <= 3  # disordered frames: the count is hit almost exactly


def test_close_contact_in_the_parent_rejects_the_subcell():
    parent = bulk("Li", "bcc", a=3.44, cubic=True).repeat((8, 8, 8))
    g = np.zeros(len(parent))
    g[0] = 2.0
    # put an atom 0.8 Å from a neighbour of the centre
    parent.positions[1] = parent.positions[0] + [0.5, 0.5, 0.3]
    subs, rep = cut_subcells(parent, g, cutoff=4.0, n_atoms=80, min_distance=1.2)
    assert subs == [] and rep["close_contact"] == 1


def test_subcells_above_the_window_are_rejected():
    parent = bulk("Li", "bcc", a=3.44, cubic=True).repeat((8, 8, 8))
    g = np.zeros(len(parent))
    g[0] = 2.0
    i, j = neighbor_list("ij", parent, 3.2)
    g[j[i == 0][0]] = 30.0  # a strongly extrapolative neighbour
    subs, rep = cut_subcells(parent, g, cutoff=4.0, n_atoms=80, max_gamma=2.5)
    assert subs == [] and rep["above_window"] == 1


def test_non_periodic_frame():
    cluster = bulk("Li", "bcc", a=3.44, cubic=True).repeat((8, 8, 8))
    cluster.pbc = False
    cluster.cell = [0, 0, 0]
    centre = int(np.argmin(np.linalg.norm(cluster.positions - cluster.positions.mean(0), axis=1)))
    subs, _ = cut_subcells(cluster, centres=[centre], cutoff=4.0, n_atoms=80)
    assert len(subs) == 1 and all(subs[0].atoms.pbc)
    assert abs(len(subs[0].atoms) - 80) <= 24


def test_replicated_frame_gives_duplicate_subcells():
    base = bulk("SLi2", "fluorite", a=5.70, cubic=True).repeat((2, 2, 2))
    base.rattle(0.1, seed=7)
    big = base.repeat((3, 3, 1))  # equivalent atoms in every replica
    n0 = len(base)
    g = np.zeros(len(big))
    for r in range(9):
        g[r * n0 + 5] = 1.5 + 1e-3 * r  # the same atom in every replica is "hot"
    g[17], g[18] = 1.3, 1.2  # another Li (its own rattled environment) and an S atom
    subs = []
    for c in [r * n0 + 5 for r in range(9)] + [17, 18]:  # one cut per centre (no overlap rule between calls)
        subs += cut_subcells(big, g, centres=[c], cutoff=4.0, n_atoms=80)[0]
    assert len(subs) == 11
    keep, drop = deduplicate(subs, [s.fingerprint for s in subs], 0.05, scores=[s.gamma_centre for s in subs])
    assert {subs[i].centre % n0 for i in keep} == {5, 17, 18}
    assert len(drop) == 8
    assert 8 * n0 + 5 in {subs[i].centre for i in keep}  # the highest-γ copy is the one kept
    # the same atom a little later: duplicate when the environment barely moved, kept when it did
    for shift, dup in ((0.01, True), (0.3, False)):
        moved = big.copy()
        moved.positions[5] += [shift, 0, 0]
        other = cut_subcells(moved, g, centres=[5], cutoff=4.0, n_atoms=80)[0]
        pair = [subs[0], other[0]]
        _, d = deduplicate(pair, [p.fingerprint for p in pair], 0.05)
        assert (len(d) == 1) is dup


def test_input_errors():
    a = bulk("Li", "bcc", a=3.44, cubic=True).repeat((3, 3, 3))
    with pytest.raises(SeilabError):
        cut_subcells(a, np.ones(3), cutoff=4.0)
    with pytest.raises(SeilabError):
        cut_subcells(a, None, cutoff=4.0)
    p = PaddedFrame(a, reach=5.0)
    with pytest.raises(SeilabError):
        p.box(0, 6.0)


def test_large_frame_is_fast():
    import time

    parent = bulk("Li", "bcc", a=3.44, cubic=True).repeat((40, 40, 40))  # 128,000 atoms
    g = _hot_gamma(len(parent), 500)
    t = time.perf_counter()
    subs, _ = cut_subcells(parent, g, cutoff=6.0, n_atoms=100, max_subcells=20)
    assert len(subs) == 20
    assert time.perf_counter() - t < 30


def test_the_cutoff_wins_over_a_small_target():
    # 20 atoms cannot hold a 5 Å neighbour shell: the box grows to the cutoff and keeps the whole shell
    parent = bulk("Li", "bcc", a=3.44, cubic=True).repeat((10, 10, 10))
    parent.rattle(0.05, seed=9)
    subs, _ = cut_subcells(parent, _hot_gamma(len(parent), 10, seed=4), cutoff=5.0, n_atoms=20, max_subcells=3)
    assert subs
    for sc in subs:
        assert np.all(np.asarray(sc.half_width) >= 5.0 - 1e-9) and len(sc.atoms) > 30
        i, j, D = neighbor_list("ijD", parent, 5.0)
        rel = sc.atoms.positions - sc.atoms.positions[sc.centre_local]
        for v in D[i == sc.centre]:
            assert np.min(np.linalg.norm(rel - v, axis=1)) < 1e-6
