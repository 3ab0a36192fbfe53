"""Periodic neighbour search between species subsets of one frame (vectorised, C-backed).

* Orthorhombic cells whose periodic lengths are all > 2 r: :class:`scipy.spatial.cKDTree` with
  ``boxsize`` (one tree per target subset, cached; counts via ``query_ball_point(...,
  return_length=True)`` never materialise the pairs).
* Triclinic cells, or cells shorter than 2 r (several images of one atom in range):
  :func:`seilab.geometry.neighbour_list` (matscipy's C linked-cell list, all images; ase's if matscipy
  is missing).

Measured on a rattled 2916-atom fcc Cu cell (g(r) to 6 Å): the cKDTree path 0.032 s, matscipy 0.048 s,
freud ``density.RDF`` 0.108 s (float32, needs r < L/2 and a fully periodic box), ase 0.69 s: the
cKDTree path stays (it also counts without materialising pairs).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from seilab.analysis.trajectory import Frame
from seilab.geometry import neighbour_list

__all__ = ["NeighborSearch", "PairList"]


class PairList:
    """Pairs (i, j) within a cutoff: ``i`` indexes the centre subset, ``j`` the target subset.

    ``d``: distances (Å); ``vec``: minimum-image vectors from centre to target (Å) or None.
    """

    __slots__ = ("i", "j", "d", "vec")

    def __init__(self, i, j, d, vec=None):
        self.i, self.j, self.d, self.vec = i, j, d, vec

    def __len__(self) -> int:
        return int(self.i.shape[0])


def _full_list(positions, cell, pbc, r, with_vec):
    out = neighbour_list("ijdD" if with_vec else "ijd", positions=positions, cell=cell, pbc=pbc, cutoff=float(r))
    return out if with_vec else (*out, None)


class NeighborSearch:
    """Configure with a frame, then ask for counts or pairs between species subsets.

    Subsets are given as integer index arrays into the frame (``frame.symbols == "P"`` →
    ``np.flatnonzero``) or as species symbols.
    """

    def __init__(self, frame: Frame):
        self.frame = frame
        s = frame.scaled()
        for k in range(3):
            if frame.pbc[k]:
                s[:, k] -= np.floor(s[:, k])
        self._rel = s @ frame.cell  # positions relative to the origin, wrapped
        self.orthorhombic = frame.is_orthorhombic
        self._lengths = np.diag(frame.cell).copy() if self.orthorhombic else None
        self._trees: dict = {}

    # ---------------------------------------------------------------- helpers
    def indices(self, species) -> np.ndarray:
        if isinstance(species, str):
            return np.flatnonzero(self.frame.symbols == species)
        return np.asarray(species, dtype=np.int64)

    def _use_tree(self, r: float) -> bool:
        if not self.orthorhombic:
            return False
        L = self._lengths
        return bool(np.all((~self.frame.pbc) | (L > 2.0 * r)))

    def _tree_positions(self, idx):
        p = self._rel[idx].copy()
        if self.orthorhombic:
            for k in range(3):
                if self.frame.pbc[k]:
                    L = self._lengths[k]
                    p[:, k] = np.mod(p[:, k], L)
                    p[:, k][p[:, k] >= L] = 0.0
        return p

    def _boxsize(self):
        return np.where(self.frame.pbc, self._lengths, 0.0)

    def _tree(self, key, idx) -> cKDTree:
        t = self._trees.get(key)
        if t is None:
            t = cKDTree(self._tree_positions(idx), boxsize=self._boxsize(), balanced_tree=False, compact_nodes=False)
            self._trees[key] = t
        return t

    @staticmethod
    def _key(species, idx):
        return species if isinstance(species, str) else (idx.shape[0], hash(idx.tobytes()))

    # ---------------------------------------------------------------- API
    def count(self, centers, targets, r: float) -> np.ndarray:
        """Number of target atoms within ``r`` (Å) of each centre atom (itself excluded)."""
        ci, ti = self.indices(centers), self.indices(targets)
        if ci.size == 0:
            return np.zeros(0, dtype=np.int64)
        if ti.size == 0:
            return np.zeros(ci.size, dtype=np.int64)
        if self._use_tree(r) and ci.size > 2 * ti.size:
            # many centres, few targets (e.g. Li around P): one query per target is cheaper
            pl = self.pairs(ti, ci, r)
            return np.bincount(pl.j, minlength=ci.size).astype(np.int64)
        if self._use_tree(r):
            tree = self._tree(self._key(targets, ti), ti)
            n = np.asarray(tree.query_ball_point(self._tree_positions(ci), r, return_length=True), dtype=np.int64)
            # a centre that is also a target counts itself once (distance 0)
            n -= np.isin(ci, ti, assume_unique=True)
            return n
        pl = self.pairs(ci, ti, r)
        return np.bincount(pl.i, minlength=ci.size).astype(np.int64)

    def pairs(self, centers, targets, r: float, vectors: bool = False) -> PairList:
        """All (centre, target) pairs closer than ``r`` (Å), self pairs excluded.

        Indices are positions in the ``centers`` / ``targets`` index arrays. Each unordered pair
        of one subset with itself appears twice (i→j and j→i).
        """
        ci, ti = self.indices(centers), self.indices(targets)
        empty = PairList(
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros((0, 3)) if vectors else None
        )
        if ci.size == 0 or ti.size == 0:
            return empty
        if self._use_tree(r):
            tc = cKDTree(self._tree_positions(ci), boxsize=self._boxsize())
            tt = self._tree(self._key(targets, ti), ti)
            m = tc.sparse_distance_matrix(tt, r, output_type="ndarray")
            i, j, d = m["i"].astype(np.int64), m["j"].astype(np.int64), m["v"]
            keep = ci[i] != ti[j]
            i, j, d = i[keep], j[keep], d[keep]
            vec = None
            if vectors:
                vec = self._rel[ti[j]] - self._rel[ci[i]]
                for k in range(3):
                    if self.frame.pbc[k]:
                        L = self._lengths[k]
                        vec[:, k] -= L * np.round(vec[:, k] / L)
            return PairList(i, j, d, vec)
        # general path: one neighbour list over the union of both subsets
        union, inv = np.unique(np.concatenate([ci, ti]), return_inverse=True)
        c_loc = np.full(union.size, -1, np.int64)
        t_loc = np.full(union.size, -1, np.int64)
        c_loc[inv[: ci.size]] = np.arange(ci.size)
        t_loc[inv[ci.size :]] = np.arange(ti.size)
        i, j, d, D = _full_list(self._rel[union], self.frame.cell, self.frame.pbc, r, vectors)
        keep = (c_loc[i] >= 0) & (t_loc[j] >= 0)
        return PairList(c_loc[i[keep]], t_loc[j[keep]], d[keep], D[keep] if vectors else None)
