"""Phase identification on crystal fingerprints, layer sequence, Li–P clusters, layer RDFs."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from seilab.analysis.coordination import coordination_numbers, split_pair
from seilab.analysis.neighbors import NeighborSearch
from seilab.analysis.phases import Layer, PhaseClassifier, layer_rdfs, layer_sequence, lip_clusters
from seilab.analysis.pipeline import analyze_frames
from seilab.settings.analysis import DEFAULT_FIXED_CUTOFFS_A, AnalysisSettings, default_phase_references
from seilab.analysis.synthetic import layered_frame
from seilab.analysis.trajectory import Frame

from analysis_structures import li2s, li3p, li7p3s11, li_bcc, to_frame

CUT = dict(DEFAULT_FIXED_CUTOFFS_A)
CUT.update({f"{b}-{a}": v for k, v in DEFAULT_FIXED_CUTOFFS_A.items() for a, b in [split_pair(k)]})
PAIRS = sorted({p for r in default_phase_references() for p in r.coordination})
CRYSTALS = {
    "Li metal": (li_bcc, (4, 4, 4)),
    "Li2S": (li2s, (2, 2, 2)),
    "Li3P": (li3p, (3, 3, 2)),
    "Li7P3S11": (li7p3s11, (2, 1, 1)),
}


def _fingerprint(fr, species):
    ns = NeighborSearch(fr)
    comp = np.array([[np.mean(fr.symbols == s) for s in species]])
    present = set(fr.symbols)
    cn = coordination_numbers(ns, [p for p in PAIRS if set(split_pair(p)) <= present], CUT)
    vec = np.array([[cn[p][1].mean() if p in cn and cn[p][1].size else np.nan for p in PAIRS]])
    return comp, vec, cn


@pytest.mark.parametrize("name", list(CRYSTALS))
def test_crystals_are_their_own_nearest_phase(name):
    build, sc = CRYSTALS[name]
    fr = to_frame(build(), sc)
    species = ["Li", "P", "S"]
    clf = PhaseClassifier(default_phase_references(), species, PAIRS)
    comp, vec, cn = _fingerprint(fr, species)
    lab, dist = clf.classify(comp, vec)
    assert clf.name(lab[0]) == name
    assert dist[0] < 0.02
    # the reference table's coordination numbers are the crystal's (at the default cutoffs)
    ref = {r.name: r for r in default_phase_references()}[name]
    for p, v in ref.coordination.items():
        if p in cn:
            assert cn[p][1].mean() == pytest.approx(v, abs=1e-6), p


def test_layer_sequence_from_composition():
    """Li | Li3P | Li2P (LixP) | Li2S | Li3P7 (P-rich) | Li7P3S11 slabs: the layers come out in order."""
    regions = [
        (30, 80, {"Li": 1}),
        (20, 30, {"Li": 3, "P": 1}),
        (10, 20, {"Li": 2, "P": 1}),
        (-10, 10, {"Li": 2, "S": 1}),
        (-20, -10, {"Li": 3, "P": 7}),
        (-80, -20, {"Li": 7, "P": 3, "S": 11}),
    ]
    first = layered_frame(
        [(0, 80, {"Li": 1}), (-80, 0, {"Li": 7, "P": 3, "S": 11})], (15, 15, 160), spacing=(2.5, 2.5, 1.0)
    )
    last = layered_frame(regions, (15, 15, 160), spacing=(2.5, 2.5, 1.0), time_ps=10.0, index=1)
    s = AnalysisSettings(bin_width_A=2.0, figures=False, phase_coordination_weight=0.0,
                         fold_interfaces=False)  # one interface grows here; the box edge is a fixed boundary
    res = analyze_frames([first, last], s)
    assert res.layer_names == ["Li metal", "Li3P", "LixP", "Li2S", "P-rich Li-P", "Li7P3S11"]
    tops = [L.z_top_A for L in res.layers[1:]]
    assert tops == pytest.approx([30, 20, 10, -10, -20], abs=2.01)
    assert res.growth.growth_metal_A[-1] == pytest.approx(30, abs=1.5)
    assert res.growth.growth_electrolyte_A[-1] == pytest.approx(20, abs=1.5)
    assert res.phase_labels.shape == (2, res.bin_edges_A.size - 1)


def test_every_atom_gets_the_phase_of_its_z_bin():
    """Per-atom phase labels of the first and last analysed frames (``phases.atoms`` of analysis.json): each
    atom carries the phase the analysis identified for its z bin; deep inside a slab, that slab's phase."""
    regions = [
        (30, 80, {"Li": 1}, "Li metal"),
        (20, 30, {"Li": 3, "P": 1}, "Li3P"),
        (10, 20, {"Li": 2, "P": 1}, "LixP"),
        (-10, 10, {"Li": 2, "S": 1}, "Li2S"),
        (-20, -10, {"Li": 3, "P": 7}, "P-rich Li-P"),
        (-80, -20, {"Li": 7, "P": 3, "S": 11}, "Li7P3S11"),
    ]
    first = layered_frame(
        [(0, 80, {"Li": 1}), (-80, 0, {"Li": 7, "P": 3, "S": 11})], (15, 15, 160), spacing=(2.5, 2.5, 1.0), index=3
    )
    last = layered_frame([r[:3] for r in regions], (15, 15, 160), spacing=(2.5, 2.5, 1.0), time_ps=10.0, index=7)
    mid = layered_frame([r[:3] for r in regions], (15, 15, 160), spacing=(2.5, 2.5, 1.0), time_ps=5.0, index=5)
    s = AnalysisSettings(bin_width_A=2.0, figures=False, phase_coordination_weight=0.0, fold_interfaces=False)
    res = analyze_frames([first, mid, last], s)
    assert [a["frame"] for a in res.atom_phases] == [3, 7]  # first and last analysed, by their index in the file
    edges = res.bin_edges_A
    for fr, a, bin_labels in ((first, res.atom_phases[0], res.phase_labels[0]), (last, res.atom_phases[1],
                                                                                 res.phase_labels[-1])):
        z = res.interface.z(fr)
        b = np.floor((z - edges[0]) / (edges[1] - edges[0])).astype(int)
        inside = (b >= 0) & (b < edges.size - 1)
        lab = np.asarray(a["labels"])
        assert lab.shape == (fr.n_atoms,)
        np.testing.assert_array_equal(lab[inside], bin_labels[b[inside]])  # the bin's phase, atom by atom
        assert np.all(lab[~inside] == -2)  # in no bin
    # the science: an atom 2.5 Å or more inside a slab is labelled with that slab's phase
    zl = last.unwrapped[:, 2]
    names = np.array(res.phase_names + ["in no bin", "vacuum"])[res.atom_phases[1]["labels"]]
    for lo, hi, _, phase in regions:
        deep = (zl > lo + 2.5) & (zl < hi - 2.5) & (np.abs(zl) < 77)
        assert deep.sum() > 100 and set(names[deep]) == {phase}, phase
    assert not np.isin(names, ["in no bin", "vacuum"]).any()  # every bin is filled, every atom is in one
    # analysis.json: one code per atom, in atom-id order, and the element sequence they belong to
    atoms = res.to_dict()["phases"]["atoms"]
    codes = {c: k for k, c in enumerate(atoms["codes"]) if c not in ".-"} | {".": -1, "-": -2}
    assert [atoms["codes"][c] for c in "0123"] == ["Li metal", "Li3P", "LixP", "P-rich Li-P"]
    for fr, a, enc in zip((first, last), res.atom_phases, atoms["frames"]):
        assert enc["frame"] == fr.index and enc["n_atoms"] == fr.n_atoms
        np.testing.assert_array_equal([codes[c] for c in enc["labels"]], a["labels"])
        assert enc["symbols_sha1"] == hashlib.sha1(" ".join(fr.symbols).encode()).hexdigest()


