"""Equations of state (paper Fig. 4): Birch–Murnaghan fits of model and reference energy–volume scans.

Each crystalline phase (the reference-relaxed cell) is scaled isotropically over
``eos_volume_min``–``eos_volume_max`` × V0 with fixed fractional coordinates: the ions are **not**
relaxed at each volume (each phase's result says so, ``"ions_relaxed": False``, and so does the
figure), the same structures for model and reference. For phases with free internal coordinates the
curve is stiffer than the relaxed EOS, in the same way for model and reference. The third-order
Birch–Murnaghan form is fitted to each scan; V0, B0 (GPa) and B0' are compared. A fit that fails or
puts V0 outside the scanned range counts as a failed check.
"""

from __future__ import annotations

import numpy as np
from ase.units import GPa

from seilab.eos import birch_murnaghan, fit_birch_murnaghan_parameters

EV_PER_A3_TO_GPA = 1.0 / GPa  # 160.21766208 (ase.units, CODATA 2014)


def fit_birch_murnaghan(volumes, energies) -> dict:
    """{E0 (eV), V0 (Å³), B0_GPa, B0p, rmse_meV_per_atom?} or {'error': ...}.

    The fit is the package's one EOS fit (:func:`seilab.eos.fit_birch_murnaghan_parameters`, ``ase.eos``);
    the checks around it (finite energies, at least 5 points, a convex scan, V0 inside the scan, B0 > 0)
    are the validation's.
    """
    v = np.asarray(volumes, dtype=float)
    e = np.asarray(energies, dtype=float)
    if not (np.all(np.isfinite(e)) and len(v) >= 5):
        return {"error": "non-finite energies"}
    if np.polyfit(v, e, 2)[0] <= 0:
        return {"error": "energy-volume scan is not convex (no minimum)"}
    try:
        e0, v0, b0, bp = fit_birch_murnaghan_parameters(v, e)
    except Exception as exc:  # RuntimeError: no convergence
        return {"error": f"Birch-Murnaghan fit failed ({type(exc).__name__})"}
    resid = e - birch_murnaghan(v, e0, v0, b0, bp)
    out = {"E0_eV": e0, "V0_A3": v0, "B0_GPa": b0 * EV_PER_A3_TO_GPA,
           "B0p": bp, "fit_rmse_eV": float(np.sqrt(np.mean(resid ** 2)))}
    if not (v.min() <= v0 <= v.max()) or b0 <= 0:
        out["error"] = f"minimum outside the scanned volumes ({v.min():.1f}-{v.max():.1f} Å³) or B0 <= 0"
    return out


def scan(atoms, calc, scales) -> tuple[np.ndarray, np.ndarray]:
    """Volumes (Å³) and energies (eV) of ``atoms`` scaled isotropically by volume factors ``scales``."""
    base = atoms.copy()
    base.calc = None
    vols, ens = [], []
    for s in scales:
        a = base.copy()
        a.set_cell(base.cell.array * float(s) ** (1.0 / 3.0), scale_atoms=True)
        a.calc = calc
        try:
            e = float(a.get_potential_energy())
        except Exception:
            e = float("nan")
        vols.append(a.get_volume())
        ens.append(e)
    return np.array(vols), np.array(ens)


def equations_of_state(model_calc, ref_calc, phases: dict, settings, ref_cache=None, progress=None) -> dict:
    from seilab.reference.store import structure_hash
    from seilab.validation.report import check, fail

    scales = np.linspace(settings.eos_volume_min, settings.eos_volume_max, settings.eos_points)
    results, checks = {}, []
    for name, atoms in phases.items():
        n = len(atoms)
        key = {"kind": "eos", "structure": structure_hash(atoms), "scales": scales.round(6).tolist()}
        cached = ref_cache.get(key) if ref_cache is not None else None
        if cached is None:
            if progress:
                progress(f"eos: reference {name} ({n} atoms, {len(scales)} volumes)")
            v, e_ref = scan(atoms, ref_calc, scales)
            if ref_cache is not None:
                ref_cache.put(key, {"volumes": v, "energies": e_ref})
        else:
            v, e_ref = np.asarray(cached["volumes"]), np.asarray(cached["energies"])
        _, e_mod = scan(atoms, model_calc, scales)
        fit_ref = fit_birch_murnaghan(v / n, e_ref / n)
        fit_mod = fit_birch_murnaghan(v / n, e_mod / n)
        results[name] = {"n_atoms": n, "volume_per_atom_A3": v / n, "reference_eV_per_atom": e_ref / n,
                         "model_eV_per_atom": e_mod / n, "reference": fit_ref, "model": fit_mod,
                         "ions_relaxed": False}
        if "error" in fit_ref:
            checks.append(fail(f"eos:{name}", "eos", f"reference EOS unusable: {fit_ref['error']}"))
            continue
        if "error" in fit_mod:
            checks.append(fail(f"eos_v0:{name}", "eos", f"model EOS: {fit_mod['error']}"))
            checks.append(fail(f"eos_b0:{name}", "eos", f"model EOS: {fit_mod['error']}"))
            continue
        dv = abs(fit_mod["V0_A3"] / fit_ref["V0_A3"] - 1.0)
        db = abs(fit_mod["B0_GPa"] / fit_ref["B0_GPa"] - 1.0)
        results[name].update(v0_rel_error=dv, b0_rel_error=db)
        checks.append(check(f"eos_v0:{name}", "eos", dv, settings.max_eos_v0_rel_error, "<=",
                            f"|V0 model/ref - 1| (model {fit_mod['V0_A3']:.2f}, ref {fit_ref['V0_A3']:.2f} Å³/atom)"))
        checks.append(check(f"eos_b0:{name}", "eos", db, settings.max_eos_b0_rel_error, "<=",
                            f"|B0 model/ref - 1| (model {fit_mod['B0_GPa']:.1f}, ref {fit_ref['B0_GPa']:.1f} GPa)"))
    return {"phases": results, "checks": checks}


def plot_eos(results: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    ncol = min(3, len(names))
    nrow = int(np.ceil(len(names) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.0 * ncol, 3.2 * nrow), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        r = results[name]
        v = np.asarray(r["volume_per_atom_A3"])
        vv = np.linspace(v.min(), v.max(), 200)
        for lab, key, fit, style in (("reference", "reference_eV_per_atom", r["reference"], "k"),
                                     ("model", "model_eV_per_atom", r["model"], "tab:red")):
            e = np.asarray(r[key], dtype=float)
            ok = "error" not in fit and "V0_A3" in fit
            shift = fit["E0_eV"] if ok else (np.nanmin(e) if np.isfinite(e).any() else 0.0)
            ax.plot(v, e - shift, "o", color=style, ms=3)
            if ok:
                ax.plot(vv, birch_murnaghan(vv, 0.0, fit["V0_A3"], fit["B0_GPa"] / EV_PER_A3_TO_GPA, fit["B0p"]),
                        "-", color=style, lw=1,
                        label=f"{lab}: V0 {fit['V0_A3']:.2f}, B0 {fit['B0_GPa']:.0f} GPa")
            else:
                ax.plot([], [], color=style, label=f"{lab}: {fit.get('error', 'fit failed')[:40]}")
        ax.set_title(f"{name}\nfixed fractional coordinates (ions not relaxed)", fontsize=8)
        ax.set_xlabel("V (Å³/atom)")
        ax.set_ylabel("E − E0 (eV/atom)")
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
