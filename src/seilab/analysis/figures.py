"""Figures of the analysis (matplotlib, Agg; no pyplot state): thickness with the regime fit,
flux, coordination heat maps (z vs time, Figure 9 style), phase map, layer schematic, nanocrystals,
interface snapshots (side views of the first and last analysed frames).

Colours per element and per phase come from :mod:`seilab.palette` (the report's 3-D view uses the same).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seilab.palette import element_color, phase_colors

__all__ = [
    "write_figures",
    "plot_thickness",
    "plot_flux",
    "plot_coordination",
    "plot_phase_map",
    "plot_layers",
    "plot_nanocrystals",
    "plot_snapshots",
]

def _fig(w=6.4, h=4.2):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h))
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path, dpi: int) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path


def plot_thickness(result, path, dpi=120) -> Path:
    g = result.growth
    fig = _fig()
    ax = fig.add_subplot(111)
    t = g.times_ps
    pos = t > 0
    for y, lab, c in (
        (g.thickness_A, "total", "k"),
        (g.growth_metal_A, "into metal", "C0"),
        (g.growth_electrolyte_A, "into electrolyte", "C3"),
    ):
        ax.plot(t[pos], y[pos], "o", ms=3, color=c, label=lab)
    fit = g.fit_total
    if fit is not None:  # draw only what the fit supports (its verdict, analysis.growth)
        tt = np.geomspace(t[pos].min(), t[pos].max(), 200)
        if fit.verdict == "two regimes":
            ax.plot(tt, fit.predict(tt), "-", color="k", lw=1.2,
                    label=f"two regimes: n = {fit.fast.exponent:.2f} ± {fit.fast.exponent_err:.2f} | "
                          f"{fit.slow.exponent:.2f} ± {fit.slow.exponent_err:.2f}")
            lo, hi = fit.crossover_interval_ps
            ax.axvspan(lo, hi, color="gray", alpha=0.15, lw=0)
            ax.axvline(fit.crossover_time_ps, ls="--", color="gray", lw=1)
            ax.text(fit.crossover_time_ps, np.nanmax(g.thickness_A[pos]) * 0.5,
                    f" t_c = {fit.crossover_time_ps:.3g} ps", color="gray", fontsize=8)
        else:
            ax.plot(tt, fit.single(tt), "-" if fit.verdict == "one regime" else ":", color="k", lw=1.2,
                    label=f"{fit.verdict}: n = {fit.single.exponent:.2f} ± {fit.single.exponent_err:.2f}")
    if np.any(pos) and np.nanmax(g.thickness_A[pos]) > 0:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("interphase thickness (Å)")
    ax.legend(fontsize=8)
    return _save(fig, path, dpi)


def plot_flux(result, path, dpi=120) -> Path:
    f = result.flux
    fig = _fig(6.4, 5.4)
    a1 = fig.add_subplot(211)
    a2 = fig.add_subplot(212, sharex=a1)
    if f.times:
        for k, sp in enumerate(f.species):
            a1.plot(f.flux_times_ps, f.flux[:, k], "-", lw=1, label=sp)
            a2.plot(f.times_ps, f.net_per_area[:, k], "-", lw=1, label=sp)
    for a in (a1, a2):
        a.axhline(0, color="k", lw=0.6)
    a1.set_ylabel("net flux (nm⁻² ps⁻¹)")
    a2.set_ylabel("net transfer (nm⁻²)")
    a2.set_xlabel("time (ps)")
    a1.legend(fontsize=8, title="+ = toward metal", title_fontsize=7)
    return _save(fig, path, dpi)


def _time_edges(t):
    t = np.asarray(t, float)
    if t.size == 1:
        return np.array([t[0] - 0.5, t[0] + 0.5])
    mid = 0.5 * (t[1:] + t[:-1])
    return np.concatenate([[t[0] - (mid[0] - t[0])], mid, [t[-1] + (t[-1] - mid[-1])]])


def plot_coordination(result, path, dpi=120) -> Path:
    pairs = list(result.coordination)
    n = max(1, len(pairs))
    ncol = 2 if n > 1 else 1
    nrow = int(np.ceil(n / ncol))
    fig = _fig(5.0 * ncol, 3.4 * nrow)
    te = _time_edges(result.coordination_times_ps)
    ze = result.bin_edges_A / 10.0
    for k, p in enumerate(pairs):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        m = np.asarray(result.coordination[p], float)
        if m.size:
            im = ax.pcolormesh(te, ze, np.ma.masked_invalid(m.T), cmap="viridis", shading="flat")
            fig.colorbar(im, ax=ax, label=f"CN {p}")
        fit = result.growth
        if fit.growth_metal_A.size:
            ax.plot(result.times_ps, fit.growth_metal_A / 10.0, "w--", lw=0.8)
        ax.set_title(f"{p} (cutoff {result.cutoffs_A.get(p, float('nan')):.2f} Å)", fontsize=9)
        ax.set_xlabel("time (ps)")
        ax.set_ylabel("z (nm), + = metal")
    return _save(fig, path, dpi)


def plot_phase_map(result, path, dpi=120) -> Path:
    from matplotlib.colors import ListedColormap

    colors = phase_colors(result.phase_names)  # vacuum first, then the phases (seilab.palette)
    names = ["vacuum"] + list(result.phase_names)  # label + 1
    cmap = ListedColormap([colors[n] for n in names])
    fig = _fig(7.0, 4.4)
    ax = fig.add_subplot(111)
    lab = np.asarray(result.phase_labels, int) + 1
    if lab.size:
        te = _time_edges(result.structure_times_ps)
        im = ax.pcolormesh(
            te, result.bin_edges_A / 10.0, lab.T, cmap=cmap, vmin=-0.5, vmax=len(names) - 0.5, shading="flat"
        )
        cb = fig.colorbar(im, ax=ax, ticks=range(len(names)))
        cb.ax.set_yticklabels(names, fontsize=7)
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("z (nm), + = metal")
    ax.set_title("nearest reference phase per z bin", fontsize=9)
    return _save(fig, path, dpi)


def plot_layers(result, path, dpi=120) -> Path:
    from matplotlib.patches import Rectangle

    colors = phase_colors(result.phase_names)
    fig = _fig(4.2, 6.0)
    ax = fig.add_subplot(111)
    for L in result.layers:
        c = colors.get(L.phase, "w")
        ax.add_patch(Rectangle((0, L.z_bottom_A / 10.0), 1, L.thickness_A / 10.0, facecolor=c, edgecolor="k", lw=0.6))
        ax.text(
            0.5,
            (L.z_bottom_A + L.z_top_A) / 20.0,
            f"{L.phase}\n{L.thickness_A / 10:.1f} nm",
            ha="center",
            va="center",
            fontsize=7,
        )
    if result.layers:
        ax.set_ylim(result.layers[-1].z_bottom_A / 10.0, result.layers[0].z_top_A / 10.0)
    ax.axhline(0, ls="--", color="gray", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_xticks([])
    ax.set_ylabel("z (nm): metal (top) → electrolyte (bottom)")
    t = result.structure_times_ps[-1] if len(result.structure_times_ps) else float("nan")
    ax.set_title(f"layer sequence at t = {t:.3g} ps", fontsize=9)
    return _save(fig, path, dpi)


def plot_nanocrystals(result, path, dpi=120) -> Path:
    fig = _fig(6.4, 4.0)
    a1 = fig.add_subplot(111)
    nc = result.nanocrystals
    if nc:
        t = np.array([x.time_ps for x in nc])
        a1.plot(t, [x.domain_sizes.size for x in nc], "o-", ms=3, label="domains")
        a2 = a1.twinx()
        a2.plot(
            t,
            [x.domain_radius_A.max() / 10.0 if x.domain_radius_A.size else np.nan for x in nc],
            "s-",
            ms=3,
            color="C1",
            label="largest radius",
        )
        a2.set_ylabel("largest domain radius (nm)", color="C1")
    a1.set_xlabel("time (ps)")
    a1.set_ylabel("crystalline Li2S domains")
    return _save(fig, path, dpi)


def plot_snapshots(frames, path, dpi=120, max_atoms: int = 200_000) -> Path:
    """Side views (x horizontal, z vertical) of ``frames`` (e.g. the first and last), one panel each.

    Atoms are drawn back to front along y (a depth-sorted scatter, one call per panel), coloured by
    element, each panel at equal aspect. Above ``max_atoms`` a random subset is drawn (the figure would
    be a solid block anyway)."""
    frames = [f for f in frames if f is not None]
    fig = _fig(3.2 * max(1, len(frames)) + 0.8, 6.0)
    rng = np.random.default_rng(0)
    species = sorted({str(x) for f in frames for x in np.unique(f.symbols)})
    colors = {el: element_color(el) for el in species}
    for k, fr in enumerate(frames):
        ax = fig.add_subplot(1, len(frames), k + 1)
        pos = np.asarray(fr.positions, dtype=float)
        sym = np.asarray(fr.symbols).astype(str)
        idx = np.argsort(pos[:, 1])  # far (small y) first, near atoms drawn on top
        if idx.size > max_atoms:
            idx = np.sort(rng.choice(idx, max_atoms, replace=False))
            idx = idx[np.argsort(pos[idx, 1])]
        size = 2.0e4 / max(len(pos), 1) ** 0.75
        ax.scatter(pos[idx, 0], pos[idx, 2], c=[colors[x] for x in sym[idx]], s=size, edgecolors="k",
                   linewidths=0.15, rasterized=True)
        ax.set_aspect("equal")
        ax.set_xlabel("x (Å)")
        if k == 0:
            ax.set_ylabel("z (Å)")
        ax.set_title(f"t = {fr.time_ps:.3g} ps ({len(pos)} atoms)", fontsize=9)
    if frames:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], ls="", marker="o", color=colors[el], markeredgecolor="k", label=el)
                   for el in species]
        fig.legend(handles=handles, loc="lower center", fontsize=8, ncol=len(species), frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=dpi)
    return Path(path)


def write_figures(result, out_dir, dpi: int = 120, snapshots=None) -> dict[str, Path]:
    """Write all figures into ``out_dir``; returns {name: path}.

    ``snapshots``: frames (e.g. first and last) drawn side by side into ``snapshots.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = {
        "thickness": plot_thickness,
        "flux": plot_flux,
        "coordination": plot_coordination,
        "phase_map": plot_phase_map,
        "layers": plot_layers,
        "nanocrystals": plot_nanocrystals,
    }
    written = {name: fn(result, out / f"{name}.png", dpi) for name, fn in jobs.items()}
    if snapshots:
        written["snapshots"] = plot_snapshots(snapshots, out / "snapshots.png", dpi)
    return written
