"""Crystalline Li2S nanodomains: fcc-like S sublattice atoms, clustered into domains.

Li2S (antifluorite, a = 5.70 Å) has an fcc S sublattice: 12 S at 4.03 Å, then 6 at 5.70 Å. An S
atom is *crystalline* when, using its S neighbours within ``cutoff`` (default 4.85 Å):

1. it has at least ``min_bonds`` solid-like bonds (ten Wolde / Filion: normalised
   q6(i)·q6(j)* > ``bond_threshold``), and
2. its Lechner–Dellago averaged Q4 and Q6 fall in the fcc windows (ideal fcc Q̄4 = 0.19,
   Q̄6 = 0.575; hcp 0.10 / 0.48, bcc 0.04 / 0.51; amorphous Q̄6 ≈ 0.2–0.3).

Crystalline atoms within ``cutoff`` of each other form domains (connected components); each
domain's radius of gyration Rg gives the equivalent-sphere radius R = √(5/3)·Rg.

Backend: freud (``freud-analysis``; C++ ``Steinhardt``, ``SolidLiquid``, ``Cluster``,
``ClusterProperties``) when importable. The fallback is a vectorised numpy implementation with
:func:`scipy.special.sph_harm_y` and :mod:`scipy.sparse.csgraph`, kept so that the analysis still
runs where freud is not installed (freud ≥ 3.5 needs Python ≥ 3.12; 3.4.0 is the last for 3.11);
both are tested against each other and against ideal fcc.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from seilab.analysis.neighbors import NeighborSearch
from seilab.analysis.trajectory import Frame

__all__ = ["Nanocrystals", "NanocrystalFrame", "steinhardt_numpy", "freud_available"]


def freud_available() -> bool:
    try:
        import freud  # noqa: F401
    except Exception:
        return False
    return True


def _sph_harm(l, m, theta, phi):
    """Y_l^m(theta polar, phi azimuth) for scipy old and new APIs."""
    import scipy.special as sp

    if hasattr(sp, "sph_harm_y"):
        return sp.sph_harm_y(l, m, theta, phi)
    return sp.sph_harm(m, l, phi, theta)  # pragma: no cover - scipy < 1.15


def _qlm(n_atoms, i, vec, l):
    """Per-atom q_lm (n_atoms, 2l+1) complex, averaged over bonds; zero where no bonds."""
    d = np.linalg.norm(vec, axis=1)
    theta = np.arccos(np.clip(vec[:, 2] / np.maximum(d, 1e-12), -1.0, 1.0))
    phi = np.arctan2(vec[:, 1], vec[:, 0])
    nb = np.bincount(i, minlength=n_atoms).astype(float)
    q = np.zeros((n_atoms, 2 * l + 1), complex)
    for m in range(0, l + 1):  # Y_l^{-m} = (-1)^m conj(Y_l^m): half the evaluations
        y = _sph_harm(l, m, theta, phi)
        q[:, l + m] = np.bincount(i, weights=y.real, minlength=n_atoms) + 1j * np.bincount(
            i, weights=y.imag, minlength=n_atoms
        )
        if m:
            q[:, l - m] = (-1) ** m * np.conj(q[:, l + m])
    q /= np.maximum(nb, 1)[:, None]
    return q, nb


def _Q(q, l):
    return np.sqrt(4 * np.pi / (2 * l + 1) * (np.abs(q) ** 2).sum(axis=1))


def steinhardt_numpy(n_atoms: int, i: np.ndarray, j: np.ndarray, vec: np.ndarray, bond_threshold: float = 0.7):
    """Averaged Q̄4, Q̄6 and solid-like bond counts from a directed pair list (i→j, vec i→j).

    Returns (q4bar, q6bar, n_solid_bonds, n_neighbours).
    """
    out = {}
    for l in (4, 6):
        q, nb = _qlm(n_atoms, i, vec, l)
        # Lechner–Dellago average over the atom and its neighbours
        qs = q.copy()
        for k in range(2 * l + 1):
            qs[:, k] += np.bincount(i, weights=q[j, k].real, minlength=n_atoms) + 1j * np.bincount(
                i, weights=q[j, k].imag, minlength=n_atoms
            )
        qs /= (nb + 1)[:, None]
        out[l] = (q, _Q(qs, l), nb)
    q6, _, nb = out[6]
    norm = np.sqrt((np.abs(q6) ** 2).sum(axis=1))
    dot = (q6[i] * np.conj(q6[j])).real.sum(axis=1) / np.maximum(norm[i] * norm[j], 1e-30)
    solid = np.bincount(i[dot > bond_threshold], minlength=n_atoms)
    return out[4][1], out[6][1], solid, nb


@dataclass
class NanocrystalFrame:
    """Result for one frame: per sublattice atom arrays and the domains (radii in Å)."""

    time_ps: float
    n_sublattice: int
    n_crystalline: int
    q4bar: np.ndarray = field(repr=False)
    q6bar: np.ndarray = field(repr=False)
    solid_bonds: np.ndarray = field(repr=False)
    crystalline: np.ndarray = field(repr=False)
    domain_sizes: np.ndarray
    domain_rg_A: np.ndarray
    domain_radius_A: np.ndarray
    domain_z_A: np.ndarray
    backend: str

    def to_dict(self) -> dict:
        return {
            "time_ps": self.time_ps,
            "n_sublattice": self.n_sublattice,
            "n_crystalline": self.n_crystalline,
            "crystalline_fraction": self.n_crystalline / max(self.n_sublattice, 1),
            "n_domains": int(self.domain_sizes.size),
            "domain_sizes": self.domain_sizes,
            "domain_rg_A": self.domain_rg_A,
            "domain_radius_A": self.domain_radius_A,
            "domain_z_A": self.domain_z_A,
            "backend": self.backend,
        }


class Nanocrystals:
    """Configure → ``compute(frame, search, z)`` per frame → read ``frames`` (list of results)."""

    def __init__(
        self,
        species: str = "S",
        cutoff: float = 4.85,
        bond_threshold: float = 0.7,
        min_bonds: int = 7,
        q4_range=(0.13, 0.30),
        q6_range=(0.35, 0.65),
        min_domain_atoms: int = 10,
        backend: str = "auto",
    ):
        self.species = species
        self.cutoff = cutoff
        self.bond_threshold = bond_threshold
        self.min_bonds = min_bonds
        self.q4_range = tuple(q4_range)
        self.q6_range = tuple(q6_range)
        self.min_domain_atoms = min_domain_atoms
        if backend == "auto":
            backend = "freud" if freud_available() else "numpy"
        if backend not in ("freud", "numpy"):
            raise ValueError(f"backend must be auto, freud or numpy, got {backend!r}")
        self.backend = backend
        self.frames: list[NanocrystalFrame] = []

    # -------------------------------------------------------------- order parameters
    def _order_numpy(self, search: NeighborSearch, idx: np.ndarray):
        pl = search.pairs(idx, idx, self.cutoff, vectors=True)
        q4, q6, solid, nb = steinhardt_numpy(idx.size, pl.i, pl.j, pl.vec, self.bond_threshold)
        return q4, q6, solid, pl

    def _freud_system(self, frame: Frame, idx: np.ndarray):
        import freud
        from ase.cell import Cell

        cell = frame.cell.copy()
        rel = frame.positions[idx] - frame.origin
        rcell, Q = Cell(cell).standard_form()
        rcell = np.array(rcell)
        rel = rel @ Q.T
        for k in range(3):
            if not frame.pbc[k]:  # freud boxes are periodic: pad non-periodic directions
                L = np.linalg.norm(rcell[k])
                rcell[k] *= (L + 2 * self.cutoff + 2.0) / L
        box = freud.box.Box.from_matrix(rcell.T)
        pts = box.wrap(rel - 0.5 * rcell.sum(axis=0))
        return box, np.ascontiguousarray(pts, dtype=np.float32)

    def _order_freud(self, frame: Frame, idx: np.ndarray):
        import freud

        system = self._freud_system(frame, idx)
        q = {"r_max": self.cutoff, "exclude_ii": True}
        st = freud.order.Steinhardt(l=[4, 6], average=True)
        st.compute(system, neighbors=q)
        po = np.asarray(st.particle_order, float).reshape(idx.size, 2)
        sl = freud.order.SolidLiquid(
            l=6, q_threshold=self.bond_threshold, solid_threshold=self.min_bonds, normalize_q=True
        )
        sl.compute(system, neighbors=q)
        return po[:, 0], po[:, 1], np.asarray(sl.num_connections, int), system

    # -------------------------------------------------------------- domains
    def _domains_numpy(self, search, idx, crys, pl, z):
        ci = np.flatnonzero(crys)
        if ci.size == 0:
            return [np.zeros(0)] * 4
        loc = np.full(idx.size, -1)
        loc[ci] = np.arange(ci.size)
        keep = crys[pl.i] & crys[pl.j]
        g = coo_matrix((np.ones(keep.sum(), np.int8), (loc[pl.i[keep]], loc[pl.j[keep]])), shape=(ci.size, ci.size))
        _, lab = connected_components(g, directed=False)
        # unwrap each domain around one of its atoms (minimum image in fractional coordinates)
        fr = search.frame
        pos = fr.positions[idx[ci]]
        root = np.zeros(lab.max() + 1, np.int64)
        root[lab[::-1]] = np.arange(ci.size)[::-1]  # first atom of each domain
        d = (pos - pos[root[lab]]) @ fr.inv_cell
        for k in range(3):
            if fr.pbc[k]:
                d[:, k] -= np.round(d[:, k])
        d = d @ fr.cell
        return self._domain_stats(lab, d, z[idx[ci]] if z is not None else None)

    def _domains_freud(self, system, crys, idx, z):
        import freud

        ci = np.flatnonzero(crys)
        if ci.size == 0:
            return [np.zeros(0)] * 4
        box, pts = system
        sub = pts[ci]
        cl = freud.cluster.Cluster()
        cl.compute((box, sub), neighbors={"r_max": self.cutoff})
        lab = np.asarray(cl.cluster_idx)
        cp = freud.cluster.ClusterProperties()
        cp.compute((box, sub), lab)
        sizes = np.asarray(cp.sizes)
        rg = np.asarray(cp.radii_of_gyration, float)
        zl = z[idx[ci]] if z is not None else None
        zc = (
            np.bincount(lab, weights=zl, minlength=sizes.size) / np.maximum(sizes, 1)
            if zl is not None
            else np.full(sizes.size, np.nan)
        )
        keep = sizes >= self.min_domain_atoms
        order = np.argsort(-sizes[keep], kind="stable")
        return sizes[keep][order], rg[keep][order], np.sqrt(5.0 / 3.0) * rg[keep][order], zc[keep][order]

    def _domain_stats(self, lab, d, zl):
        n = lab.max() + 1
        sizes = np.bincount(lab, minlength=n)
        cm = np.column_stack([np.bincount(lab, weights=d[:, k], minlength=n) for k in range(3)]) / sizes[:, None]
        r2 = ((d - cm[lab]) ** 2).sum(axis=1)
        rg = np.sqrt(np.bincount(lab, weights=r2, minlength=n) / sizes)
        zc = np.bincount(lab, weights=zl, minlength=n) / sizes if zl is not None else np.full(n, np.nan)
        keep = sizes >= self.min_domain_atoms
        order = np.argsort(-sizes[keep], kind="stable")
        return sizes[keep][order], rg[keep][order], np.sqrt(5.0 / 3.0) * rg[keep][order], zc[keep][order]

    # -------------------------------------------------------------- API
    def compute(
        self, frame: Frame, search: NeighborSearch | None = None, z: np.ndarray | None = None
    ) -> NanocrystalFrame:
        """Classify sublattice atoms of ``frame`` and find domains (appended to ``frames``). ``z``:
        per-atom z (Å) for the domains' mean positions."""
        res = self.analyse(frame, search, z)
        self.frames.append(res)
        return res

    def analyse(
        self, frame: Frame, search: NeighborSearch | None = None, z: np.ndarray | None = None
    ) -> NanocrystalFrame:
        """:meth:`compute` for one frame, storing nothing."""
        search = search or NeighborSearch(frame)
        idx = search.indices(self.species)
        if idx.size == 0:
            res = NanocrystalFrame(
                frame.time_ps,
                0,
                0,
                np.zeros(0),
                np.zeros(0),
                np.zeros(0, int),
                np.zeros(0, bool),
                np.zeros(0, int),
                np.zeros(0),
                np.zeros(0),
                np.zeros(0),
                self.backend,
            )
            return res
        if self.backend == "freud":
            q4, q6, solid, system = self._order_freud(frame, idx)
        else:
            q4, q6, solid, pl = self._order_numpy(search, idx)
        crys = (
            (solid >= self.min_bonds)
            & (q4 >= self.q4_range[0])
            & (q4 <= self.q4_range[1])
            & (q6 >= self.q6_range[0])
            & (q6 <= self.q6_range[1])
        )
        if self.backend == "freud":
            sizes, rg, R, zc = self._domains_freud(system, crys, idx, z)
        else:
            sizes, rg, R, zc = self._domains_numpy(search, idx, crys, pl, z)
        res = NanocrystalFrame(
            frame.time_ps,
            int(idx.size),
            int(crys.sum()),
            q4,
            q6,
            solid,
            crys,
            np.asarray(sizes, int),
            np.asarray(rg, float),
            np.asarray(R, float),
            np.asarray(zc, float),
            self.backend,
        )
        return res
