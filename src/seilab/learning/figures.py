"""The learning curve: test errors, dataset size and extrapolation grades per active-learning generation."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _get(rows: list[dict], key: str, sub: str | None = None) -> np.ndarray:
    vals = []
    for r in rows:
        v = r.get(key)
        if sub is not None:
            v = v.get(sub) if isinstance(v, dict) else None
        vals.append(float(v) if isinstance(v, (int, float)) else np.nan)
    return np.asarray(vals, dtype=float)


def plot_learning_curve(generations: list[dict], path, dpi: int = 120) -> Path:
    """Three panels over the generations of ``learning.json`` (generation 0 = the first fit):

    (a) force RMSE on the first fit's fixed test set and on each generation's own test set (meV/Å);
    (b) energy RMSE on the fixed test set (meV/atom); (c) dataset size and labels added (bars), with
    the fraction of explored atoms at γ > 1 (right axis, before and after the refit)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [g for g in generations if isinstance(g, dict)]
    gens = np.array([int(g.get("generation", i + 1)) for i, g in enumerate(rows)])
    fig = Figure(figsize=(11.5, 3.6))
    FigureCanvasAgg(fig)
    a, b, c = (fig.add_subplot(1, 3, k) for k in (1, 2, 3))

    start_f = _get(rows[:1], "fixed_test_force_rmse_start_meV_per_A")
    fixed_f = _get(rows, "fixed_test_force_rmse_meV_per_A")
    a.plot(np.r_[0, gens], np.r_[start_f, fixed_f], "o-", label="fixed test set (gen 0's)")
    a.plot(gens, _get(rows, "test_force_rmse_meV_per_A"), "s--", label="own test set")
    a.set_ylabel("force RMSE (meV/Å)")
    a.legend(fontsize=8)

    start_e = _get(rows[:1], "fixed_test_energy_rmse_start_meV_per_atom")
    b.plot(np.r_[0, gens], np.r_[start_e, _get(rows, "fixed_test_energy_rmse_meV_per_atom")], "o-",
           label="fixed test set (gen 0's)")
    b.plot(gens, _get(rows, "test_energy_rmse_meV_per_atom"), "s--", label="own test set")
    b.set_ylabel("energy RMSE (meV/atom)")
    b.legend(fontsize=8)

    size = _get(rows, "dataset_size")
    added = _get(rows, "labelled")
    c.bar(gens, size - np.nan_to_num(added), color="0.75", label="dataset before")
    c.bar(gens, np.nan_to_num(added), bottom=size - np.nan_to_num(added), color="C2", label="labels added")
    c.set_ylabel("structures")
    c2 = c.twinx()
    c2.plot(gens, 100 * _get(rows, "explore_gamma", "frac_gt_1"), "kv-", ms=5, label="γ>1, explored")
    c2.plot(gens, 100 * _get(rows, "reassess_gamma", "frac_gt_1"), "r^:", ms=5, label="γ>1, same frames refitted")
    c2.set_ylabel("atoms with γ > 1 (%)")
    h1, l1 = c.get_legend_handles_labels()
    h2, l2 = c2.get_legend_handles_labels()
    c.legend(h1 + h2, l1 + l2, fontsize=7, loc="lower left")
    for ax in (a, b, c):
        ax.set_xlabel("generation")
        ax.set_xticks(np.r_[0, gens] if ax is not c else gens)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return Path(path)
