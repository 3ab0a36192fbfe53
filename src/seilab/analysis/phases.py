"""Phase identification: nearest reference fingerprint per region, layers, Li–P clusters, layer RDFs.

Fingerprint of a region (a z bin, or an atom's neighbourhood): composition fractions of the
reference species plus mean coordination numbers of the reference pairs. Distance to a reference:

    d² = Σ_species (x − x_ref)²  +  w · mean_pairs ((CN − CN_ref) / cn_scale)²

where the mean runs over pairs defined both for the region (it has centre atoms) and for the
reference. The region gets the nearest reference's label. Reference values are in
:func:`seilab.settings.analysis.default_phase_references`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from seilab.analysis.coordination import partial_rdf, split_pair
from seilab.analysis.neighbors import NeighborSearch

__all__ = [
    "PhaseClassifier",
    "Layer",
    "layer_sequence",
    "LiPClusters",
    "lip_clusters",
    "layer_rdfs",
    "label_atoms_local",
    "atom_phase_labels",
    "encode_atom_phases",
    "VACUUM",
    "UNBINNED",
]

#: label of an empty z bin (fewer than ``min_bin_atoms`` atoms)
VACUUM = -1
#: per-atom label of an atom in no z bin (beyond the analysed z range)
UNBINNED = -2

#: per-atom label codes of ``analysis.json`` (``phases.atoms``): one character per atom, the phase index
#: as a base-62 digit; ``.`` vacuum (a sparse bin), ``-`` in no bin
_CODES = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class PhaseClassifier:
    """Configure with reference phases, then ``classify`` fingerprints.

    references: objects with ``name``, ``composition`` (dict), ``coordination`` (dict) — e.g.
    :class:`seilab.settings.analysis.PhaseReference`. species: species order of the composition
    arrays passed to :meth:`classify`.
    """

    def __init__(self, references, species, pairs, coordination_weight: float = 0.5, cn_scale: float = 10.0):
        self.names = [r.name for r in references]
        self.species = list(species)
        self.pairs = list(pairs)
        allsp = sorted(set(self.species) | {s for r in references for s in r.composition})
        self._sp_all = allsp
        comp = np.zeros((len(references), len(allsp)))
        for k, r in enumerate(references):
            tot = sum(r.composition.values())
            for s, x in r.composition.items():
                comp[k, allsp.index(s)] = x / tot
        self.ref_comp = comp
        self.ref_cn = np.full((len(references), len(self.pairs)), np.nan)
        for k, r in enumerate(references):
            for p, v in r.coordination.items():
                if p in self.pairs:
                    self.ref_cn[k, self.pairs.index(p)] = v
        self.w = coordination_weight
        self.scale = cn_scale

    def distances(self, composition: np.ndarray, cn: np.ndarray | None = None) -> np.ndarray:
        """composition: (n, n_species) fractions in ``species`` order; cn: (n, n_pairs) with NaN
        where undefined. Returns (n, n_references) distances."""
        n = composition.shape[0]
        x = np.zeros((n, len(self._sp_all)))
        for k, s in enumerate(self.species):
            x[:, self._sp_all.index(s)] = composition[:, k]
        d2 = ((x[:, None, :] - self.ref_comp[None, :, :]) ** 2).sum(axis=2)
        if cn is not None and self.w > 0 and len(self.pairs):
            diff = (cn[:, None, :] - self.ref_cn[None, :, :]) / self.scale
            valid = ~np.isnan(diff)
            nvalid = valid.sum(axis=2)
            term = np.where(valid, diff**2, 0.0).sum(axis=2) / np.maximum(nvalid, 1)
            d2 = d2 + self.w * term
        return np.sqrt(d2)

    def classify(
        self, composition: np.ndarray, cn: np.ndarray | None = None, empty: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Label index per region (VACUUM = -1 where ``empty``) and distance to that reference."""
        d = self.distances(composition, cn)
        lab = np.argmin(d, axis=1)
        dist = d[np.arange(d.shape[0]), lab]
        if empty is not None:
            lab = np.where(empty, VACUUM, lab)
            dist = np.where(empty, np.nan, dist)
        return lab, dist

    def name(self, label: int) -> str:
        return "vacuum" if label == VACUUM else self.names[label]


@dataclass
class Layer:
    """A run of z bins with one phase label; z in Å (positive toward the metal)."""

    phase: str
    z_top_A: float
    z_bottom_A: float

    @property
    def thickness_A(self) -> float:
        return self.z_top_A - self.z_bottom_A

    def to_dict(self) -> dict:
        d = asdict(self)
        d["thickness_A"] = self.thickness_A
        return d


