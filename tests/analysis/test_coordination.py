"""Coordination numbers of crystals with the auto (first RDF minimum) cutoff; neighbour search paths."""

from __future__ import annotations

import numpy as np
import pytest

from seilab.analysis.coordination import (
    CoordinationProfile,
    auto_cutoffs,
    coordination_numbers,
    first_minimum,
    partial_rdf,
)
from seilab.analysis.interface import ZBins
from seilab.analysis.neighbors import NeighborSearch
from seilab.analysis.trajectory import Frame

from analysis_structures import li2s, li3p, li7p3s11, to_frame


def test_li2s_slab_s_li_cn_is_8_inside():
    """Antifluorite Li2S slab (vacuum along z): S-Li CN 8 in every interior z bin, less at surfaces."""
    fr = to_frame(li2s(), (3, 3, 5), vacuum_z=20.0)
    assert not fr.pbc[2]
    ns = NeighborSearch(fr)
    cut, src = auto_cutoffs(ns, ["S-Li", "Li-S"], fixed={})
    assert src == {"S-Li": "rdf-minimum", "Li-S": "conjugate"}
    assert 2.6 < cut["S-Li"] < 4.7  # between 2.47 A (8 Li) and 4.73 A (24 Li)
    z = fr.positions[:, 2]
    bins = ZBins(edges=np.arange(z.min() - 0.1, z.max() + 2.95, 2.85))
    prof = CoordinationProfile(["S-Li", "Li-S"], cut, bins.n).compute(ns, bins.index(z))
    m = prof.arrays()["S-Li"][0]
    has_s = ~np.isnan(m)
    interior = m[has_s][2:-2]
    assert interior.size >= 4
    np.testing.assert_allclose(interior, 8.0)
    # the bottom surface is an S layer (z = 0) missing the Li below it: 4; the top is Li-terminated
    assert m[has_s][0] == pytest.approx(4.0)
    np.testing.assert_allclose(prof.arrays()["Li-S"][0][~np.isnan(prof.arrays()["Li-S"][0])][2:-2], 4.0)


def test_li3p_p_li_cn_is_11_at_first_rdf_minimum():
    """Li3P (P6_3/mmc): 3 Li at 2.46 + 2 at 2.52 + 6 at 2.77 Å = 11, next Li shell at 4.52 Å."""
    fr = to_frame(li3p(), (4, 4, 2))
    ns = NeighborSearch(fr)
    r, g = partial_rdf(ns, "P", "Li", r_max=6.0, dr=0.02)
    rc = first_minimum(r, g)  # defaults: 0.15 Å broadening, depth 0.6
    assert 2.8 < rc < 4.5
    cn = coordination_numbers(ns, ["P-Li"], {"P-Li": rc})["P-Li"][1]
    assert cn.min() == cn.max() == 11
    # the 11 are two sub-shells: 5 within 2.6 Å, 6 more by 2.9 Å
    assert coordination_numbers(ns, ["P-Li"], {"P-Li": 2.6})["P-Li"][1].mean() == pytest.approx(5.0)
    assert coordination_numbers(ns, ["P-Li"], {"P-Li": 2.9})["P-Li"][1].mean() == pytest.approx(11.0)
    # why the broadening matters: the raw T = 0 histogram is empty between the sub-shells, so a
    # naive first minimum (no broadening, any depth) cuts the shell at 2.46 | 2.52 Å: CN 3
    naive = first_minimum(r, g, smoothing_A=0.0, depth=1.0)
    assert naive < 2.52
    assert coordination_numbers(ns, ["P-Li"], {"P-Li": naive})["P-Li"][1].mean() == pytest.approx(3.0)
    # 0.1 Å broadening alone still leaves a shallow dip between 5 | 6; the depth criterion skips it
    assert first_minimum(r, g, smoothing_A=0.1, depth=1.0) < 2.77
    assert 2.8 < first_minimum(r, g, smoothing_A=0.1) < 4.5


def test_li7p3s11_every_p_has_four_s():
    fr = to_frame(li7p3s11(), (2, 1, 1))
    assert not fr.is_orthorhombic  # triclinic path (matscipy)
    cn = coordination_numbers(NeighborSearch(fr), ["P-S", "P-P"], {"P-S": 2.6, "P-P": 2.6})
    assert np.all(cn["P-S"][1] == 4)
    assert np.all(cn["P-P"][1] == 0)


def test_triclinic_and_tree_paths_agree():
    """The same periodic structure described by an orthorhombic and a sheared cell."""
    rng = np.random.default_rng(3)
    L = np.array([12.0, 13.0, 14.0])
    pos = rng.random((400, 3)) * L
    sym = np.array(["Li", "P", "S"], dtype="U8")[rng.integers(0, 3, 400)]
    ortho = Frame(0, 0.0, np.diag(L), np.zeros(3), np.array([True] * 3), np.arange(1, 401), sym, pos, pos)
    cell = np.diag(L)
    cell[2] += cell[0] + cell[1]  # c' = a + b + c: same lattice, triclinic
    tric = Frame(0, 0.0, cell, np.zeros(3), np.array([True] * 3), np.arange(1, 401), sym, pos, pos)
    a, b = NeighborSearch(ortho), NeighborSearch(tric)
    assert a._use_tree(3.0) and not b._use_tree(3.0)
    for key in (("Li", "S"), ("P", "P"), ("S", "Li")):
        np.testing.assert_array_equal(a.count(key[0], key[1], 3.0), b.count(key[0], key[1], 3.0))
    pa, pb = a.pairs("P", "Li", 3.5, vectors=True), b.pairs("P", "Li", 3.5, vectors=True)
    ka = sorted(zip(pa.i.tolist(), pa.j.tolist(), np.round(pa.d, 8).tolist()))
    kb = sorted(zip(pb.i.tolist(), pb.j.tolist(), np.round(pb.d, 8).tolist()))
    assert ka == kb
    np.testing.assert_allclose(np.linalg.norm(pa.vec, axis=1), pa.d)


def test_small_cell_uses_all_images():
    """A cell shorter than 2 r: every periodic image counts (bcc Li conventional cell, 8 + 6)."""
    a = 3.49
    fr = Frame(
        0,
        0.0,
        np.eye(3) * a,
        np.zeros(3),
        np.array([True] * 3),
        np.array([1, 2]),
        np.array(["Li", "Li"]),
        np.array([[0, 0, 0], [a / 2] * 3]),
        None,
    )
    n = NeighborSearch(fr).count("Li", "Li", 3.6)
    assert list(n) == [14, 14]
