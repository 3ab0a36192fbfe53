"""Stability screening: NVT and NpT MD of interfaces and amorphous phases with the model.

The start structures are often snapshots of hot (900-1500 K) MD or amorphisation runs, so each run
is prepared first (:func:`equilibrate`): the positions are minimised with the model at fixed cell
(FIRE, at most ``stability_minimize_steps`` steps, down to ``stability_minimize_fmax_eV_per_A``),
then ``stability_md.equilibration_steps`` of NVT at the target temperature from a fresh
Maxwell–Boltzmann draw. Only a blow-up there fails the run (non-finite numbers, atoms closer than
``min_distance_A``; the message says it happened during equilibration); the temperature cap is not
applied there, so releasing the start structure's excess energy is not counted against the model.
The judged production run (``stability_md.steps``, new Maxwell–Boltzmann velocities at the target
temperature) starts from the equilibrated structure, which is also the reference state of the void
and composition checks. What was done is recorded in the run's numbers (``minimize_*``,
``equilibration_*``).

Failure modes flagged for each production run (each is one check in the report):

* **exploded** — NaN / non-finite numbers, temperature above ``max_temperature_factor`` × target,
  atoms closer than ``min_distance_A``, or (NpT) a volume change beyond ``max_volume_change``;
* **voids** — the largest empty sphere (grid distance transform: distance from each point of a grid
  of spacing ``void_grid_A`` to the nearest atom, periodic images included) at the end of the run is
  larger than ``max_void_radius_A`` *and* grew by more than ``max_void_growth_A`` from the start
  (so a designed vacuum gap is not flagged unless it opens further);
* **phase separation** — the spread (std across spatial bins of ~``phase_bin_A`` Å) of any element's
  atom fraction, averaged over the last third of the run, exceeds its value in the starting
  structure by more than ``max_composition_std_increase``.
"""

from __future__ import annotations

import itertools

import numpy as np


def _perp_widths(cell) -> np.ndarray:
    vol = abs(np.linalg.det(cell))
    return np.array([vol / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)])


def empty_sphere_field(atoms, grid_A: float = 0.5):
    """(distances to the nearest atom on a fractional grid, grid points in Å)."""
    # kept (cKDTree over explicit images): freud's AABBQuery (num_neighbors=1) gives the same field to
    # 2e-6 Å (float32) but took 3x longer on a 128-atom bcc Li cell, 21952 grid points (0.027 vs 0.009 s)
    from scipy.spatial import cKDTree

    cell = atoms.cell.array
    n = [max(2, int(np.ceil(np.linalg.norm(cell[k]) / grid_A))) for k in range(3)]
    frac = np.stack(np.meshgrid(*[np.arange(m) / m for m in n], indexing="ij"), -1).reshape(-1, 3)
    points = frac @ cell
    widths = _perp_widths(cell)
    reach = [int(np.ceil(6.0 / w)) if atoms.pbc[k] else 0 for k, w in enumerate(widths)]
    pos = atoms.get_positions()
    images = []
    for shift in itertools.product(*[range(-r, r + 1) for r in reach]):
        images.append(pos + np.asarray(shift) @ cell)
    tree = cKDTree(np.concatenate(images))
    d, _ = tree.query(points, k=1)
    return d, points


def largest_empty_sphere(atoms, grid_A: float = 0.5) -> float:
    d, _ = empty_sphere_field(atoms, grid_A)
    return float(d.max())