def layer_sequence(
    labels: np.ndarray,
    edges: np.ndarray,
    names: list[str],
    z_min: float | None = None,
    z_max: float | None = None,
    min_bins: int = 2,
) -> list[Layer]:
    """Layers from the metal (+z) to the electrolyte (−z) within [z_min, z_max].

    Runs shorter than ``min_bins`` bins are absorbed into the longer neighbouring run (repeatedly,
    shortest first) so that single-bin noise does not split a layer.
    """
    centers = 0.5 * (edges[1:] + edges[:-1])
    sel = np.ones(centers.size, bool)
    if z_min is not None:
        sel &= centers >= z_min
    if z_max is not None:
        sel &= centers <= z_max
    idx = np.flatnonzero(sel)[::-1]  # top (metal) first
    if idx.size == 0:
        return []
    lab = labels[idx]
    # runs: [label, n_bins, first position]
    runs = []
    for k, v in enumerate(lab):
        if runs and runs[-1][0] == v:
            runs[-1][1] += 1
        else:
            runs.append([int(v), 1, k])
    while len(runs) > 1:
        short = [i for i, r in enumerate(runs) if r[1] < min_bins]
        if not short:
            break
        i = min(short, key=lambda j: runs[j][1])
        nb = [j for j in (i - 1, i + 1) if 0 <= j < len(runs)]
        j = max(nb, key=lambda q: runs[q][1])
        if j < i:
            runs[j][1] += runs[i][1]
        else:
            runs[j][1] += runs[i][1]
            runs[j][2] = runs[i][2]
        del runs[i]
        # merge equal neighbours
        merged = [runs[0]]
        for r in runs[1:]:
            if r[0] == merged[-1][0]:
                merged[-1][1] += r[1]
            else:
                merged.append(r)
        runs = merged
    out = []
    for v, nbins, start in runs:
        top = edges[idx[start] + 1]
        bottom = edges[idx[start + nbins - 1]]
        out.append(Layer("vacuum" if v == VACUUM else names[v], float(top), float(bottom)))
    return out


@dataclass
class LiPClusters:
    """Li–P clusters: connected components of the P–P / P–Li bond graph over P atoms without S
    neighbours (thiophosphate P excluded) and the Li bonded to them."""

    n_clusters: int
    sizes_P: np.ndarray
    sizes_Li: np.ndarray
    li_per_p: np.ndarray
    mean_li_per_p: float  # total Li / total P over clusters
    z_mean_A: np.ndarray | None = None

    def to_dict(self) -> dict:
        return {
            "n_clusters": self.n_clusters,
            "sizes_P": self.sizes_P,
            "sizes_Li": self.sizes_Li,
            "li_per_p": self.li_per_p,
            "mean_li_per_p": self.mean_li_per_p,
            "z_mean_A": self.z_mean_A,
        }


def lip_clusters(
    search: NeighborSearch,
    cutoffs: dict[str, float],
    z: np.ndarray | None = None,
    z_range: tuple[float, float] | None = None,
    metal: str = "Li",
    anion: str = "P",
    exclude: str | None = "S",
) -> LiPClusters:
    """Connected components (scipy.sparse.csgraph) of P–P and P–Li bonds.

    cutoffs: needs "P-P" and "P-Li" (or "Li-P"); "P-S" for the S exclusion. z / z_range restrict
    the P atoms to a slab (e.g. the interphase).
    """
    P = search.indices(anion)
    if exclude is not None and P.size:
        key = f"{anion}-{exclude}" if f"{anion}-{exclude}" in cutoffs else f"{exclude}-{anion}"
        if key in cutoffs:
            P = P[search.count(P, exclude, cutoffs[key]) == 0]
    if z is not None and z_range is not None and P.size:
        P = P[(z[P] >= z_range[0]) & (z[P] <= z_range[1])]
    empty = LiPClusters(0, np.zeros(0, int), np.zeros(0, int), np.zeros(0), float("nan"), np.zeros(0))
    if P.size == 0:
        return empty
    Li = search.indices(metal)
    c_pp = cutoffs.get(f"{anion}-{anion}")
    c_pl = cutoffs.get(f"{anion}-{metal}", cutoffs.get(f"{metal}-{anion}"))
    nP = P.size
    rows, cols = [], []
    if c_pp is not None:
        pp = search.pairs(P, P, c_pp)
        rows.append(pp.i)
        cols.append(pp.j)
    pl = search.pairs(P, Li, c_pl) if (c_pl is not None and Li.size) else None
    li_nodes = np.zeros(0, np.int64)
    if pl is not None and len(pl):
        li_nodes, li_local = np.unique(pl.j, return_inverse=True)
        rows.append(pl.i)
        cols.append(nP + li_local)
    n = nP + li_nodes.size
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    g = coo_matrix((np.ones(r.size, np.int8), (r, c)), shape=(n, n))
    ncomp, lab = connected_components(g, directed=False)
    lab_p = lab[:nP]
    comps = np.unique(lab_p)  # components containing P
    remap = np.full(ncomp, -1)
    remap[comps] = np.arange(comps.size)
    nP_c = np.bincount(remap[lab_p], minlength=comps.size)
    lab_li = remap[lab[nP:]]
    nLi_c = np.bincount(lab_li[lab_li >= 0], minlength=comps.size)
    zc = None
    if z is not None:
        zc = np.bincount(remap[lab_p], weights=z[P], minlength=comps.size) / np.maximum(nP_c, 1)
    ratio = nLi_c / np.maximum(nP_c, 1)
    return LiPClusters(int(comps.size), nP_c, nLi_c, ratio, float(nLi_c.sum() / max(nP_c.sum(), 1)), zc)


