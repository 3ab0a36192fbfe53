"""Figure of the dataset store: what was labelled, per structure kind, phase and origin."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def plot_composition(rows: list[dict], path, dpi: int = 120) -> Path:
    """Two panels from :meth:`DatasetStore.composition` rows: structures per kind, stacked by origin
    (first-generation sampling, then each active-learning generation), and atoms per phase.

    Written to a temporary file and renamed, so concurrent labelling jobs never leave a torn PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    kinds = sorted({r["kind"] for r in rows})
    origins = sorted({r["origin"] for r in rows}, key=lambda o: (o != "sampling", o))
    phases = sorted({r["phase"] or "(none)" for r in rows})
    fig = Figure(figsize=(11.0, max(3.6, 0.22 * len(phases) + 1.2)))
    FigureCanvasAgg(fig)
    a, b = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    left = np.zeros(len(kinds))
    for i, o in enumerate(origins):
        n = np.array([sum(r["structures"] for r in rows if r["kind"] == k and r["origin"] == o) for k in kinds])
        a.barh(kinds, n, left=left, color=f"C{i}", label=o)
        left += n
    for y, total in enumerate(left):
        a.text(total, y, f" {int(total)}", va="center", fontsize=8)
    a.set_xlim(0, max(1.0, left.max()) * 1.12)
    a.set_xlabel("structures")
    a.set_title(f"{int(left.sum())} labelled structures", fontsize=10)
    a.legend(fontsize=8, title="origin", title_fontsize=8)
    atoms = np.array([sum(r["atoms"] for r in rows if (r["phase"] or "(none)") == p) for p in phases])
    b.barh(phases, atoms, color="0.55")
    b.set_xlabel("atoms")
    b.set_title(f"{int(atoms.sum())} atoms, per phase / interface", fontsize=10)
    b.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.png")
    fig.savefig(tmp, dpi=dpi)
    os.replace(tmp, path)
    return path
