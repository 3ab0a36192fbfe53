"""Anode/electrolyte interface cells at scale (1k … 500k+ atoms) for production MD.

:func:`build_interface` stacks an anode slab (Li bcc (100) in the paper) on an electrolyte slab
(Li7P3S11 (100)) in one periodic cell, replicated in-plane and thickened to about ``n_atoms``:

1. Each bulk phase (relaxed by the chemistry stage, or the bundled structure) is cut along its
   Miller plane with pymatgen's ``SlabGenerator`` (oriented unit cell: two in-plane vectors and one
   stacking vector). Non-triclinic phases use their conventional standard cell, as the sampling stage.
2. The two in-plane lattices are matched with pymatgen's ``ZSLGenerator`` (the lattice search of
   ``CoherentInterfaceBuilder``); the smallest-area match within ``max_strain`` is taken, or the one
   whose in-plane cell is closest to a given ``seed`` cell (the lowest-energy interface of the
   sampling stage, :func:`sampling_seed`). The **anode** is strained onto the electrolyte's lattice
   and its thickness rescaled so its volume per atom (density) stays the bulk one; the electrolyte is
   not strained at all.
3. Each slab's termination is the cut plane that breaks the fewest covalent P–S/P–P/S–S bonds (PS4 /
   P2S7 units stay whole); ties go to the widest interlayer gap.
4. The cell is orthogonal along z (the interface normal, electrolyte below, anode above), with a gap
   between the slabs at each of the two interfaces; the in-plane cell is Gauss-reduced (LAMMPS
   restricted-triclinic box with |xy| <= lx/2 when the match is oblique). ``gap_A`` is a number (the
   same gap at both interfaces; paper: 1.5 Å "sandwich") or ``"auto"`` (:func:`contact_gaps`): each
   interface gets the smallest gap at which no atom pair across it is closer than that element pair's
   shortest distance in the two bulk reactants, from the terminating atoms of the two slabs. The paper's
   fixed 1.5 Å put the demo's S and Li at 1.55 Å (bulk Li–S ≥ 2.39 Å; 7.5 eV/Å forces before the
   minimisation).
5. In-plane replication (nx, ny) and slab repeats are chosen to hit ``n_atoms`` with the requested
   ``anode_fraction`` and ``aspect_ratio`` (length along z / lateral size).

Per-atom array ``interface_side`` (0 electrolyte, 1 anode) as in the sampling stage's interfaces;
``atoms.info['interface']`` documents the build (match, strain, repeats, slab heights).
Everything after step 2 is numpy on small unit cells, so 500k atoms take seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from seilab.errors import SeilabError

#: covalent bonds a good termination should not break (Å)
BOND_CUTOFFS = {("P", "S"): 2.45, ("P", "P"): 2.45, ("S", "S"): 2.3}


# ----------------------------------------------------------------------------------------------- cells
def _structure(atoms):
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    s = AseAtomsAdaptor.get_structure(_plain(atoms))
    try:
        sga = SpacegroupAnalyzer(s, symprec=0.05)
        if sga.get_crystal_system() != "triclinic":
            return sga.get_conventional_standard_structure()
    except Exception:  # symmetry search failed: the cell as given
        pass
    return s


def _plain(atoms):
    from ase import Atoms

    return Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True)


def oriented_cell(bulk, miller: Sequence[int]):
    """ASE Atoms of the bulk's oriented unit cell: rows a, b in the (hkl) plane (a along x, b in xy),
    c the stacking vector with c_z > 0."""
    from pymatgen.core.surface import SlabGenerator
    from pymatgen.io.ase import AseAtomsAdaptor

    sg = SlabGenerator(_structure(bulk), tuple(int(i) for i in miller), min_slab_size=1, min_vacuum_size=0,
                       lll_reduce=False, center_slab=False, in_unit_planes=True, primitive=False)
    atoms = AseAtomsAdaptor.get_atoms(sg.oriented_unit_cell)
    cell = atoms.cell.array.copy()
    if np.linalg.det(cell) < 0:  # make right-handed with c on the +z side of the a×b plane
        atoms.set_cell(cell[[1, 0, 2]], scale_atoms=False)  # same lattice, Cartesian positions kept
    std, _ = atoms.cell.standard_form()
    atoms.set_cell(std, scale_atoms=True)
    atoms.wrap()
    return _plain(atoms)


def _gauss_reduce(v1: np.ndarray, v2: np.ndarray) -> np.ndarray:
    """Unimodular U (2x2 ints) with U @ [v1, v2] Gauss(Lagrange)-reduced."""
    U = np.eye(2, dtype=int)
    B = np.array([v1, v2], float)
    for _ in range(100):
        if B[0] @ B[0] > B[1] @ B[1]:
            B = B[[1, 0]]
            U = U[[1, 0]]
        mu = int(round((B[0] @ B[1]) / (B[0] @ B[0])))
        if mu == 0:
            break
        B[1] = B[1] - mu * B[0]
        U[1] = U[1] - mu * U[0]
    if B[0, 0] * B[1, 1] - B[0, 1] * B[1, 0] < 0:  # keep right-handed
        B[1] = -B[1]
        U[1] = -U[1]
    return U


def _int_transform(sl: np.ndarray, base: np.ndarray) -> np.ndarray:
    M = sl @ np.linalg.pinv(base)
    Mi = np.rint(M).astype(int)
    if np.abs(M - Mi).max() > 1e-3 or abs(round(np.linalg.det(Mi))) < 1:
        raise SeilabError("interface: lattice match is not an integer supercell (pymatgen ZSL changed?)")
    return Mi


@dataclass
class LatticeMatch:
    film_M: np.ndarray          # 2x2 ints: film supercell rows = M @ film in-plane rows
    substrate_M: np.ndarray     # 2x2 ints
    area_A2: float
    strain: float               # largest principal in-plane strain of the film


def lattice_matches(film_cell, substrate_cell, max_strain: float = 0.05, max_area: float = 400.0) -> list[LatticeMatch]:
    """In-plane supercell matches (pymatgen ZSL), smallest area first."""
    from pymatgen.analysis.interfaces.zsl import ZSLGenerator

    F = film_cell.cell.array[:2]
    S = substrate_cell.cell.array[:2]
    zsl = ZSLGenerator(max_area_ratio_tol=0.09, max_area=max_area, max_length_tol=max_strain,
                       max_angle_tol=max_strain)
    out = []
    seen = set()
    for m in zsl(F, S):
        fM = _int_transform(np.asarray(m.film_sl_vectors), F)
        sM = _int_transform(np.asarray(m.substrate_sl_vectors), S)
        key = (tuple(fM.ravel()), tuple(sM.ravel()))
        if key in seen:
            continue
        seen.add(key)
        T = _strain_map(fM @ F[:, :2], sM @ S[:, :2])
        if T is None:
            continue
        strain = float(np.max(np.abs(np.linalg.svd(T, compute_uv=False) - 1)))
        if strain > max_strain:  # ZSL bounds lengths and angle separately; bound the principal strain
            continue
        out.append(LatticeMatch(fM, sM, float(abs(np.linalg.det(sM @ S[:, :2]))), strain))
    out.sort(key=lambda m: (round(m.area_A2, 3), m.strain))
    return out


def _strain_map(Fp: np.ndarray, Sp: np.ndarray) -> np.ndarray | None:
    """2x2 T with Fp @ T = Sp (row vectors); None if it would mirror the film."""
    T = np.linalg.solve(Fp, Sp)
    if np.linalg.det(T) <= 0:
        return None
    return T


# ----------------------------------------------------------------------------------------------- slabs
def _supercell_inplane(cell_atoms, M: np.ndarray):
    from ase.build import make_supercell

    P = np.eye(3, dtype=int)
    P[:2, :2] = M
    sc = make_supercell(cell_atoms, P, wrap=True)
    return sc


def best_termination(atoms, bond_cutoffs=BOND_CUTOFFS) -> tuple[float, int, float]:
    """(fractional shift along c, broken bonds, gap in Å) of the best cut plane of an oriented cell."""
    from ase.neighborlist import neighbor_list

    frac = atoms.get_scaled_positions()[:, 2] % 1.0
    syms = np.array(atoms.get_chemical_symbols())
    cut = {}
    present = set(syms)
    for (a, b), r in bond_cutoffs.items():
        if a in present and b in present:
            cut[(a, b)] = r
            cut[(b, a)] = r
    if cut:
        i, j, D = neighbor_list("ijD", atoms, cut)
        dfrac = D @ np.linalg.inv(atoms.cell.array)
        fi, df = frac[i], dfrac[:, 2]
    else:
        fi = df = np.zeros(0)
    u = np.unique(np.round(frac, 6))
    gaps = np.diff(np.concatenate([u, [u[0] + 1.0]]))
    cands = (u + gaps / 2.0) % 1.0
    cz = atoms.cell.array[2, 2]
    best = None
    for s, g in zip(cands, gaps):
        broken = int(np.sum(np.abs(np.floor(fi + df - s) - np.floor(fi - s)) > 0)) // 2 if len(fi) else 0
        key = (broken, -g)
        if best is None or key < best[0]:
            best = (key, float(s), broken, float(g * cz))
    return best[1], best[2], best[3]


def _cross_pairs(pos_low, z_low, pos_high, z_high, A: np.ndarray, reach: float):
    """In-plane distance² and z offset of every (lower atom, upper atom) pair across one interface whose
    in-plane distance (any in-plane periodic image of cell ``A``) is below ``reach``. Only atoms within
    ``reach`` of their slab's face (``z_low`` top of the lower slab, ``z_high`` bottom of the upper one)
    are considered. Returns (i, j, rho², dz0) with dz0 = z_j − z_i when the two faces touch (gap 0)."""
    lo = np.flatnonzero(pos_low[:, 2] > z_low - reach)
    hi = np.flatnonzero(pos_high[:, 2] < z_high + reach)
    if not len(lo) or not len(hi):
        return (np.zeros(0, int),) * 2 + (np.zeros(0),) * 2
    heights = abs(np.linalg.det(A)) / np.linalg.norm(A, axis=1)
    n = [int(np.ceil(reach / h)) + 1 for h in heights[::-1]]
    shifts = np.array([(i, j) for i in range(-n[0], n[0] + 1) for j in range(-n[1], n[1] + 1)], float) @ A
    d = (pos_high[hi, None, None, :2] - pos_low[None, lo, None, :2]) + shifts[None, None]  # (hi, lo, image, 2)
    rho2 = np.einsum("abkx,abkx->abk", d, d).min(axis=2)
    jj, ii = np.nonzero(rho2 < reach ** 2)
    dz0 = (pos_high[hi[jj], 2] - z_high) + (z_low - pos_low[lo[ii], 2])
    return lo[ii], hi[jj], rho2[jj, ii], dz0


def contact_gaps(syms_s, pos_s, syms_f, pos_f, A: np.ndarray, contact_A: dict[tuple[str, str], float],
                 floor_A: float = 0.5) -> tuple[tuple[float, float], dict]:
    """The two gaps (Å) of an electrolyte slab (``pos_s``, z from 0 to its top) and an anode slab
    (``pos_f``, z from 0) stacked electrolyte | anode | (periodic) electrolyte, each the smallest gap at
    which every atom pair across that interface is at least ``contact_A[(a, b)]`` apart (the pair's
    shortest distance in the bulk reactants), and at least ``floor_A``.

    A pair at in-plane distance ρ and z offset δ (faces touching) needs gap ≥ sqrt(d_ab² − ρ²) − δ; the
    gap is the largest such requirement over the pairs of the two terminating layers. Returns
    ((gap at the electrolyte-top | anode-bottom interface, gap at the anode-top | electrolyte-bottom
    one), details: the pair that set each gap and its required distance).
    """
    reach = max(contact_A.values())
    hs, hf = pos_s[:, 2].max(), pos_f[:, 2].max()
    out, details = [], {}
    for label, (sl, pl, zl), (sh, ph, zh) in (
            ("electrolyte|anode", (syms_s, pos_s, hs), (syms_f, pos_f, 0.0)),
            ("anode|electrolyte", (syms_f, pos_f, hf), (syms_s, pos_s, 0.0))):
        i, j, rho2, dz0 = _cross_pairs(pl, zl, ph, zh, A, reach)
        need = np.array([contact_A.get((sl[a], sh[b]), contact_A.get((sh[b], sl[a]), 0.0))
                         for a, b in zip(i, j)], float)
        req = np.sqrt(np.clip(need ** 2 - rho2, 0.0, None)) - dz0
        req[need ** 2 <= rho2] = -np.inf
        gap = float(max(floor_A, req.max() if len(req) else floor_A))
        k = int(np.argmax(req)) if len(req) and np.isfinite(req.max()) else None
        details[label] = {"gap_A": gap, "closest_pair": None if k is None else f"{sl[i[k]]}-{sh[j[k]]}",
                          "required_A": None if k is None else float(need[k])}
        out.append(gap)
    return (out[0], out[1]), details


def bulk_contacts(*bulks, elements=None, cutoff: float = 4.0) -> dict[tuple[str, str], float]:
    """Shortest distance (Å) of every element pair in the bulk structures (both orders as keys); pairs
    that occur in none of them (within ``cutoff``) get the sum of ASE's covalent radii."""
    from ase.data import atomic_numbers, covalent_radii

    from seilab.geometry import pair_minima

    found = pair_minima(list(bulks), cutoff=cutoff)
    els = sorted(set(elements or [s for b in bulks for s in b.get_chemical_symbols()]))
    out = {}
    for a in els:
        for b in els:
            key = "-".join(sorted((a, b)))
            out[(a, b)] = found.get(key, float(covalent_radii[atomic_numbers[a]] + covalent_radii[atomic_numbers[b]]))
    return out