def bin_counts(atoms, bin_A: float = 5.0) -> list[int]:
    """Bins per cell vector so that each bin is about ``bin_A`` wide (at least 1)."""
    widths = _perp_widths(atoms.cell.array)
    return [max(1, int(widths[k] // bin_A)) for k in range(3)]


def composition_spread(atoms, bin_A: float = 5.0, min_atoms_per_bin: int = 4, nbins=None) -> dict | None:
    """Std across spatial bins of each element's atom fraction (bins with too few atoms are left out).

    Bins are fractions of the cell (``nbins`` per vector, default from ``bin_A``), so a run whose cell
    changes (NpT) keeps the same bins. None when fewer than two bins are usable (cell too small).
    """
    nb = list(nbins) if nbins is not None else bin_counts(atoms, bin_A)
    frac = atoms.get_scaled_positions(wrap=True)
    idx = np.minimum((frac * nb).astype(int), np.array(nb) - 1)
    flat = np.ravel_multi_index(idx.T, nb)
    sym = np.array(atoms.get_chemical_symbols())
    out = {}
    counts = np.bincount(flat, minlength=int(np.prod(nb)))
    keep = counts >= min_atoms_per_bin
    if keep.sum() < 2:
        return None
    for el in sorted(set(sym)):
        ce = np.bincount(flat[sym == el], minlength=int(np.prod(nb)))
        out[el] = float(np.std(ce[keep] / counts[keep]))
    return out


def equilibrate(atoms, calc, settings, seed: int = 0) -> tuple:
    """Minimise at fixed cell, then NVT at the target temperature (see the module docstring).

    Returns (start, numbers, failure): ``start`` is a copy of ``atoms`` (cell, constraints, info) with the
    equilibrated positions, None after a blow-up; ``failure`` is the message of that blow-up or None.
    """
    from seilab.validation.md import minimize, run_md

    s = settings
    relaxed, mini, failure = minimize(atoms, calc, steps=s.stability_minimize_steps,
                                      fmax_eV_per_A=s.stability_minimize_fmax_eV_per_A, min_distance_A=s.min_distance_A)
    numbers = {"minimize_steps_done": mini["steps_done"], "minimize_fmax_start_eV_per_A": mini["fmax_start_eV_per_A"],
               "minimize_fmax_eV_per_A": mini["fmax_eV_per_A"], "minimize_converged": mini["converged"],
               "equilibration_steps_done": 0, "equilibration_final_temperature_K": None}
    if failure:
        return None, numbers, f"exploded during equilibration (fixed-cell minimisation): {failure}"
    p = s.stability_md
    n = p.equilibration_steps
    if n > 0:
        protocol = {**p.model_dump(), "equilibration_steps": 0, "steps": n, "sample_every": min(n, p.sample_every)}
        md = run_md(relaxed, calc, ensemble="nvt", **protocol, seed=seed, max_temperature_factor=None,
                    min_distance_A=s.min_distance_A)
        numbers["equilibration_steps_done"] = md.steps_done
        numbers["equilibration_final_temperature_K"] = md.temperatures[-1] if md.temperatures else None
        if md.failure:
            where = f"NVT at {p.temperature_K:g} K"
            return None, numbers, f"exploded during equilibration ({where}): {md.failure}"
        relaxed = md.frames[-1]
    start = atoms.copy()
    start.calc = None
    start.set_positions(relaxed.get_positions(), apply_constraint=False)
    return start, numbers, None


def screen(name: str, atoms, calc, ensemble: str, settings, seed: int = 0, gamma_calc=None) -> dict:
    """Equilibration + one judged MD run + its checks: {'numbers': ..., 'checks': [...], 'series': {...}}.

    ``gamma_calc``: the model's γ calculator, evaluated on the judged run's sampled frames only
    (:func:`seilab.validation.md.run_md`)."""
    from seilab.validation.md import MDResult, run_md
    from seilab.validation.report import check

    s = settings
    start, prep, failure = equilibrate(atoms, calc, s, seed=seed)
    if failure:
        md = MDResult(failure=failure)
    else:
        atoms = start  # the judged run and its reference state (void, composition, volume) begin here
        md = run_md(atoms, calc, ensemble=ensemble, **{**s.stability_md.model_dump(), "equilibration_steps": 0},
                    seed=seed, pressure_GPa=s.stability_pressure_GPa, bulk_modulus_GPa=s.stability_bulk_modulus_GPa,
                    max_temperature_factor=s.max_temperature_factor, min_distance_A=s.min_distance_A,
                    max_volume_change=s.max_volume_change if ensemble == "npt" else None, gamma_calc=gamma_calc)
    tag = f"{name}:{ensemble}"
    checks = [{"name": f"stable:{tag}", "group": "stability", "passed": md.failure is None,
               "value": md.steps_done, "threshold": s.stability_md.steps,
               "message": md.failure or (f"{md.steps_done} steps without NaN, explosion or collapse (after "
                                         f"{prep['minimize_steps_done']} minimisation and "
                                         f"{prep['equilibration_steps_done']} equilibration steps)")}]
    r0 = largest_empty_sphere(atoms, s.void_grid_A)
    nbins = bin_counts(atoms, s.phase_bin_A)
    comp0 = composition_spread(atoms, nbins=nbins)
    spread = lambda c: max(c.values(), default=0.0) if c else None  # noqa: E731
    v0 = float(atoms.get_volume())
    series = {"step": [0] + list(md.steps), "temperature_K": [s.stability_md.temperature_K] + list(md.temperatures),
              "volume_A3": [v0] + list(md.volumes), "void_radius_A": [r0], "composition_std": [spread(comp0)],
              "failed": md.failure is not None}
    for fr in md.frames:
        series["void_radius_A"].append(largest_empty_sphere(fr, s.void_grid_A))
        series["composition_std"].append(spread(composition_spread(fr, nbins=nbins)))
    numbers = {"ensemble": ensemble, "n_atoms": len(atoms), **prep, **md.summary(), "composition_bins": nbins,
               "void_radius_start_A": r0, "composition_std_start": comp0}
    skipped = []
    if comp0 is None:
        skipped.append({"what": f"no_phase_separation:{tag}",
                        "reason": f"cell narrower than two {s.phase_bin_A} Å composition bins"})
    if md.frames and md.failure is None:
        r1 = series["void_radius_A"][-1]
        void = r1 > s.max_void_radius_A and (r1 - r0) > s.max_void_growth_A
        numbers["void_radius_end_A"] = r1
        checks.append({"name": f"no_void:{tag}", "group": "stability", "passed": not void, "value": r1,
                       "threshold": {"max_void_radius_A": s.max_void_radius_A, "max_void_growth_A": s.max_void_growth_A},
                       "message": f"largest empty sphere {r0:.2f} → {r1:.2f} Å" + (" (void)" if void else "")})
        if comp0 is not None:
            tail = md.frames[-max(1, len(md.frames) // 3):]
            comp_tail = [composition_spread(fr, nbins=nbins) or {} for fr in tail]
            increase = max(float(np.mean([c.get(el, 0.0) for c in comp_tail])) - comp0[el] for el in comp0)
            numbers["composition_std_increase"] = increase
            checks.append(check(f"no_phase_separation:{tag}", "stability", increase, s.max_composition_std_increase,
                                "<=", "increase of composition std across bins"))
    else:
        for what in ("no_void",) + (("no_phase_separation",) if comp0 is not None else ()):
            checks.append({"name": f"{what}:{tag}", "group": "stability", "passed": False, "value": None,
                           "threshold": None, "message": f"not evaluated: the run failed ({md.failure})"})
    return {"numbers": numbers, "checks": checks, "series": series, "skipped": skipped}


def plot_stability(runs: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for tag, run in runs.items():
        s = run["series"]
        label = tag + (" (FAILED)" if s.get("failed") else "")
        n = len(s["void_radius_A"])
        line = axes[0].plot(s["step"], s["temperature_K"], "-o", ms=2.5, label=label, lw=1)[0]
        steps = s["step"][:n]
        axes[1].plot(steps, s["void_radius_A"], "-o", ms=2.5, lw=1, color=line.get_color())
        comp = [np.nan if c is None else c for c in s["composition_std"]]
        axes[2].plot(steps, comp, "-o", ms=2.5, lw=1, color=line.get_color())
        if s.get("failed") and len(s["step"]):
            axes[0].plot(s["step"][-1], s["temperature_K"][-1], "x", ms=9, color=line.get_color())
    axes[0].set_ylabel("T (K)")
    axes[0].set_yscale("log")
    axes[1].set_ylabel("largest empty sphere (Å)")
    axes[2].set_ylabel("max composition std across bins")
    for ax in axes:
        ax.set_xlabel("production step (after minimisation + equilibration)")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
