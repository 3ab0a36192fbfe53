"""Phase diagram, interface reaction and chemical-potential distance from reference energies.

Built on pymatgen: ``PhaseDiagram`` from the relaxed phases' total energies,
``InterfacialReactivity`` along the anode–electrolyte tie line (each kink: mixing ratio, reaction
energy, products), and ``ChemicalPotentialDiagram`` for the distance between the two reactants'
stability domains in μ space — the driving force ∇μ used by the transport stage.
"""

from __future__ import annotations

import numpy as np

from seilab.errors import SeilabError


def make_entries(energies: dict[str, tuple[str, float]]):
    """``{phase_name: (formula, total_energy_eV)}`` → pymatgen ComputedEntry list (entry_id = name)."""
    from pymatgen.entries.computed_entries import ComputedEntry

    return [ComputedEntry(formula, energy, entry_id=name) for name, (formula, energy) in energies.items()]


def phase_diagram(entries):
    from pymatgen.analysis.phase_diagram import PhaseDiagram

    elements = sorted({el for e in entries for el in e.composition.elements})
    have = {e.composition.elements[0] for e in entries if e.composition.is_element}
    missing = [str(el) for el in elements if el not in have]
    if missing:
        raise SeilabError(f"phases: the phase diagram needs an elemental phase for {', '.join(missing)}")
    return PhaseDiagram(entries)


def hull_table(pd) -> list[dict]:
    """Each phase: formation energy and energy above hull (eV/atom), stable or not."""
    rows = []
    for e in pd.all_entries:
        rows.append({
            "phase": e.entry_id, "formula": e.composition.reduced_formula,
            "energy_per_atom_eV": e.energy_per_atom,
            "formation_energy_eV_per_atom": pd.get_form_energy_per_atom(e),
            "e_above_hull_eV_per_atom": pd.get_e_above_hull(e),
        })
    for r in rows:
        r["stable"] = r["e_above_hull_eV_per_atom"] < 1e-8
    return sorted(rows, key=lambda r: r["formation_energy_eV_per_atom"])


def _name_of(pd, composition) -> str:
    """Campaign phase name of the stable entry with this composition (else its formula)."""
    red = composition.reduced_formula
    for e in pd.stable_entries:
        if e.composition.reduced_formula == red:
            return e.entry_id or red
    return red


def interface_kinks(pd, anode_formula: str, electrolyte_formula: str) -> list[dict]:
    """Kinks of the anode–electrolyte reaction (pymatgen ``InterfacialReactivity``).

    ``x_anode`` is the atom fraction of the anode in the mixture (the mixing ratio of
    ``InterfacialReactivity(c1=anode, c2=electrolyte, norm=True)``); ``reaction_energy_eV_per_atom``
    is per atom of mixture.
    """
    from pymatgen.analysis.interface_reactions import InterfacialReactivity
    from pymatgen.core import Composition

    ir = InterfacialReactivity(Composition(anode_formula), Composition(electrolyte_formula), pd,
                               norm=True, use_hull_energy=False)
    rows = []
    for index, x, energy, reaction, energy_kj in ir.get_kinks():
        products = [_name_of(pd, c) for c in reaction.products]
        rows.append({"index": int(index), "x_anode": float(x), "reaction_energy_eV_per_atom": float(energy),
                     "reaction_energy_kJ_per_mol": float(energy_kj), "reaction": str(reaction),
                     "products": products})
    return rows


def _formal_points(pd, cpd, formula: str) -> tuple[np.ndarray, str]:
    """Points (formal μ, eV) bounding a phase's region: its domain if stable, else its facet μ."""
    from pymatgen.core import Composition

    comp = Composition(formula)
    red = comp.reduced_formula
    if red in cpd.domains:
        return np.asarray(cpd.domains[red], dtype=float), "domain"
    chempots = pd.get_all_chempots(comp)
    refs = {el: pd.el_refs[el].energy_per_atom for el in cpd.elements}
    pts = [[mu[el] - refs[el] for el in cpd.elements] for mu in chempots.values()]
    return np.asarray(pts, dtype=float), "decomposition facet"