def layer_rdfs(
    search: NeighborSearch,
    z: np.ndarray,
    layers: list[Layer],
    pairs,
    area_A2: float,
    r_max: float = 6.0,
    dr: float = 0.05,
) -> dict:
    """Partial g(r) per layer: centres inside the layer, neighbours anywhere, B density of the layer.

    area_A2: interface area (Å²), for the layer volume. Returns
    ``{layer index: {"phase", "z_top_A", "z_bottom_A", "r_A", pair: g}}``.
    """
    fr = search.frame
    out = {}
    for k, L in enumerate(layers):
        inside = (z >= L.z_bottom_A) & (z < L.z_top_A)
        if not inside.any():
            continue
        vol = area_A2 * max(L.thickness_A, 1e-9)
        entry = {"phase": L.phase, "z_top_A": L.z_top_A, "z_bottom_A": L.z_bottom_A}
        for key in pairs:
            a, b = split_pair(key)
            ca = np.flatnonzero(inside & (fr.symbols == a))
            nb = int((inside & (fr.symbols == b)).sum())
            if ca.size == 0 or nb == 0:
                continue
            r, g = partial_rdf(search, a, b, r_max=r_max, dr=dr, centers=ca, density_b=nb / vol)
            entry["r_A"] = r
            entry[key] = g
        out[str(k)] = entry
    return out


def label_atoms_local(search: NeighborSearch, classifier: PhaseClassifier, radius: float) -> np.ndarray:
    """Label every atom by the composition of its neighbourhood (itself + atoms within ``radius``).

    Composition only (no coordination term): per-species counts come from one periodic
    ``count`` query per species.
    """
    fr = search.frame
    all_idx = np.arange(fr.n_atoms)
    counts = np.zeros((fr.n_atoms, len(classifier.species)))
    for k, s in enumerate(classifier.species):
        counts[:, k] = search.count(all_idx, s, radius) + (fr.symbols == s)
    comp = counts / counts.sum(axis=1, keepdims=True)
    lab, _ = classifier.classify(comp)
    return lab


def atom_phase_labels(bin_labels: np.ndarray, bin_index: np.ndarray) -> np.ndarray:
    """Per-atom phase labels: each atom takes the label of its z bin (``bin_labels[bin_index]``;
    :data:`VACUUM` for a sparse bin), :data:`UNBINNED` where ``bin_index`` is -1 (no bin)."""
    bin_labels = np.asarray(bin_labels, np.int64)
    b = np.asarray(bin_index, np.int64)
    return np.where(b >= 0, bin_labels[np.clip(b, 0, None)], UNBINNED)


def encode_atom_phases(labels: np.ndarray, names) -> tuple[dict, str] | None:
    """``(codes, text)``: ``text`` has one character per atom (the code of its label), ``codes`` maps each
    code to its phase name (``.`` vacuum, ``-`` in no z bin). None when there are more phases than codes."""
    if len(names) > len(_CODES):
        return None
    codes = {_CODES[k]: str(n) for k, n in enumerate(names)}
    codes.update({".": "vacuum", "-": "in no z bin"})
    table = np.array(list(_CODES[: len(names)]) + ["-", "."])  # index -2 -> "-", -1 -> "."
    return codes, "".join(table[np.asarray(labels, np.int64)].tolist())
