"""Energy and force errors of a potential on the train and test sets, and a parity plot.

Conventions: energies are compared per atom on ``energy_corrected`` (so the per-element reference
energies cancel), in meV/atom; forces are compared per Cartesian component, in meV/Å. Every metric
is given as RMSE and MAE, for ``all`` structures, per structure ``kind`` (the dataframe's ``kind``
column: crystalline, amorphous, interface, hot_md, ...) and, for forces, per element. Forces of atoms
with zero ``force_weight`` (active-learning subcell atoms at the cut, see ``learning.subcell_boundary_A``)
are not counted: the fit gives them no weight and their reference forces describe the cut.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def predict(calc, df) -> dict:
    """Model predictions for every row: energy per atom (eV) and forces (eV/Å), plus the references."""
    e_ref, e_pred, f_ref, f_pred, kinds, symbols, n_atoms = [], [], [], [], [], [], []
    for _, row in df.iterrows():
        atoms = row["ase_atoms"].copy()
        atoms.calc = calc
        n = len(atoms)
        e_pred.append(float(atoms.get_potential_energy()) / n)
        e_ref.append(float(row["energy_corrected"]) / n)
        counted = _counted_atoms(row, n)
        f_pred.append(np.asarray(atoms.get_forces(), dtype=float)[counted])
        f_ref.append(np.asarray(row["forces"], dtype=float)[counted])
        kinds.append(str(row.get("kind", "") or "other"))
        symbols.append(list(np.asarray(atoms.get_chemical_symbols())[counted]))
        n_atoms.append(n)
    return {"e_ref": np.array(e_ref), "e_pred": np.array(e_pred), "f_ref": f_ref, "f_pred": f_pred,
            "kind": kinds, "symbols": symbols, "n_atoms": n_atoms}


def _counted_atoms(row, n: int) -> np.ndarray:
    """Atoms whose forces count: all, except those with zero ``force_weight`` (subcell atoms at the cut)."""
    w = row.get("force_weight")  # the store writes an array for every row, or no column at all
    if w is None:
        return np.ones(n, dtype=bool)
    return np.asarray(w, dtype=float).reshape(-1) > 0


def _stats(diff: np.ndarray, scale: float) -> dict:
    diff = np.asarray(diff, dtype=float).ravel()
    if diff.size == 0:
        return {"rmse": None, "mae": None, "max": None, "n": 0}
    finite = np.isfinite(diff)
    if not finite.all():
        return {"rmse": float("inf"), "mae": float("inf"), "max": float("inf"), "n": int(diff.size)}
    return {"rmse": float(np.sqrt(np.mean(diff ** 2)) * scale), "mae": float(np.mean(np.abs(diff)) * scale),
            "max": float(np.max(np.abs(diff)) * scale), "n": int(diff.size)}


def error_metrics(pred: dict) -> dict:
    """RMSE/MAE of energies (meV/atom) and forces (meV/Å): all, per kind, per element (forces)."""
    de = pred["e_pred"] - pred["e_ref"]
    out: dict = {"n_structures": int(len(de)), "n_atoms": int(sum(pred["n_atoms"])),
                 "energy_meV_per_atom": _stats(de, 1000.0)}
    df_all = [fp - fr for fp, fr in zip(pred["f_pred"], pred["f_ref"])]
    out["force_meV_per_A"] = _stats(np.concatenate(df_all) if df_all else np.array([]), 1000.0)
    by_kind: dict = {}
    for kind in sorted(set(pred["kind"])):
        idx = [i for i, k in enumerate(pred["kind"]) if k == kind]
        by_kind[kind] = {"n_structures": len(idx), "energy_meV_per_atom": _stats(de[idx], 1000.0),
                         "force_meV_per_A": _stats(np.concatenate([df_all[i] for i in idx]), 1000.0)}
    out["by_kind"] = by_kind
    by_el: dict = {}
    if df_all:
        syms = np.concatenate([np.array(s) for s in pred["symbols"]])
        allf = np.concatenate(df_all)
        for el in sorted(set(syms)):
            by_el[el] = {"force_meV_per_A": _stats(allf[syms == el], 1000.0), "n_atoms": int((syms == el).sum())}
    out["force_by_element"] = by_el
    return out


def parity_plot(preds: dict, path: str | Path, title: str = "") -> Path:
    """Energy-per-atom and force-component parity plots for each set in ``preds`` ({'train': pred, ...})."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"train": "tab:blue", "test": "tab:orange"}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    for name, pred in preds.items():
        if pred is None or len(pred["e_ref"]) == 0:
            continue
        m = error_metrics(pred)
        c = colors.get(name, None)
        axes[0].scatter(pred["e_ref"], pred["e_pred"], s=12, alpha=0.7, color=c,
                        label=f"{name}: RMSE {m['energy_meV_per_atom']['rmse']:.1f} meV/atom")
        fr = np.concatenate(pred["f_ref"]).ravel()
        fp = np.concatenate(pred["f_pred"]).ravel()
        axes[1].scatter(fr, fp, s=4, alpha=0.4, color=c,
                        label=f"{name}: RMSE {m['force_meV_per_A']['rmse']:.0f} meV/Å")
    for ax, lab in zip(axes, ("energy (eV/atom, corrected)", "force component (eV/Å)")):
        lims = np.array([ax.get_xlim(), ax.get_ylim()])
        lo, hi = lims.min(), lims.max()
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(f"reference {lab}")
        ax.set_ylabel(f"model {lab}")
        ax.legend(fontsize=8, loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