def _slab(unit, repeats: int, A: np.ndarray):
    """(symbols, positions) of ``repeats`` stacked copies of ``unit`` (cell rows A1, A2, c), in-plane
    wrapped into A (2x2), z >= 0 starting at the lowest atom."""
    cell = unit.cell.array
    pos0 = unit.positions
    syms0 = np.array(unit.get_chemical_symbols())
    pos = np.concatenate([pos0 + j * cell[2] for j in range(repeats)])
    syms = np.tile(syms0, repeats)
    inv = np.linalg.inv(A)
    f = pos[:, :2] @ inv
    f -= np.floor(f)
    pos[:, :2] = f @ A
    pos[:, 2] -= pos[:, 2].min()
    return syms, pos


def _molecules(atoms, bond_cutoffs=BOND_CUTOFFS) -> list[tuple[np.ndarray, np.ndarray]]:
    """Covalent units (e.g. PS4, P2S7) of a periodic cell: (atom indices, unwrapped fractional coords)."""
    # ase, not seilab.geometry (matscipy): per-species cutoffs by symbol, and the walk below follows the
    # list's j order, which matscipy permutes (same pairs; other images, so other unwrapped coordinates)
    from ase.neighborlist import neighbor_list

    syms = np.array(atoms.get_chemical_symbols())
    present = set(syms)
    cut = {}
    for (a, b), r in bond_cutoffs.items():
        if a in present and b in present:
            cut[(a, b)] = cut[(b, a)] = r
    if not cut:
        return []
    i, j, S = neighbor_list("ijS", atoms, cut)
    frac = atoms.get_scaled_positions()
    adj: dict[int, list[tuple[int, np.ndarray]]] = {}
    for a, b, s in zip(i, j, S):
        adj.setdefault(int(a), []).append((int(b), s))
    seen: dict[int, np.ndarray] = {}
    out = []
    for start in adj:
        if start in seen:
            continue
        seen[start] = frac[start].copy()
        stack, members = [start], [start]
        while stack:
            a = stack.pop()
            for b, s in adj.get(a, []):
                if b not in seen:
                    seen[b] = frac[b] + s + (seen[a] - frac[a])
                    stack.append(b)
                    members.append(b)
        idx = np.array(sorted(members))
        out.append((idx, np.array([seen[k] for k in idx])))
    return out


