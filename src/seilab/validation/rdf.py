"""Radial distribution functions from MD, and how similar two of them are.

g(r) is histogrammed from periodic neighbour lists (so cells smaller than 2 r_max are fine), averaged
over frames and smoothed with a Gaussian of ``smearing`` Å. Partials g_ab are normalised with
N_a N_b / V (ordered pairs), the total with N² / V.

**Similarity** of two curves g₁, g₂ on the same grid: ``S = 1 − Σ|g₁ − g₂| / Σ(g₁ + g₂)``, i.e.
one minus the normalised L1 distance. S = 1 for identical curves, 0 for curves without overlap; it
does not depend on the bin width, and a peak shifted by about its width lowers S by roughly its share
of the total area. Pairs absent from a structure are left out.
"""

from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np


def rdf(frames, r_max: float = 6.0, bin_A: float = 0.05, smearing_A: float = 0.1) -> dict:
    """{'r': centres, 'total': g(r), 'partials': {'A-B': g_AB(r)}} averaged over ``frames``."""
    from seilab.geometry import neighbour_list, radial_distribution

    r = radial_distribution([], 0, 0.0, r_max, bin_A)[0]
    elements = sorted({s for a in frames for s in a.get_chemical_symbols()})
    pairs = list(combinations_with_replacement(elements, 2))
    tot = np.zeros_like(r)
    part = {p: np.zeros_like(r) for p in pairs}
    n_frames = 0
    for atoms in frames:
        if atoms.cell.rank < 3:
            continue
        i, j, d = neighbour_list("ijd", atoms, r_max)
        vol = atoms.get_volume()
        sym = np.array(atoms.get_chemical_symbols())
        n = len(atoms)
        tot += radial_distribution(d, n, n / vol, r_max, bin_A)[1]
        for a, b in pairs:
            na, nb = int((sym == a).sum()), int((sym == b).sum())
            if na == 0 or nb == 0:
                continue
            # ordered pairs a→b (the full list holds b→a too): na centres, density of b
            part[(a, b)] += radial_distribution(d[(sym[i] == a) & (sym[j] == b)], na, nb / vol, r_max, bin_A)[1]
        n_frames += 1
    if n_frames:
        tot /= n_frames
        for p in part:
            part[p] /= n_frames
    present = {f"{a}-{b}": _smooth(g, bin_A, smearing_A) for (a, b), g in part.items() if g.any()}
    return {"r": r, "total": _smooth(tot, bin_A, smearing_A), "partials": present, "n_frames": n_frames}


def _smooth(g: np.ndarray, bin_A: float, sigma_A: float) -> np.ndarray:
    if sigma_A <= 0:
        return g
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(g, sigma_A / bin_A, mode="constant")


def similarity(g1, g2) -> float:
    """1 − Σ|g1 − g2| / Σ(g1 + g2) (see module docstring); NaN when both are empty."""
    g1, g2 = np.asarray(g1, dtype=float), np.asarray(g2, dtype=float)
    if not (np.all(np.isfinite(g1)) and np.all(np.isfinite(g2))):
        return 0.0
    denom = float(np.sum(np.abs(g1) + np.abs(g2)))
    if denom == 0:
        return float("nan")
    return float(1.0 - np.sum(np.abs(g1 - g2)) / denom)


def compare(model: dict, ref: dict) -> dict:
    """Similarity of the total and each partial present in either RDF."""
    out = {"total": similarity(model["total"], ref["total"]), "partials": {}}
    for key in sorted(set(model["partials"]) | set(ref["partials"])):
        gm = model["partials"].get(key, np.zeros_like(model["r"]))
        gr = ref["partials"].get(key, np.zeros_like(ref["r"]))
        out["partials"][key] = similarity(gm, gr)
    vals = [v for v in out["partials"].values() if np.isfinite(v)]
    out["worst_partial"] = min(vals) if vals else float("nan")
    return out


def supercell(atoms, min_atoms: int):
    """Repeat ``atoms`` along its shortest perpendicular widths until it has at least ``min_atoms``."""
    reps = [1, 1, 1]
    if atoms.cell.rank < 3:
        return atoms.copy()
    while len(atoms) * np.prod(reps) < min_atoms:
        widths = [atoms.cell.volume / np.linalg.norm(np.cross(atoms.cell[(k + 1) % 3], atoms.cell[(k + 2) % 3]))
                  * reps[k] for k in range(3)]
        reps[int(np.argmin(widths))] += 1
    return atoms.repeat(reps) if reps != [1, 1, 1] else atoms.copy()


def plot_rdf(name: str, model: dict, ref: dict, scores: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["total"] + sorted(set(model["partials"]) | set(ref["partials"]))
    ncol = min(4, len(keys))
    nrow = int(np.ceil(len(keys) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 2.8 * nrow), squeeze=False)
    for ax, key in zip(axes.ravel(), keys):
        gm = model["total"] if key == "total" else model["partials"].get(key, np.zeros_like(model["r"]))
        gr = ref["total"] if key == "total" else ref["partials"].get(key, np.zeros_like(ref["r"]))
        s = scores["total"] if key == "total" else scores["partials"].get(key, float("nan"))
        ax.plot(ref["r"], gr, "k-", lw=1.2, label="reference")
        ax.plot(model["r"], gm, "-", color="tab:red", lw=1.0, label="model")
        ax.set_title(f"{key}  S = {s:.2f}", fontsize=9)
        ax.set_xlabel("r (Å)")
        ax.set_ylabel("g(r)")
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"RDF {name}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
