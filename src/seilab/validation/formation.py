"""Formation energies, convex hull and tie-line products of the model vs the reference (the chemistry gate).

The reaction products at the interface are decided by energy differences of ~10 meV/atom (the kinks of
the Li–Li7P3S11 tie line lie at −0.739, −0.734, −0.723 eV/atom), so a potential that drives the
interface MD must reproduce them. For every phase the chemistry stage relaxed with the reference,
the model's energy is evaluated *at the reference-relaxed structure* (a single point, no model
relaxation: the comparison is of energies, not of geometries), and the chemistry stage's own
pymatgen pipeline (:mod:`seilab.chemistry.reaction`) builds the model's phase diagram and tie-line
kinks from them. The model's energies carry the per-element offsets of its reference energies
(``E − Σ e_el``); formation energies and hull distances are invariant to such offsets.

Checks (group ``formation``):

* ``formation_energy:<phase>``: |E_f(model) − E_f(reference)| ≤ ``max_formation_energy_error_meV_per_atom``;
* ``hull_stable_set``: the set of phases on the model's hull equals the reference's. Its message names
  each phase that differs with its *reference stability margin* (pymatgen's phase-separation energy:
  how far below the hull of the other phases a stable phase lies, or its energy above the hull): a
  phase on the reference hull by 4 meV/atom is lost by a model whose relative errors reach 4 meV/atom,
  well inside the formation-energy tolerance. ``results["phases"][p]["reference_hull_margin_meV_per_atom"]``
  holds the margin of every phase (``model_hull_margin_meV_per_atom`` the model's);
* ``tie_line_products``: the products at every kink of the anode–electrolyte tie line, in order,
  equal the reference's (``chemistry/reaction.json``).
"""

from __future__ import annotations

import numpy as np

from seilab.errors import SeilabError


def formation_group(model_calc, relaxed: dict, reference: dict, anode_formula: str, electrolyte_formula: str,
                    settings) -> tuple[list, dict]:
    """(checks, results) comparing the model's chemistry with the reference's ``reaction.json``."""
    from seilab.chemistry.reaction import hull_table, interface_kinks, make_entries, phase_diagram
    from seilab.validation.report import check, fail

    energies = {}
    for name, atoms in relaxed.items():
        a = atoms.copy()
        a.calc = model_calc
        try:
            e = float(a.get_potential_energy())
        except Exception as exc:  # a model that cannot evaluate a phase fails that phase's check
            e = float("nan")
            energies[name] = (atoms.get_chemical_formula(), e, f"{type(exc).__name__}: {exc}")
            continue
        energies[name] = (atoms.get_chemical_formula(), e, None)
    bad = {n: err or "non-finite energy" for n, (_, e, err) in energies.items() if err or not np.isfinite(e)}
    ref_rows = {r["phase"]: r for r in reference["hull"]}
    checks: list[dict] = []
    if bad:
        for n, why in bad.items():
            checks.append(fail(f"formation_energy:{n}", "formation", f"model energy failed: {why}"))
        return checks, {"error": f"model energies failed for {sorted(bad)}"}
    pd = phase_diagram(make_entries({n: (f, e) for n, (f, e, _) in energies.items()}))
    model_rows = {r["phase"]: r for r in hull_table(pd)}
    kinks = interface_kinks(pd, anode_formula, electrolyte_formula)
    tol = settings.max_formation_energy_error_meV_per_atom
    per_phase = {}
    for name in sorted(model_rows, key=lambda n: ref_rows.get(n, {}).get("formation_energy_eV_per_atom", 0.0)):
        if name not in ref_rows:
            continue
        ef_mod = model_rows[name]["formation_energy_eV_per_atom"]
        ef_ref = ref_rows[name]["formation_energy_eV_per_atom"]
        err = 1000.0 * (ef_mod - ef_ref)
        per_phase[name] = {"formation_energy_model_eV_per_atom": ef_mod, "formation_energy_reference_eV_per_atom": ef_ref,
                           "error_meV_per_atom": err,
                           "e_above_hull_model_eV_per_atom": model_rows[name]["e_above_hull_eV_per_atom"],
                           "e_above_hull_reference_eV_per_atom": ref_rows[name]["e_above_hull_eV_per_atom"]}
        checks.append(check(f"formation_energy:{name}", "formation", abs(err), tol, "<=",
                            f"|ΔE_f| meV/atom (model {ef_mod:.4f}, ref {ef_ref:.4f} eV/atom)"))
    margins = reference_margins(reference["hull"])
    model_margins = hull_margins(pd)
    for name, row in per_phase.items():
        row["reference_hull_margin_meV_per_atom"] = margins.get(name)
        row["model_hull_margin_meV_per_atom"] = model_margins.get(name)
    stable_ref = sorted(r["phase"] for r in reference["hull"] if r["stable"])
    stable_mod = sorted(n for n, r in model_rows.items() if r["stable"])
    hull = _equal("hull_stable_set", stable_mod, stable_ref, "phases on the hull")
    if not hull["passed"]:
        notes = []
        for name in sorted(set(stable_mod) ^ set(stable_ref)):
            m = margins.get(name)
            where = "on" if name in stable_ref else "off"
            e_mod = 1000.0 * model_rows[name]["e_above_hull_eV_per_atom"] if name in model_rows else float("nan")
            notes.append(f"{name}: {where} the reference hull by {m:.1f} meV/atom, {e_mod:.1f} meV/atom above the "
                         "model's" if m is not None else f"{name}: {where} the reference hull")
        hull["message"] += "; " + "; ".join(notes)
    checks.append(hull)
    prod_ref = [list(k["products"]) for k in reference["kinks"]]
    prod_mod = [list(k["products"]) for k in kinks]
    checks.append(_equal("tie_line_products", prod_mod, prod_ref, "products at each tie-line kink"))
    results = {"phases": per_phase, "stable_model": stable_mod, "stable_reference": stable_ref,
               "kinks_model": [{"x_anode": k["x_anode"], "reaction_energy_eV_per_atom": k["reaction_energy_eV_per_atom"],
                                "products": k["products"]} for k in kinks],
               "kinks_reference": [{"x_anode": k["x_anode"], "reaction_energy_eV_per_atom": k["reaction_energy_eV_per_atom"],
                                    "products": k["products"]} for k in reference["kinks"]],
               "method": "model single points at the reference-relaxed structures"}
    return checks, results