def _terminate(unit):
    """Shift an oriented (super)cell so the best cut plane is at fractional c = 0, keeping covalent
    units whole: each unit is placed by its centroid, so the surface is corrugated instead of cut."""
    s, broken, gap = best_termination(unit)
    sp = unit.get_scaled_positions()
    sp[:, 2] = (sp[:, 2] - s) % 1.0
    unit.set_scaled_positions(sp)
    if broken:
        sp = unit.get_scaled_positions()
        for idx, uf in _molecules(unit):
            centroid = uf.mean(axis=0)
            shift = np.floor(centroid)
            shift[:2] = 0.0
            sp[idx] = uf - shift  # whole unit, centroid inside [0, 1) along c; may stick out of the cell
        unit.positions = sp @ unit.cell.array
    return unit, broken, gap


# ----------------------------------------------------------------------------------------------- builder
def build_interface(anode, electrolyte, n_atoms: int, anode_miller=(1, 0, 0), electrolyte_miller=(1, 0, 0),
                    anode_fraction: float = 0.5, aspect_ratio: float = 2.0, gap_A: float | str = "auto",
                    max_strain: float = 0.05, max_area_A2: float = 400.0, seed_cell=None,
                    anode_name: str = "anode", electrolyte_name: str = "electrolyte"):
    """Periodic electrolyte|anode interface of about ``n_atoms`` atoms (see the module docstring).

    ``anode`` / ``electrolyte``: bulk ASE Atoms (or pymatgen Structures). ``seed_cell``: a 3x3 cell (or
    Atoms) whose first two rows are the in-plane cell of a preferred interface (e.g. the lowest-energy
    sampling interface): the match with the closest in-plane metric is used.
    """
    from ase import Atoms

    anode, electrolyte = _as_atoms(anode), _as_atoms(electrolyte)
    if n_atoms < 20:
        raise SeilabError(f"simulation.n_atoms: {n_atoms} is too small for an interface")
    film = oriented_cell(anode, anode_miller)
    sub = oriented_cell(electrolyte, electrolyte_miller)
    matches = lattice_matches(film, sub, max_strain=max_strain, max_area=max_area_A2)
    if not matches:
        raise SeilabError(f"simulation.max_strain: no in-plane match of {anode_name}{tuple(anode_miller)} on "
                          f"{electrolyte_name}{tuple(electrolyte_miller)} within {max_strain:.0%} strain and "
                          f"{max_area_A2:.0f} Å² (raise max_strain or max_match_area_A2)")
    match = matches[0]
    if seed_cell is not None:
        match = _closest_to_seed(matches, sub, seed_cell)

    # substrate (electrolyte): unstrained supercell, Gauss-reduced in-plane cell
    S = sub.cell.array[:2, :2]
    Sp = match.substrate_M @ S
    U = _gauss_reduce(Sp[0], Sp[1])
    A = U @ Sp
    sub_sc = _supercell_inplane(sub, U @ match.substrate_M)
    # film (anode): supercell, then strained onto A; thickness rescaled to keep the bulk density
    film_sc = _supercell_inplane(film, U @ match.film_M)
    T = _strain_map(film_sc.cell.array[:2, :2], A)
    scale_z = 1.0 / np.linalg.det(T)
    fc = film_sc.cell.array.copy()
    fp = film_sc.positions.copy()
    fp[:, :2] = fp[:, :2] @ T
    fp[:, 2] *= scale_z
    fc[:, :2] = fc[:, :2] @ T
    fc[:, 2] *= scale_z
    film_sc = Atoms(film_sc.get_chemical_symbols(), positions=fp, cell=fc, pbc=True)
    # rotate the common in-plane frame so A1 is along x (LAMMPS restricted triclinic)
    ang = math.atan2(A[0, 1], A[0, 0])
    R = np.array([[math.cos(-ang), -math.sin(-ang)], [math.sin(-ang), math.cos(-ang)]])
    A = A @ R.T
    for at in (sub_sc, film_sc):
        c = at.cell.array.copy()
        p = at.positions.copy()
        c[:, :2] = c[:, :2] @ R.T
        p[:, :2] = p[:, :2] @ R.T
        c[0, :2], c[1, :2] = A[0], A[1]
        at.set_cell(c, scale_atoms=False)
        at.positions = p
        at.wrap()
    sub_sc, sub_broken, _ = _terminate(sub_sc)
    film_sc, film_broken, _ = _terminate(film_sc)

    # sizes: in-plane replicas and repeats along z (the gap only nudges the aspect ratio: 1.5 Å for "auto")
    gap_z = 1.5 if gap_A == "auto" else float(gap_A)
    n_s1, n_f1 = len(sub_sc), len(film_sc)
    t_s, t_f = sub_sc.cell.array[2, 2], film_sc.cell.array[2, 2]
    a1, a2 = np.linalg.norm(A[0]), np.linalg.norm(A[1])
    area = abs(np.linalg.det(A))
    best = None
    rho = (n_s1 / (area * t_s) + n_f1 / (area * t_f)) / 2
    L = (n_atoms / rho / aspect_ratio) ** (1 / 3)
    nmax = max(1, int(math.ceil(2 * L / min(a1, a2))) + 2)
    for nx in range(1, nmax + 1):
        for ny in range(1, nmax + 1):
            cells = nx * ny
            for ks in {max(1, math.floor((1 - anode_fraction) * n_atoms / (cells * n_s1))),
                       max(1, math.ceil((1 - anode_fraction) * n_atoms / (cells * n_s1)))}:
                for kf in {max(1, math.floor(anode_fraction * n_atoms / (cells * n_f1))),
                           max(1, math.ceil(anode_fraction * n_atoms / (cells * n_f1)))}:
                    total = cells * (ks * n_s1 + kf * n_f1)
                    H = ks * t_s + kf * t_f + 2 * gap_z
                    lat = math.sqrt(cells * area)
                    score = (abs(total - n_atoms) / n_atoms + 0.02 * abs(math.log(H / lat / aspect_ratio))
                             + 0.02 * abs(math.log(nx * a1 / (ny * a2)))
                             + 0.05 * abs(math.log(kf * n_f1 / max(ks * n_s1, 1) * (1 - anode_fraction) / anode_fraction)))
                    if best is None or score < best[0]:
                        best = (score, nx, ny, ks, kf, total)
    _, nx, ny, ks, kf, total = best

    sym_s, pos_s = _slab(sub_sc, ks, A)
    sym_f, pos_f = _slab(film_sc, kf, A)
    hs, hf = pos_s[:, 2].max(), pos_f[:, 2].max()
    contacts = bulk_contacts(anode, electrolyte)
    auto_gaps, gap_details = contact_gaps(sym_s, pos_s, sym_f, pos_f, A, contacts)
    g1, g2 = auto_gaps if gap_A == "auto" else (float(gap_A), float(gap_A))
    pos_s[:, 2] += g2 / 2
    pos_f[:, 2] += g2 / 2 + hs + g1
    H = hs + hf + g1 + g2
    cell = np.zeros((3, 3))
    cell[0, :2], cell[1, :2], cell[2, 2] = A[0], A[1], H
    unit = Atoms(list(sym_s) + list(sym_f), positions=np.concatenate([pos_s, pos_f]), cell=cell, pbc=True)
    side = np.concatenate([np.zeros(len(sym_s), int), np.ones(len(sym_f), int)])
    unit.arrays["interface_side"] = side
    atoms = unit.repeat((nx, ny, 1))
    # order: electrolyte first, then anode (stable ids for analysis), each sorted along z
    order = np.lexsort((atoms.positions[:, 2], atoms.arrays["interface_side"]))
    atoms = atoms[order]
    atoms.wrap()
    strain_film = float(np.max(np.abs(np.linalg.svd(T, compute_uv=False) - 1)))
    atoms.info["interface"] = {
        "anode": anode_name, "electrolyte": electrolyte_name, "anode_miller": list(anode_miller),
        "electrolyte_miller": list(electrolyte_miller), "n_atoms": len(atoms), "n_atoms_requested": int(n_atoms),
        "inplane_replicas": [nx, ny], "electrolyte_repeats": ks, "anode_repeats": kf,
        "match_area_A2": float(area), "match_cell_A": [[float(x) for x in row] for row in A], "anode_strain": strain_film, "anode_thickness_scale": float(scale_z),
        "electrolyte_period_A": float(t_s), "anode_period_A": float(t_f),
        "electrolyte_height_A": float(hs), "anode_height_A": float(hf),
        "gap_A": [float(g1), float(g2)], "gap_choice": "auto (bulk contacts)" if gap_A == "auto" else "fixed",
        "contact_gaps_A": [float(g) for g in auto_gaps], "contact_gap_pairs": gap_details,
        "broken_bonds_per_cell": {"electrolyte": sub_broken, "anode": film_broken},
        "interfaces_z_A": [float(g2 / 2 + hs + g1 / 2), float(H)],
        "seeded": seed_cell is not None,
    }
    return atoms