def convex_hull_distance(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest points of conv(a) and conv(b) (rows are vertices): solves the small QP with SLSQP."""
    from scipy.optimize import minimize

    na, nb = len(a), len(b)

    def f(w):
        d = w[:na] @ a - w[na:] @ b
        return d @ d

    def grad(w):
        d = w[:na] @ a - w[na:] @ b
        return np.concatenate([2 * a @ d, -2 * b @ d])

    w0 = np.concatenate([np.full(na, 1 / na), np.full(nb, 1 / nb)])
    cons = [{"type": "eq", "fun": lambda w: w[:na].sum() - 1}, {"type": "eq", "fun": lambda w: w[na:].sum() - 1}]
    res = minimize(f, w0, jac=grad, bounds=[(0, 1)] * (na + nb), constraints=cons, method="SLSQP",
                   options={"ftol": 1e-12, "maxiter": 500})
    w = res.x
    return w[:na] @ a, w[na:] @ b


def chempot_distance(pd, entries, anode_formula: str, electrolyte_formula: str) -> dict:
    """Distance between the two reactants in the chemical-potential diagram (formal μ, eV).

    The anode's stability domain and the electrolyte's (its domain when stable, else the μ of the
    facet it decomposes on) are convex sets in μ space; their closest points give
    ``delta_mu_eV[el] = μ_el(anode side) − μ_el(electrolyte side)`` and the Euclidean distance.
    """
    from pymatgen.analysis.chempot_diagram import ChemicalPotentialDiagram

    cpd = ChemicalPotentialDiagram(list(pd.stable_entries))
    anode_pts, anode_kind = _formal_points(pd, cpd, anode_formula)
    elec_pts, elec_kind = _formal_points(pd, cpd, electrolyte_formula)
    pa, pe = convex_hull_distance(anode_pts, elec_pts)
    els = [str(el) for el in cpd.elements]
    delta = pa - pe
    return {
        "elements": els,
        "mu_anode_eV": dict(zip(els, pa.round(6).tolist())),
        "mu_electrolyte_eV": dict(zip(els, pe.round(6).tolist())),
        "delta_mu_eV": dict(zip(els, delta.round(6).tolist())),
        "distance_eV": float(np.linalg.norm(delta)),
        "anode_region": anode_kind, "electrolyte_region": elec_kind,
        "note": "formal chemical potentials relative to the elemental phases; anode minus electrolyte",
    }


def plot_phase_diagram(pd, kinks: list[dict], anode_formula: str, electrolyte_formula: str, path) -> None:
    """Ternary (or binary) hull with the reactant tie line (red dashed) and reaction products."""
    import itertools

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pymatgen.core import Composition

    els = sorted(pd.elements, key=lambda e: e.Z)
    if len(els) != 3:
        fig, ax = plt.subplots(figsize=(5, 4))
        x = [e.composition.get_atomic_fraction(els[-1]) for e in pd.all_entries]
        y = [pd.get_form_energy_per_atom(e) for e in pd.all_entries]
        ax.scatter(x, y, c=["k" if e in pd.stable_entries else "0.6" for e in pd.all_entries])
        ax.set_xlabel(f"x({els[-1]})"), ax.set_ylabel("formation energy (eV/atom)")
        fig.savefig(path, dpi=150, bbox_inches="tight")
        plt.close(fig)
        return

    def xy(comp):
        comp = Composition(comp)
        f = [comp.get_atomic_fraction(e) for e in els]
        return np.array([f[1] + f[2] / 2, f[2] * np.sqrt(3) / 2])

    fig, ax = plt.subplots(figsize=(6.4, 5.8))
    corners = np.array([[0, 0], [1, 0], [0.5, np.sqrt(3) / 2], [0, 0]])
    ax.plot(corners[:, 0], corners[:, 1], color="k", lw=1)
    stable = {e.composition.reduced_formula: e for e in pd.stable_entries}
    for facet in pd.facets:
        for i, j in itertools.combinations(facet, 2):
            a, b = pd.qhull_entries[i], pd.qhull_entries[j]
            pa, pb = xy(a.composition), xy(b.composition)
            ax.plot([pa[0], pb[0]], [pa[1], pb[1]], color="0.55", lw=0.8, zorder=1)
    for e in pd.all_entries:
        if e.composition.reduced_formula in stable and stable[e.composition.reduced_formula] is e:
            continue
        p = xy(e.composition)
        ax.scatter(*p, marker="x", color="0.5", s=30, zorder=2)
        ax.annotate(e.entry_id, p, textcoords="offset points", xytext=(4, -10), fontsize=7, color="0.4")
    products = {p for k in kinks if 0 < k["x_anode"] < 1 for p in k["products"]}
    for red, e in stable.items():
        p = xy(e.composition)
        is_prod = e.entry_id in products or red in products
        ax.scatter(*p, s=60 if is_prod else 35, color="tab:orange" if is_prod else "k",
                   edgecolor="k", zorder=3)
        ax.annotate(e.entry_id, p, textcoords="offset points", xytext=(5, 4), fontsize=8,
                    weight="bold" if is_prod else "normal")
    pa, pe = xy(anode_formula), xy(electrolyte_formula)
    ax.plot([pa[0], pe[0]], [pa[1], pe[1]], "r--", lw=1.6, zorder=4, label="reactant tie line")
    for k in kinks:
        if 0 < k["x_anode"] < 1:
            comp_frac = k["x_anode"] * np.array(pa) + (1 - k["x_anode"]) * np.array(pe)
            ax.scatter(*comp_frac, marker="D", s=22, color="tab:red", zorder=5)
    ax.set_aspect("equal"), ax.axis("off")
    for lab, p in zip(els, corners[:3]):
        ax.annotate(str(lab), p, textcoords="offset points", xytext=(-6, -14 if p[1] == 0 else 6), fontsize=11)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.set_title("Phase diagram (reference energies): stable = black, products = orange", fontsize=9)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
