"""Pairwise binding curves (paper Fig. 3): a dimer in a big periodic box, model vs reference.

Energies are taken relative to the largest separation (``dimer_r_max_A``), so per-element reference
energies cancel. Checks per pair:

* ``dimer_rmse:A-B``: RMSE (eV) of model vs reference over the points where the reference is less
  than ``dimer_window_eV`` above its asymptote (the physically relevant part of the curve);
* ``dimer_repulsive:A-B``: the model is repulsive at short range: E(r_min) exceeds
  ``min_dimer_repulsion_eV`` and, going inward from the reference minimum, the model energy never
  drops by more than ``dimer_max_spurious_well_eV`` (no spurious well or hole in the compressed part).
"""

from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np


def dimer(a: str, b: str, r: float, box: float):
    from ase import Atoms

    c = box / 2.0
    return Atoms([a, b], positions=[[c - r / 2, c, c], [c + r / 2, c, c]], cell=[box] * 3, pbc=True)


def dimer_energies(calc, a: str, b: str, distances, box: float) -> np.ndarray:
    out = []
    for r in distances:
        atoms = dimer(a, b, float(r), box)
        atoms.calc = calc
        try:
            e = float(atoms.get_potential_energy())
        except Exception:  # a failing calculator gives NaN, the check then fails
            e = float("nan")
        out.append(e)
    return np.array(out)


def pairs_of(elements) -> list[tuple[str, str]]:
    return list(combinations_with_replacement(list(elements), 2))


def spurious_drop(r, e, r_stop) -> float:
    """Largest energy drop met when walking inward (decreasing r) from ``r_stop``; 0 for a clean wall."""
    order = np.argsort(-np.asarray(r))
    r, e = np.asarray(r)[order], np.asarray(e)[order]
    inside = r <= r_stop
    if inside.sum() < 2:
        return 0.0
    e = e[inside]
    if not np.all(np.isfinite(e)):
        return float("inf")
    running_max = np.maximum.accumulate(e)
    return float(np.max(running_max - e))


def evaluate_pair(r, e_model_rel, e_ref_rel, settings) -> tuple[dict, list[dict]]:
    """Numbers for one pair (energies already relative to r_max) and (rmse, E(r_min), spurious drop)."""
    r = np.asarray(r)
    finite = np.isfinite(e_model_rel)
    window = np.isfinite(e_ref_rel) & (e_ref_rel <= settings.dimer_window_eV)
    if finite.all() and window.any():
        rmse = float(np.sqrt(np.mean((e_model_rel[window] - e_ref_rel[window]) ** 2)))
    else:
        rmse = float("inf")
    i_ref_min = int(np.nanargmin(e_ref_rel)) if np.isfinite(e_ref_rel).any() else len(r) - 1
    r_ref_min = float(r[i_ref_min])
    i_mod_min = int(np.nanargmin(e_model_rel)) if finite.any() else 0
    e_short = float(e_model_rel[np.argmin(r)])
    drop = spurious_drop(r, e_model_rel, r_ref_min)
    numbers = {"rmse_eV": rmse, "reference_min_r_A": r_ref_min, "reference_min_eV": float(e_ref_rel[i_ref_min]),
               "model_min_r_A": float(r[i_mod_min]) if finite.any() else None,
               "model_min_eV": float(e_model_rel[i_mod_min]) if finite.any() else None,
               "model_E_rmin_eV": e_short, "spurious_drop_eV": drop, "window_points": int(window.sum())}
    return numbers, [rmse, e_short, drop]


def binding_curves(model_calc, ref_calc, elements, settings, ref_cache=None, progress=None) -> dict:
    """Curves, numbers and checks for every element pair; ``ref_cache`` memoises reference curves."""
    from seilab.validation.report import check

    rs = np.linspace(settings.dimer_r_min_A, settings.dimer_r_max_A, settings.dimer_points)
    curves, checks = {}, []
    for a, b in pairs_of(elements):
        key = f"{a}-{b}"
        ckey = {"kind": "dimer", "pair": key, "r": rs.round(6).tolist(), "box": settings.dimer_box_A}
        e_ref = ref_cache.get(ckey) if ref_cache is not None else None
        if e_ref is None:
            if progress:
                progress(f"dimers: reference {key}")
            e_ref = dimer_energies(ref_calc, a, b, rs, settings.dimer_box_A)
            if ref_cache is not None:
                ref_cache.put(ckey, e_ref)
        e_ref = np.asarray(e_ref, dtype=float)
        e_mod = dimer_energies(model_calc, a, b, rs, settings.dimer_box_A)
        e_ref_rel = e_ref - e_ref[-1]
        e_mod_rel = e_mod - e_mod[-1]
        numbers, (rmse, e_short, drop) = evaluate_pair(rs, e_mod_rel, e_ref_rel, settings)
        curves[key] = {"r_A": rs, "model_eV": e_mod_rel, "reference_eV": e_ref_rel, **numbers}
        checks.append(check(f"dimer_rmse:{key}", "dimers", rmse, settings.max_dimer_rmse_eV, "<=",
                            f"RMSE over reference < {settings.dimer_window_eV} eV"))
        ok = bool(np.isfinite(e_short) and e_short >= settings.min_dimer_repulsion_eV
                  and drop <= settings.dimer_max_spurious_well_eV)
        checks.append({"name": f"dimer_repulsive:{key}", "group": "dimers", "passed": ok,
                       "value": {"E_rmin_eV": e_short, "spurious_drop_eV": drop},
                       "threshold": {"min_E_rmin_eV": settings.min_dimer_repulsion_eV,
                                     "max_spurious_drop_eV": settings.dimer_max_spurious_well_eV},
                       "message": "repulsive short-range wall" if ok else
                       f"short-range wall broken: E(r_min) = {e_short:.2f} eV, spurious drop {drop:.2f} eV"})
    return {"curves": curves, "checks": checks}


def plot_binding_curves(curves: dict, path, settings) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(curves)
    ncol = min(3, len(keys))
    nrow = int(np.ceil(len(keys) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.0 * ncol, 3.2 * nrow), squeeze=False)
    for ax, key in zip(axes.ravel(), keys):
        c = curves[key]
        ax.plot(c["r_A"], c["reference_eV"], "ko", ms=3, label="reference")
        ax.plot(c["r_A"], c["model_eV"], "-", color="tab:red", label="model")
        finite = np.concatenate([np.asarray(c["reference_eV"], float), np.asarray(c["model_eV"], float)])
        finite = finite[np.isfinite(finite)]
        lo = min(-1.0, float(finite.min()) - 0.5) if finite.size else -5
        ax.set_ylim(lo, max(settings.dimer_window_eV * 2, 2.0))
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(f"{key}  RMSE {c['rmse_eV']:.2f} eV", fontsize=9)
        ax.set_xlabel("r (Å)")
        ax.set_ylabel("E − E(r_max) (eV)")
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
