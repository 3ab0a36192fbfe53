"""Figures of the transport analysis (matplotlib, Agg canvas, no pyplot global state).

* :func:`plot_correlations` — displacement cross-correlations with the fit window and the L matrix;
* :func:`plot_fluxes` — paper Figure 8: flux of each species vs host composition (fraction of
  ``x_species``), one marker per temperature, positive toward the metal;
* :func:`plot_p_coefficients` — paper Figure S9: mean |L_Pj| for j = Li, P, S per compositional
  system (Li-P, Li-P-S, Li-S) at one temperature.

Every function returns the :class:`matplotlib.figure.Figure` and saves it when ``path`` is given.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from seilab.errors import SeilabError

from .fluxes import J_UNIT, predict_fluxes
from .onsager import L_UNIT, OnsagerResult


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), constrained_layout=True)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike | None):
    if path is not None:
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150)
    return fig


def plot_correlations(result: OnsagerResult, path: str | os.PathLike | None = None):
    """Cross-correlation curves ⟨ΣΔr_i·ΣΔr_j⟩(t) with the fit window and fitted lines, and L."""
    from .onsager import KB_EV_PER_K

    fig = _figure(10, 4)
    ax, ax2 = fig.subplots(1, 2)
    t = result.lags_ps
    sp = result.species
    pref = 6 * KB_EV_PER_K * result.volume_A3 * result.temperature_K
    t0, t1 = result.fit_window_ps
    for a in range(len(sp)):
        for b in range(a, len(sp)):
            (line,) = ax.plot(t[1:], result.msd[1:, a, b], lw=1, label=f"{sp[a]}-{sp[b]}")
            tw = np.linspace(t0, t1, 20)
            # fitted slope through the curve's mean in the window
            sel = (t >= t0) & (t <= t1)
            if sel.any():
                y0 = result.msd[sel, a, b].mean() - result.L[a, b] * pref * t[sel].mean()
                ax.plot(tw, y0 + result.L[a, b] * pref * tw, ls="--", color=line.get_color(), lw=1)
    ax.axvspan(t0, t1, color="0.9", zorder=0, label=f"fit ({result.window_source})")
    ax.set_xlabel("lag time (ps)")
    ax.set_ylabel("<ΣΔr_i · ΣΔr_j> (Å²)")
    ax.set_title(f"{result.label or result.system}  {result.temperature_K:g} K")
    ax.legend(fontsize=7)
    im = ax2.imshow(result.L, cmap="RdBu_r",
                    vmin=-np.nanmax(np.abs(result.L)), vmax=np.nanmax(np.abs(result.L)))
    for a in range(len(sp)):
        for b in range(len(sp)):
            ax2.text(b, a, f"{result.L[a, b]:.2e}\n±{result.L_err[a, b]:.1e}", ha="center",
                     va="center", fontsize=7)
    ax2.set_xticks(range(len(sp)), sp)
    ax2.set_yticks(range(len(sp)), sp)
    ax2.set_title(f"L ({L_UNIT})", fontsize=9)
    fig.colorbar(im, ax=ax2)
    return _save(fig, path)


def _species_order(results: Sequence[OnsagerResult], species: Sequence[str] | None) -> list[str]:
    if species is not None:
        return list(species)
    present = {s for r in results for s, c in zip(r.species, r.counts) if c > 0}
    first = [s for s in ("Li", "S", "P") if s in present]  # the paper's panel order
    return first + sorted(present - set(first))


def plot_fluxes(results: Sequence[OnsagerResult], grad_mu: Mapping[str, float],
                path: str | os.PathLike | None = None, x_species: str = "Li",
                species: Sequence[str] | None = None):
    """Figure 8: J of each species (one panel each) vs the atomic fraction of ``x_species``.

    Fluxes are computed with :func:`~seilab.transport.fluxes.predict_fluxes`
    (1/(Å²·ps), positive toward the metal, errors from the block samples); one marker/colour per
    temperature; the reference frame (barycentric, Σ m_i J_i = 0, unless the drift was kept) is in the title.
    """
    results = list(results)
    if not results:
        raise SeilabError("results: nothing to plot")
    order = _species_order(results, species)
    temps = sorted({r.temperature_K for r in results})
    fig = _figure(3.6 * len(order), 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(order), squeeze=False)[0])
    markers = "osD^v<>"
    fluxes = [predict_fluxes(r, grad_mu) for r in results]
    for ax, s in zip(axes, order):
        for k, T in enumerate(temps):
            xs, ys, es = [], [], []
            for r, f in zip(results, fluxes):
                if r.temperature_K != T or s not in f.species:
                    continue
                i = f.species.index(s)
                if r.counts[i] == 0:
                    continue
                xs.append(r.composition.get(x_species, 0.0))
                ys.append(f.J[i])
                es.append(f.J_err[i])
            if xs:
                o = np.argsort(xs)
                ax.errorbar(np.array(xs)[o], np.array(ys)[o], yerr=np.nan_to_num(np.array(es)[o]),
                            marker=markers[k % len(markers)], ls="", capsize=2, label=f"{T:g} K")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xlabel(f"{x_species} fraction of host")
        ax.set_ylabel(f"J_{s} ({J_UNIT})")
        ax.set_title(f"{s} (+: toward metal)")
        ax.legend(fontsize=7)
    frames = sorted({f.frame for f in fluxes})
    fig.suptitle(f"frame: {'; '.join(frames)}; error bars 1 sigma (block samples)", fontsize=8)
    return _save(fig, path)


def p_coefficient_table(results: Sequence[OnsagerResult], center: str = "P",
                        partners: Sequence[str] = ("Li", "P", "S"),
                        temperature_K: float | None = 900.0) -> dict[str, dict[str, tuple[float, float, int]]]:
    """system → partner → (mean |L_center,partner|, standard error, number of phases).

    Only results at ``temperature_K`` (None: all) that contain both species are used; the
    error is the standard error over phases, or the propagated L_err for a single phase.
    """
    groups: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for r in results:
        if temperature_K is not None and abs(r.temperature_K - temperature_K) > 1e-6:
            continue
        present = {s for s, c in zip(r.species, r.counts) if c > 0}
        if center not in present:
            groups.setdefault(r.system, {})
            continue
        for p in partners:
            if p in present:
                v, e = r.coefficient(center, p)
                groups.setdefault(r.system, {}).setdefault(p, []).append((abs(v), e))
    table: dict[str, dict[str, tuple[float, float, int]]] = {}
    for sysname, by_p in groups.items():
        table[sysname] = {}
        for p, vals in by_p.items():
            a = np.array(vals)
            if len(a) > 1:
                err = float(a[:, 0].std(ddof=1) / np.sqrt(len(a)))
            else:
                err = float(a[0, 1])
            table[sysname][p] = (float(a[:, 0].mean()), err, len(a))
    return table


def plot_p_coefficients(results: Sequence[OnsagerResult], path: str | os.PathLike | None = None,
                        center: str = "P", partners: Sequence[str] = ("Li", "P", "S"),
                        temperature_K: float | None = 900.0):
    """Figure S9: mean |L_Pj| (j in ``partners``) per compositional system, bars with errors.

    Systems without ``center`` (e.g. Li-S for P) are shown as empty groups labelled "no P".
    """
    table = p_coefficient_table(results, center, partners, temperature_K)
    if not table:
        raise SeilabError(f"results: none at temperature_K={temperature_K}")
    systems = sorted(table, key=lambda s: (len(s.split("-")), s))
    fig = _figure(1.6 + 1.6 * len(systems), 3.6)
    ax = fig.subplots()
    width = 0.8 / len(partners)
    for k, p in enumerate(partners):
        xs, ys, es = [], [], []
        for i, sysname in enumerate(systems):
            if p in table[sysname]:
                m, e, _ = table[sysname][p]
                xs.append(i + (k - (len(partners) - 1) / 2) * width)
                ys.append(m)
                es.append(0.0 if not np.isfinite(e) else e)
        ax.bar(xs, ys, width=width, yerr=es, capsize=2, label=f"|L_{center}{p}|")
    for i, sysname in enumerate(systems):
        if not table[sysname]:
            ax.text(i, 0.03, f"no {center}", ha="center", va="bottom", fontsize=8,
                    transform=ax.get_xaxis_transform())
    ax.set_xticks(range(len(systems)), systems)
    heights = [v[0] for t in table.values() for v in t.values()]
    if heights and all(h > 0 for h in heights):
        ax.set_yscale("log")
    ax.set_ylabel(f"mean |L| ({L_UNIT})")
    ax.set_title(f"{center} cross-correlations" + (f", {temperature_K:g} K" if temperature_K else ""))
    ax.legend(fontsize=7)
    return _save(fig, path)