def _as_atoms(obj):
    if hasattr(obj, "get_positions"):
        return obj
    from pymatgen.io.ase import AseAtomsAdaptor

    return AseAtomsAdaptor.get_atoms(obj)


def _closest_to_seed(matches: list[LatticeMatch], sub, seed_cell) -> LatticeMatch:
    cell = np.asarray(seed_cell.cell.array if hasattr(seed_cell, "cell") else seed_cell, float)
    a, b = cell[0], cell[1]
    seed_metric = sorted([np.linalg.norm(a), np.linalg.norm(b)]) + [abs(np.linalg.norm(np.cross(a, b)))]
    S = sub.cell.array[:2, :2]

    def dist(m: LatticeMatch) -> float:
        Sp = m.substrate_M @ S
        U = _gauss_reduce(Sp[0], Sp[1])
        A = U @ Sp
        metric = sorted(np.linalg.norm(A, axis=1)) + [abs(np.linalg.det(A))]
        return sum(abs(x - y) / y for x, y in zip(metric, seed_metric)) + 0.01 * m.strain

    return min(matches, key=dist)


# ----------------------------------------------------------------------------------------------- campaign
def bulk_phases(campaign=None, names: Sequence[str] = ("Li_bcc", "Li7P3S11")) -> dict:
    """Bulk phases by name: relaxed ones from the chemistry stage when present, else bundled ones."""
    from pymatgen.io.ase import AseAtomsAdaptor

    out = {}
    if campaign is not None:
        try:
            from seilab.chemistry import load_relaxed_phases

            out = dict(load_relaxed_phases(campaign, names=list(names)))
        except SeilabError:
            out = {}
    for n in names:
        if n not in out:
            from seilab.chemistry.library import build_bundled

            try:
                out[n] = AseAtomsAdaptor.get_atoms(build_bundled(n))
            except Exception as exc:
                raise SeilabError(f"phases: no relaxed or bundled structure for {n!r} ({exc})") from None
            out[n].info["origin"] = "bundled"
    return out