def reference_margins(hull_rows: list[dict]) -> dict[str, float]:
    """Stability margin of each phase of the reference hull (meV/atom): for a stable phase, how far it lies
    below the hull of the other phases (pymatgen ``get_phase_separation_energy``, sign dropped); for an
    unstable one, its energy above the hull. Elements: 0."""
    from pymatgen.core import Composition

    from seilab.chemistry.reaction import make_entries, phase_diagram

    try:
        pd = phase_diagram(make_entries({r["phase"]: (r["formula"], r["energy_per_atom_eV"]
                                                      * Composition(r["formula"]).num_atoms) for r in hull_rows}))
    except (KeyError, TypeError, SeilabError):  # an old reaction.json without energies: no margins, the check runs
        return {}
    return hull_margins(pd)


def hull_margins(pd) -> dict[str, float]:
    """|phase-separation energy| (meV/atom) of every entry of a pymatgen phase diagram, by entry id."""
    return {e.entry_id: abs(1000.0 * float(pd.get_phase_separation_energy(e))) for e in pd.all_entries}


def _equal(name: str, model, reference, what: str) -> dict:
    ok = model == reference
    msg = f"{what}: model = reference" if ok else f"{what}: model {model} != reference {reference}"
    return {"name": name, "group": "formation", "passed": ok, "value": None, "threshold": None, "message": msg}


def plot_formation(results: dict, path) -> None:
    """Model vs reference formation energies (parity) and the two tie lines' kinks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results.get("phases") or {}
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.0, 3.8))
    ref = np.array([r["formation_energy_reference_eV_per_atom"] for r in rows.values()])
    mod = np.array([r["formation_energy_model_eV_per_atom"] for r in rows.values()])
    if len(ref):
        lim = [min(ref.min(), mod.min()) - 0.05, max(ref.max(), mod.max()) + 0.05]
        a1.plot(lim, lim, "k-", lw=0.8)
        a1.plot(ref, mod, "o", color="tab:red", ms=4)
        for n, x, y in zip(rows, ref, mod):
            a1.annotate(n, (x, y), fontsize=6, xytext=(3, -6), textcoords="offset points")
        worst = max(abs(r["error_meV_per_atom"]) for r in rows.values())
        a1.set_title(f"formation energies (max |error| {worst:.0f} meV/atom)", fontsize=9)
    a1.set_xlabel("reference E_f (eV/atom)")
    a1.set_ylabel("model E_f (eV/atom)")
    for key, style, label in (("kinks_reference", "k-o", "reference"), ("kinks_model", "r--s", "model")):
        ks = results.get(key) or []
        a2.plot([k["x_anode"] for k in ks], [k["reaction_energy_eV_per_atom"] for k in ks], style, ms=3, lw=1,
                label=label)
    a2.set_xlabel("anode atom fraction x")
    a2.set_ylabel("reaction energy (eV/atom)")
    a2.set_title("tie line anode–electrolyte", fontsize=9)
    a2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