def test_atoms_beyond_the_bins_and_in_sparse_bins():
    from seilab.analysis.phases import UNBINNED, VACUUM, atom_phase_labels, encode_atom_phases

    lab = atom_phase_labels(np.array([2, VACUUM, 0]), np.array([0, 1, 2, -1, 2, 0]))
    np.testing.assert_array_equal(lab, [2, VACUUM, 0, UNBINNED, 0, 2])
    codes, text = encode_atom_phases(lab, ["A", "B", "C"])
    assert text == "2.0-02" and codes == {"0": "A", "1": "B", "2": "C", ".": "vacuum", "-": "in no z bin"}
    assert encode_atom_phases(lab, [f"p{k}" for k in range(63)]) is None  # more phases than codes


def test_layer_sequence_absorbs_single_bin_noise():
    edges = np.arange(-5, 6, 1.0)  # 10 bins, z from -5 to 5
    labels = np.array([2, 2, 2, 1, 2, 2, 0, 0, 0, 0])  # bottom .. top ; one stray bin (1)
    layers = layer_sequence(labels, edges, ["Li metal", "X", "SSE"], min_bins=2)
    assert [L.phase for L in layers] == ["Li metal", "SSE"]
    assert layers[0].z_bottom_A == 1.0 and layers[1].z_top_A == 1.0