def sampling_seed(campaign, anode_miller, electrolyte_miller, calculator=None, bulk: dict | None = None):
    """The lowest-energy interface of the sampling stage for this plane pair, or None.

    Energies: the frame's stored energy (labelled frames), else ``calculator``. Frames of different
    size are compared by interface energy (E − Σ_sides n·e_bulk) / (2 A) with bulk energies per atom
    from ``calculator`` (or the stored ``energy_per_atom`` of the relaxed phases).
    """
    from seilab.provenance import read_extxyz
    from seilab.sampling.interfaces import pair_name
    from seilab.sampling.pipeline import sampled_files

    an, el = campaign.reactants.anode, campaign.reactants.electrolyte
    name = pair_name(an, anode_miller, el, electrolyte_miller)
    path = next((p for p in sampled_files(campaign, "interface") if p.stem == name), None)
    if path is None:
        return None
    frames = read_extxyz(path)
    if not frames:
        return None
    bulk = bulk or bulk_phases(campaign, (an, el))
    e_bulk = {}
    for name in (an, el):
        b = bulk[name].copy()
        if calculator is not None:
            b.calc = calculator
            e_bulk[name] = b.get_potential_energy() / len(b)
        else:
            e_bulk[name] = bulk[name].info.get("energy_per_atom")
    best = None
    for fr in frames:
        e = None
        try:
            e = fr.get_potential_energy()
        except Exception:
            e = fr.info.get("energy")
        if e is None and calculator is not None:
            a = fr.copy()
            a.calc = calculator
            e = a.get_potential_energy()
        if e is None or None in e_bulk.values():
            continue
        side = fr.arrays.get("interface_side")
        if side is None:
            continue
        n_an, n_el = int(np.sum(side == 1)), int(np.sum(side == 0))
        area = float(np.linalg.norm(np.cross(fr.cell[0], fr.cell[1])))
        gamma = (e - n_an * e_bulk[an] - n_el * e_bulk[el]) / (2 * area)
        if best is None or gamma < best[0]:
            best = (gamma, fr)
    if best is None:
        return None
    fr = best[1]
    fr.info["interface_energy_eV_per_A2"] = float(best[0])
    fr.info["seed_file"] = str(path)
    return fr
