"""Subcells: ~100-atom boxes cut out of large frames around their most extrapolative atoms (paper 2.5).

A reference calculation cannot take a >100,000-atom interface frame, but it can take a ~100-atom
piece of it. :func:`cut_subcells` cuts such pieces around the atoms with the highest extrapolation
grade γ:

1. **Periodic images.** The frame is wrapped into its cell (any triclinic cell, any pbc) and padded
   with the periodic images that a box of the largest half-width can reach (:class:`PaddedFrame`,
   a cKDTree over real + image positions; thin shells for big cells, several image layers for cells
   smaller than the box). Boxes are axis-aligned Cartesian boxes centred on an atom, so the atoms
   near a centre come from one Chebyshev-distance query.
2. **Centres.** Atoms with ``min_gamma < γ < max_gamma`` in decreasing γ; an atom that already lies
   inside a chosen box (any periodic image) is not used as a centre (non-overlapping centres).
3. **Box size.** An orthorhombic box centred on the centre atom, sized on the atoms around it to hold
   closest to ``n_atoms`` (:func:`box_half_widths`: a cube when the count allows, otherwise per-axis
   half-widths one lattice plane apart, so crystals aligned with the axes do not jump past the
   target); no half-width is below ``cutoff``, so every atom within the cutoff of the centre atom is
   inside (its whole local environment).
4. **Cell.** The box plus ``vacuum`` Å on every side becomes an orthorhombic periodic cell. Across
   the new boundary two atoms can come closer than ``min_distance``: such an artificial contact is
   removed by deleting the atom farther from the centre (never one within the cutoff of the centre);
   a close contact that exists in the parent frame itself rejects the subcell.
5. **Duplicates** (:func:`deduplicate`): two subcells are duplicates when their centre atoms have the
   same element, the same number of neighbours of each element within the cutoff and sorted neighbour
   distances within ``tol_A`` of each other (equivalent atoms of an in-plane-replicated interface, an
   atom that hardly moved between two frames); the higher-γ one is kept. Exact copies are caught by
   the structure hash; how *informative* the rest are is left to the D-optimal selection.

Everything is vectorised (numpy + scipy cKDTree); nothing depends on the frame's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from seilab.errors import SeilabError


# ----------------------------------------------------------------------------------------- geometry
class PaddedFrame:
    """Real atoms (first ``n_real`` rows) + the periodic images within ``reach`` Å of the cell.

    ``positions`` are Cartesian (real atoms wrapped into the cell along periodic axes), ``index`` the
    parent atom of each row, ``shift`` its lattice shift. ``tree`` is a cKDTree over ``positions``:
    any query of radius <= ``reach`` (Euclidean or Chebyshev) around a real atom is complete.

    Kept by hand rather than ``seilab.geometry.neighbour_list``: subcells are cubes (Chebyshev boxes),
    which matscipy/ase/freud do not query; a sphere around the cube would list 2.7x its pairs.
    """

    def __init__(self, atoms, reach: float):
        from scipy.spatial import cKDTree

        pbc = np.asarray(atoms.pbc, dtype=bool)
        n = len(atoms)
        self.n_real = n
        self.reach = float(reach)
        if atoms.cell.rank == 3:
            cell = np.asarray(atoms.cell.array, dtype=float)
            frac = np.linalg.solve(cell.T, np.asarray(atoms.positions, dtype=float).T).T
            frac[:, pbc] %= 1.0
            frac[:, pbc] = np.where(frac[:, pbc] >= 1.0, 0.0, frac[:, pbc])  # -1e-17 % 1 == 1.0
            recip = np.linalg.inv(cell).T  # row i: b_i with a_j . b_i = delta_ij
            # a Cartesian cube of half-width r spans at most r * ||b_i||_1 in fractional coordinate i
            pad = self.reach * np.abs(recip).sum(axis=1)
            F, I, S = frac, np.arange(n), np.zeros((n, 3), dtype=np.int64)
            for ax in np.flatnonzero(pbc):
                kmax = int(np.ceil(pad[ax]))
                blocks = [(F, I, S)]
                for k in range(-kmax, kmax + 1):
                    if k == 0:
                        continue
                    f = F[:, ax] + k
                    m = (f >= -pad[ax]) & (f < 1.0 + pad[ax])
                    if m.any():
                        F2 = F[m].copy()
                        F2[:, ax] = f[m]
                        S2 = S[m].copy()
                        S2[:, ax] += k
                        blocks.append((F2, I[m], S2))
                F = np.concatenate([b[0] for b in blocks])
                I = np.concatenate([b[1] for b in blocks])
                S = np.concatenate([b[2] for b in blocks])
            self.positions = F @ cell
            self.index, self.shift = I, S
            self.volume = float(abs(np.linalg.det(cell))) if pbc.all() else None
        else:
            if pbc.any():
                raise SeilabError("subcells: a periodic frame needs a full 3-D cell")
            self.positions = np.asarray(atoms.positions, dtype=float).copy()
            self.index = np.arange(n)
            self.shift = np.zeros((n, 3), dtype=np.int64)
            self.volume = None
        if self.volume is None and n:
            span = np.ptp(self.positions[:n], axis=0) + 2.0
            self.volume = float(np.prod(np.maximum(span, 1.0)))
        self.tree = cKDTree(self.positions)

    @property
    def density(self) -> float:
        """Global number density (atoms/Å³) of the frame."""
        return self.n_real / self.volume if self.volume else 0.0

    def box(self, centre: int, half_width: float) -> np.ndarray:
        """Rows of ``positions`` within Chebyshev distance ``half_width`` of real atom ``centre``."""
        if half_width > self.reach + 1e-9:
            raise SeilabError(f"subcells: half-width {half_width:.2f} Å exceeds the padded reach {self.reach:.2f} Å")
        rows = self.tree.query_ball_point(self.positions[centre], half_width, p=np.inf)
        return np.asarray(sorted(rows), dtype=np.int64)


# ----------------------------------------------------------------------------------------- subcells
@dataclass
class Subcell:
    """One cut: the periodic subcell and where it came from."""

    atoms: object                      # ase.Atoms, cubic cell, pbc True
    centre: int                        # index of the centre atom in the parent frame
    centre_local: int                  # index of the centre atom in ``atoms``
    half_width: np.ndarray             # Å per axis; the cell edges are 2 * half_width + 2 * vacuum
    gamma_centre: float | None = None
    gamma_max: float | None = None     # largest parent-frame γ over the subcell's atoms
    removed: int = 0                   # atoms dropped for artificial contacts across the new boundary
    fingerprint: Environment | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Environment:
    """The centre atom's environment: its species, its neighbour count per element within the cutoff,
    and the sorted neighbour distances per element (concatenated in element order)."""

    centre_species: int
    counts: tuple
    distances: np.ndarray = field(repr=False)

    @property
    def key(self) -> tuple:
        return (self.centre_species, self.counts)


def environment(species: np.ndarray, rel: np.ndarray, centre_species: int, cutoff: float,
                elements: list[int]) -> Environment:
    """:class:`Environment` of the atom at the origin of ``rel`` (neighbour vectors, any order)."""
    r = np.linalg.norm(rel, axis=1)
    keep = (r > 1e-8) & (r <= cutoff)
    parts, counts = [], []
    for z in elements:
        rz = np.sort(r[keep & (species == z)])
        parts.append(rz)
        counts.append(len(rz))
    return Environment(int(centre_species), tuple(counts), np.concatenate(parts) if parts else np.zeros(0))


def box_half_widths(rel: np.ndarray, n_atoms: int, cutoff: float, reach: float) -> np.ndarray:
    """Half-widths (hx, hy, hz) of the box around the origin that holds closest to ``n_atoms`` of the
    points ``rel`` (all points within Chebyshev distance ``reach``), each at least ``cutoff``.

    The n-th nearest point in Chebyshev distance gives the cube that just reaches ``n_atoms`` (h_hi) and
    the one just below it (h_lo); in a crystal aligned with the box the count jumps by whole lattice
    planes between the two, so every box with each half-width either h_lo or h_hi is tried and the
    count closest to the target wins (ties: the more cube-like, then the larger box).
    """
    d = np.sort(np.max(np.abs(rel), axis=1))
    if len(d) < n_atoms:
        h = max(cutoff, reach)
        return np.array([h, h, h])
    t = d[n_atoms - 1]
    below, above = d[d < t - 1e-6], d[d > t + 1e-6]
    # faces half-way between the last atom in and the first atom out: in a crystal the faces lie
    # between lattice planes, so atoms meeting across the new boundary are as far apart as possible
    h_hi = 0.5 * (t + above[0]) if len(above) else t + 1e-6
    h_lo = 0.5 * (below[-1] + t) if len(below) else h_hi
    h_hi, h_lo = min(h_hi, reach), min(h_lo, reach)
    h_hi, h_lo = max(h_hi, cutoff), max(h_lo, cutoff)
    best, best_key = None, None
    for combo in np.array(np.meshgrid([h_lo, h_hi], [h_lo, h_hi], [h_lo, h_hi])).T.reshape(-1, 3):
        cnt = int(np.sum(np.all(np.abs(rel) <= combo, axis=1)))
        key = (abs(cnt - n_atoms), float(np.ptp(combo)), -float(combo.sum()))
        if best_key is None or key < best_key:
            best, best_key = combo, key
    return np.asarray(best, dtype=float)


def cut_subcells(frame, gamma=None, cutoff: float = 6.0, n_atoms: int = 100, vacuum: float = 0.5,
                 min_distance: float = 1.2, max_subcells: int = 6, min_gamma: float = 1.0,
                 max_gamma: float = np.inf, centres=None, elements=None,
                 padded: PaddedFrame | None = None, boundary: float = 0.0) -> tuple[list[Subcell], dict]:
    """Cut up to ``max_subcells`` subcells of about ``n_atoms`` atoms out of ``frame``.

    Parameters
    ----------
    frame:
        ASE Atoms, any size, periodic (any cell) or not.
    gamma:
        Per-atom γ of ``frame`` (defaults to ``frame.arrays['gamma']``). Centres are the atoms with
        ``min_gamma < γ < max_gamma``, highest first; a subcell containing an atom with γ >=
        ``max_gamma`` is rejected (its configuration is beyond the selection window).
    cutoff:
        Every atom within ``cutoff`` of the centre atom is inside the subcell (its full environment).
    centres:
        Explicit centre atoms (in this order) instead of the γ ranking.
    elements:
        Atomic numbers for the environment fingerprints (default: those of ``frame``).
    boundary:
        Atoms closer than ``vacuum + boundary`` to a face of the subcell get ``arrays['force_weight']`` 0,
        the others 1: across the artificial periodic seam their neighbours are not the parent frame's, so
        their reference forces describe the cut, not the frame (the centre atom always keeps weight 1).

    Returns ``(subcells, report)``; ``report`` counts centres tried and the reasons of rejections.
    """
    from ase import Atoms
    from scipy.spatial import cKDTree

    n = len(frame)
    if gamma is None:
        gamma = frame.arrays.get("gamma")
    gamma = None if gamma is None else np.asarray(gamma, dtype=float).reshape(-1)
    if gamma is not None and len(gamma) != n:
        raise SeilabError(f"subcells: {len(gamma)} γ values for {n} atoms")
    if centres is None:
        if gamma is None:
            raise SeilabError("subcells: give per-atom γ (or explicit centres)")
        ok = np.flatnonzero((gamma > min_gamma) & (gamma < max_gamma) & np.isfinite(gamma))
        centres = ok[np.argsort(-gamma[ok], kind="stable")]
    centres = [int(c) for c in centres]
    report = {"centres_available": len(centres), "tried": 0, "kept": 0, "overlap": 0, "above_window": 0,
              "close_contact": 0, "boundary_atoms_removed": 0}
    if not centres or n == 0:
        return [], report
    elements = sorted(set(int(z) for z in frame.numbers)) if elements is None else [int(z) for z in elements]

    # the largest half-width a cut may need: twice the cube edge at the global density, and the cutoff
    if padded is None:
        dens = _density_estimate(frame)
        h_est = 0.5 * (n_atoms / dens) ** (1.0 / 3.0) if dens > 0 else cutoff
        padded = PaddedFrame(frame, reach=max(cutoff, 2.0 * h_est) + 0.5)
    reach = padded.reach

    numbers = np.asarray(frame.numbers)
    covered = np.zeros(n, dtype=bool)
    out: list[Subcell] = []
    max_tries = 20 * max_subcells
    for c in centres:
        if len(out) >= max_subcells or report["tried"] >= max_tries:
            break
        if covered[c]:
            report["overlap"] += 1
            continue
        report["tried"] += 1
        near = padded.box(c, reach)
        near_rel = padded.positions[near] - padded.positions[c]
        h = box_half_widths(near_rel, n_atoms, cutoff, reach)
        inside = np.all(np.abs(near_rel) <= h, axis=1)
        rows, rel = near[inside], near_rel[inside]
        parent = padded.index[rows]
        if gamma is not None and np.any(gamma[parent] >= max_gamma):
            report["above_window"] += 1
            covered[c] = True
            continue
        local_c = int(np.flatnonzero((parent == c) & np.all(padded.shift[rows] == 0, axis=1))[0])
        # artificial contacts across the new periodic boundary
        edge = 2.0 * h + 2.0 * vacuum
        pos = rel + h + vacuum
        keep = np.ones(len(rows), dtype=bool)
        dist_c = np.linalg.norm(rel, axis=1)
        protected = dist_c <= cutoff + 1e-9
        bad = False
        if len(rows) > 1:
            tree = cKDTree(np.mod(pos, edge), boxsize=edge)
            pairs = tree.query_pairs(min_distance, output_type="ndarray")
            if len(pairs):
                direct = np.linalg.norm(rel[pairs[:, 0]] - rel[pairs[:, 1]], axis=1)
                if np.any(direct < min_distance):
                    bad = True
                else:
                    for a, b in pairs:
                        if not (keep[a] and keep[b]):
                            continue
                        if protected[a] and protected[b]:
                            bad = True
                            break
                        drop = b if protected[a] else a if protected[b] else (a if dist_c[a] > dist_c[b] else b)
                        keep[drop] = False
        if bad:
            report["close_contact"] += 1
            covered[c] = True
            continue
        removed = int((~keep).sum())
        report["boundary_atoms_removed"] += removed
        idx_keep = np.flatnonzero(keep)
        local_c = int(np.searchsorted(idx_keep, local_c))
        sub = Atoms(numbers[parent[keep]], positions=pos[keep], cell=np.diag(edge), pbc=True)
        sub.arrays["parent_index"] = parent[keep].astype(np.int64)
        if boundary > 0:
            to_face = np.minimum(pos[keep], edge - pos[keep]).min(axis=1)
            weight = (to_face >= vacuum + boundary).astype(float)
            weight[local_c] = 1.0
            sub.arrays["force_weight"] = weight
        g_c = g_max = None
        if gamma is not None:
            sub.arrays["parent_gamma"] = gamma[parent[keep]]
            g_c, g_max = float(gamma[c]), float(np.max(gamma[parent[keep]]))
        fp = environment(numbers[parent], rel, int(numbers[c]), cutoff, elements)
        sub.info.update(subcell_centre=local_c, subcell_centre_parent=c,
                        subcell_half_width_A=[round(float(x), 4) for x in h], subcell_vacuum_A=vacuum,
                        subcell_cutoff_A=cutoff)
        if gamma is not None:
            sub.info.update(gamma_centre=g_c, gamma_max=g_max)
        out.append(Subcell(sub, c, local_c, h, g_c, g_max, removed, fp))
        covered[parent] = True
        report["kept"] += 1
    return out, report


def _density_estimate(frame) -> float:
    if frame.cell.rank == 3 and all(frame.pbc):
        return len(frame) / frame.get_volume()
    pos = np.asarray(frame.positions)
    if len(pos) < 2:
        return 0.0
    span = np.maximum(np.ptp(pos, axis=0) + 2.0, 1.0)
    return len(frame) / float(np.prod(span))


def deduplicate(items: list, fingerprints: list, tol_A: float = 0.05, scores=None) -> tuple[list[int], list[int]]:
    """Indices to keep and to drop. Greedy in decreasing ``scores`` (default: given order): an item is a
    duplicate of a kept one when their centre atoms are of the same element, have the same number of
    neighbours of each element within the cutoff, and their sorted neighbour distances differ by at
    most ``tol_A`` (equivalent atoms of a replicated cell, an atom that hardly moved between frames)."""
    m = len(items)
    if m == 0:
        return [], []
    order = range(m) if scores is None else np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    kept_by_key: dict = {}
    kept: list[int] = []
    dropped: list[int] = []
    for i in order:
        fp = fingerprints[i]
        group = kept_by_key.setdefault(fp.key, [])
        if group and len(fp.distances) and float(np.min(np.max(np.abs(np.vstack(
                [fingerprints[j].distances for j in group]) - fp.distances), axis=1))) <= tol_A:
            dropped.append(int(i))
            continue
        if group and not len(fp.distances):  # no neighbours at all: same key = same environment
            dropped.append(int(i))
            continue
        group.append(int(i))
        kept.append(int(i))
    return sorted(kept), sorted(dropped)