def test_lip_clusters_known_components():
    """P with 3 Li; a P-P dumbbell sharing 4 Li; a PS4 unit with Li around (excluded)."""
    pos, sym = [], []

    def add(s, p):
        sym.append(s)
        pos.append(p)

    c1 = np.array([5.0, 5.0, 5.0])
    add("P", c1)
    for v in ([2.5, 0, 0], [0, 2.5, 0], [0, 0, 2.5]):
        add("Li", c1 + v)
    c2 = np.array([20.0, 5.0, 5.0])
    add("P", c2)
    add("P", c2 + [2.2, 0, 0])
    for v in ([-2.5, 0, 0], [0, 2.6, 0], [2.2, -2.6, 0], [4.7, 0, 0]):
        add("Li", c2 + v)
    c3 = np.array([12.0, 20.0, 20.0])
    add("P", c3)
    for v in ([2.05, 0, 0], [-2.05, 0, 0], [0, 2.05, 0], [0, -2.05, 0]):
        add("S", c3 + v)
    add("Li", c3 + [0, 0, 2.8])
    add("Li", [25.0, 25.0, 25.0])  # free Li, bonded to nothing
    pos = np.array(pos)
    n = len(sym)
    fr = Frame(
        0,
        0.0,
        np.eye(3) * 30.0,
        np.zeros(3),
        np.array([True] * 3),
        np.arange(1, n + 1),
        np.array(sym, dtype="U8"),
        pos,
        pos,
    )
    cl = lip_clusters(NeighborSearch(fr), CUT)
    assert cl.n_clusters == 2
    assert sorted(cl.li_per_p.tolist()) == [2.0, 3.0]
    assert sorted(cl.sizes_P.tolist()) == [1, 2]
    assert cl.mean_li_per_p == pytest.approx(7 / 3)


def test_layer_rdf_normalisation_li2s():
    """In a Li2S crystal the S-Li g(r) peaks at 2.47 Å and integrates (Σ ρ g ΔV_shell) to 8 neighbours."""
    fr = to_frame(li2s(), (3, 3, 3))
    z = fr.positions[:, 2] - fr.positions[:, 2].mean()
    area = fr.cell[0, 0] * fr.cell[1, 1]
    thick = fr.cell[2, 2]
    L = Layer("Li2S", z_top_A=thick / 2, z_bottom_A=-thick / 2)
    z = np.mod(z + thick / 2, thick) - thick / 2
    out = layer_rdfs(NeighborSearch(fr), z, [L], ["S-Li"], area_A2=area, r_max=5.0, dr=0.02)["0"]
    r, g = out["r_A"], out["S-Li"]
    assert r[np.argmax(g)] == pytest.approx(2.468, abs=0.02)
    rho = np.sum(fr.symbols == "Li") / (area * thick)
    shell = 4 / 3 * np.pi * ((r + 0.01) ** 3 - (r - 0.01) ** 3)
    n = np.sum(rho * g * shell * (r < 3.5))
    assert n == pytest.approx(8.0, rel=1e-6)
