"""The paper's figures as the report shows them: where each lies, its caption, and why it may be missing.

A caption says what is drawn, in which units, and the one number to read from it (taken from the stage's
JSON next to the figure). The figures themselves are drawn by the stages; the report only reads them.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class Figure:
    key: str            #: short id (used in summary.json)
    stage: str          #: the section it belongs to
    path: str           #: path relative to the campaign output; ``{gen}``: the validation generation shown
    label: str          #: "Fig. 6" etc. (the paper's numbering), or "" for supporting figures
    title: str
    drawn: str          #: what is drawn, with units
    number: Callable[[dict], str] | None = None  #: the number to read, from the loaded JSONs (ctx)
    optional: bool = False  #: listed as missing only when its stage ran


def _v(ctx, *keys, default=None):
    d = ctx
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def _n_phase_diagram(ctx):
    kinks = _v(ctx, "reaction", "kinks") or []
    k = min(kinks, key=lambda k: k["reaction_energy_eV_per_atom"])
    return (f"most exothermic mixing E<sub>rxn</sub> = {k['reaction_energy_eV_per_atom']:.3f} eV/atom at "
            f"x(anode) = {k['x_anode']:.2f}, products {html.escape(' + '.join(k['products']))}")


def _n_dimers(ctx):
    d = _v(ctx, "vreport", "results", "dimers") or {}
    pair, v = max(((p, x) for p, x in d.items() if isinstance(x, dict) and "rmse_eV" in x), key=lambda t: t[1]["rmse_eV"])
    return f"largest dimer RMSE: {html.escape(pair)} {1000 * v['rmse_eV']:.0f} meV"


def _n_eos(ctx):
    d = _v(ctx, "vreport", "results", "eos") or {}
    ph, v = max(((p, x) for p, x in d.items() if isinstance(x, dict) and x.get("v0_rel_error") is not None),
                key=lambda t: abs(t[1]["v0_rel_error"]))
    return f"largest equilibrium-volume error: {html.escape(ph)} {100 * v['v0_rel_error']:+.1f} % of V<sub>0</sub>"


def _n_parity(ctx):
    t = _v(ctx, "vreport", "results", "metrics", "test")
    return (f"test RMSE E = {t['energy_meV_per_atom']['rmse']:.1f} meV/atom, F = {t['force_meV_per_A']['rmse']:.0f} "
            f"meV/Å over {t.get('n_structures', '?')} structures")


def _n_formation(ctx):
    d = _v(ctx, "vreport", "results", "formation", "phases") or {}
    ph, v = max(d.items(), key=lambda t: abs(t[1]["error_meV_per_atom"]))
    return f"largest |ΔE<sub>f</sub>| = {abs(v['error_meV_per_atom']):.1f} meV/atom ({html.escape(ph)})"


def _n_group(group):
    def f(ctx):
        g = _v(ctx, "vreport", "summary", "groups", group)
        return f"{g['passed']} of {g['passed'] + g['failed']} {group} checks passed"
    return f


def _n_rdf(name):
    def f(ctx):
        r = _v(ctx, "vreport", "results", "rdf") or {}
        for k, v in r.items():
            if isinstance(v, dict) and v.get("figure") == name:
                s = v["similarity"]
                return f"similarity model vs reference: total {s['total']:.3f}, worst partial {s['worst_partial']:.3f}"
        raise KeyError(name)
    return f


def _n_learning(ctx):
    g = _v(ctx, "learning", "generations") or []
    a, b = g[0], g[-1]
    return (f"fixed test-set energy RMSE {a['fixed_test_energy_rmse_start_meV_per_atom']:.1f} (gen000) → "
            f"{b['fixed_test_energy_rmse_meV_per_atom']:.1f} meV/atom ({html.escape(str(b.get('training_generation')))});"
            f" stop: {html.escape(str(_v(ctx, 'learning', 'stop_reason')))}")


def _n_dataset(ctx):
    d = ctx["dataset"]
    return f"{d['structures']} structures, {d['atoms']} atoms labelled"


def _n_audit(ctx):
    r = _v(ctx, "audit", "errors", "regions", "interphase")
    return (f"interphase force RMSE {r['force_meV_per_A']['rmse']:.0f} meV/Å (n = {r['n_subcells']} subcells); "
            f"compare the test set in the verdict")


def _n_snapshots(ctx):
    s = _v(ctx, "analysis", "summary")
    return f"{s['n_atoms']} atoms, t = {s['time_range_ps'][0]:.2f} → {s['time_range_ps'][1]:.2f} ps"


def _n_thickness(ctx):
    s = _v(ctx, "analysis", "summary")
    v = s.get("growth_verdict")
    if v == "two regimes":
        return (f"two regimes: n = {s['fast_exponent']:.2f} ± {s['fast_exponent_err']:.2f} then "
                f"{s['slow_exponent']:.2f} ± {s['slow_exponent_err']:.2f}, t<sub>c</sub> = {s['crossover_time_ps']:.3g} ps")
    if v == "one regime":
        return (f"one regime: n = {s['single_exponent']:.2f} ± {s['single_exponent_err']:.2f}; final thickness "
                f"{s['final_thickness_A']:.1f} Å")
    return f"{html.escape(str(v))}: no exponent; final thickness {s['final_thickness_A']:.1f} Å"


def _n_flux(ctx):
    s = _v(ctx, "analysis", "summary")
    net = s["net_per_area_per_nm2_final"]
    sp = max(net, key=lambda k: abs(net[k]))
    return f"net {html.escape(sp)} transfer at t = {s['time_range_ps'][1]:.2f} ps: {net[sp]:+.2f} atoms nm⁻²"


def _n_fig8(ctx):
    best = None
    for r in _v(ctx, "fluxes", "phases") or []:
        for s, j in (r.get("J") or {}).items():
            if (r.get("sign") or {}).get(s) in ("+", "-") and (best is None or abs(j) > abs(best[2])):
                best = (r["phase"], s, j, (r.get("J_err") or {}).get(s, float("nan")))
    if best is None:
        return "no flux is resolved (|J| ≤ 2σ everywhere)"
    return (f"largest resolved flux: {html.escape(best[1])} in {html.escape(best[0])}, J = {best[2]:+.3g} ± "
            f"{best[3]:.2g} ions Å⁻² ps⁻¹")


def _n_coordination(ctx):
    c = _v(ctx, "analysis", "coordination", "mean_cn") or {}
    pair = "P-S" if "P-S" in c else next(iter(c))
    last = [x for x in c[pair][-1] if x is not None]
    return f"CN({html.escape(pair)}) at the last time, mean over z: {sum(last) / len(last):.2f}"


def _n_sequence(ctx):
    seq = _v(ctx, "analysis", "summary", "layer_sequence") or []
    return "final layer sequence: " + (html.escape(" | ".join(seq)) or "none")


def _n_layers(ctx):
    L = _v(ctx, "analysis", "phases", "layers") or []
    return "layers at the last frame: " + ", ".join(f"{html.escape(x['phase'])} {x['thickness_A']:.1f} Å" for x in L)


def _n_nanocrystals(ctx):
    s = _v(ctx, "analysis", "summary")
    r = s.get("max_domain_radius_A_final")
    return f"{s['n_domains_final']} crystalline domains at the last frame" + (f", largest radius {r:.1f} Å" if r else "")


def _n_lp(ctx):
    best = None
    for e in _v(ctx, "tsummary", "entries") or []:
        sp = e.get("species") or []
        if "P" in sp and e.get("L"):
            k = sp.index("P")
            if best is None or e["L"][k][k] > best[1]:
                best = (e["phase"], e["L"][k][k], e["L_err"][k][k])
    return f"largest L<sub>PP</sub>: {html.escape(best[0])} {best[1]:.3g} ± {best[2]:.2g} 1/(eV Å ps)"


_EL = "atoms coloured by element (Li purple, P orange, S yellow, as in the 3-D view)"

FIGURES = (
    Figure("phase_diagram", "chemistry", "chemistry/phase_diagram.png", "Fig. 2", "Phase diagram and tie line",
           "convex hull of the Li–P–S phases (stable: black, tie-line products: orange) with the anode–electrolyte "
           "tie line and its kinks (red diamonds); compositions in atomic fractions", _n_phase_diagram),
    Figure("dimers", "validation", "validation/{gen}/dimers.png", "Fig. 3", "Dimer curves",
           "isolated-dimer energy E(r) (eV) vs separation r (Å), model (red) vs reference", _n_dimers),
    Figure("eos", "validation", "validation/{gen}/eos.png", "Fig. 3", "Equations of state",
           "energy per atom (eV, shifted) vs volume per atom (Å³) of each phase, model vs reference with "
           "Birch–Murnaghan fits", _n_eos),
    Figure("parity", "validation", "validation/{gen}/parity.png", "Fig. 4", "Parity on the test set",
           "model vs reference energies (eV/atom) and force components (eV/Å) of the held-out test set", _n_parity),
    Figure("rdf_Li2S", "validation", "validation/{gen}/rdf_crystalline_Li2S.png", "Fig. 4", "RDF of crystalline Li2S",
           "radial distribution function g(r) vs r (Å) from short MD, model (red) vs reference",
           _n_rdf("rdf_crystalline_Li2S.png"), optional=True),
    Figure("rdf_Li3P", "validation", "validation/{gen}/rdf_crystalline_Li3P.png", "Fig. 4", "RDF of crystalline Li3P",
           "radial distribution function g(r) vs r (Å) from short MD, model (red) vs reference",
           _n_rdf("rdf_crystalline_Li3P.png"), optional=True),
    Figure("formation", "validation", "validation/{gen}/formation.png", "", "Formation energies",
           "model vs reference formation energy (eV/atom) of every phase of the hull", _n_formation),
    Figure("stability", "validation", "validation/{gen}/stability.png", "", "MD stability",
           "temperature (K), largest void radius (Å) and composition spread vs MD step for each stability cell",
           _n_group("stability")),
    Figure("learning_curve", "learning", "learning/learning_curve.png", "", "Learning curve",
           "test-set force (meV/Å) and energy (meV/atom) RMSE per generation (fixed gen-0 test set and each "
           "generation's own), and structures added per generation", _n_learning),
    Figure("dataset", "dataset", "dataset/composition.png", "", "Dataset composition",
           "structures per kind and origin, and atoms per phase, of the labelled dataset", _n_dataset, optional=True),
    Figure("audit", "simulation", "simulation/audit.png", "", "Audit of the production run",
           "extrapolation grade γ along z (left) and reference-vs-model errors per region (right, meV/Å)", _n_audit),
    Figure("snapshots", "analysis", "analysis/snapshots.png", "Fig. 5", "Interface snapshots",
           f"side views of the interface cell at the first, middle and last analysed frames, z vertical (Å); {_EL}",
           _n_snapshots),
    Figure("thickness", "analysis", "analysis/thickness.png", "Fig. 6", "Interphase thickness vs time",
           "interphase thickness L (Å) vs time t (ps), log–log, with the power-law fit L ∝ tⁿ (one or two regimes, "
           "crossover band grey)", _n_thickness),
    Figure("flux", "analysis", "analysis/flux.png", "Fig. 7", "Flux per species vs time",
           "net atoms per area crossed the initial interface plane (atoms nm⁻², + toward the metal) and the flux "
           "(atoms nm⁻² ps⁻¹) per species vs time (ps)", _n_flux),
    Figure("fig8_fluxes", "transport", "transport/fig8_fluxes.png", "Fig. 8", "Fluxes J = −L∇μ vs composition",
           "predicted flux per species (ions Å⁻² ps⁻¹, ± σ; + toward the metal) for each tie-line phase, vs its "
           "composition", _n_fig8),
    Figure("coordination", "analysis", "analysis/coordination.png", "Fig. 9", "Coordination profiles",
           "mean coordination number per pair along z (Å, from the initial interface) vs time (ps)", _n_coordination),
    Figure("phase_map", "analysis", "analysis/phase_map.png", "", "Phase map",
           "phase identified in each z bin (Å) vs time (ps), in the colours of the 3-D view's phase mode", _n_sequence),
    Figure("layers", "analysis", "analysis/layers.png", "", "Layer stack",
           "identified layers along z (nm) at the last frame, in the colours of the 3-D view's phase mode", _n_layers),
    Figure("nanocrystals", "analysis", "analysis/nanocrystals.png", "", "Li2S nanocrystals",
           "crystalline fraction of the S sublattice and the largest domain radius (nm) vs time (ps)", _n_nanocrystals),
    Figure("L_P", "transport", "transport/figS9_L_P.png", "Fig. S9", "Onsager coefficients of P",
           "L<sub>P,j</sub> (1/(eV Å ps), ± σ) of each P-containing phase", _n_lp, optional=True),
)


def viewer_caption(ctx: dict, phases: dict) -> str:
    """The caption of the 3-D view: what is drawn, the two colourings, and the one thing to read."""
    w = phases.get("bin_width_A")
    bins = f"{w:g} Å" if w else "z"
    how = (f"each atom takes the phase the analysis identified for its {bins} slab along the interface normal "
           "(its z bin: the nearest reference fingerprint of the bin's composition and coordination, as in the phase "
           "map), so the colour is the slab's phase, not a per-atom classification; vacuum: a bin with too few atoms")
    avail = "" if not phases.get("why") else f" <span class='missing'>(not available here: {html.escape(phases['why'])})</span>"
    try:
        s = _v(ctx, "analysis", "summary") or {}
        seq = s.get("layer_sequence") or []
        t = (s.get("time_range_ps") or [None, None])[1]
        th = s.get("final_thickness_A")
        read = (f"in phase colours, whether product phases lie between the metal and the electrolyte at the last frame "
                f"and how much thicker that band is than at the first; the analysis finds "
                f"{html.escape(' | '.join(seq)) or 'no layers'} (metal → electrolyte)"
                + (f", interphase thickness {th:.1f} Å at t = {t:.2f} ps" if th is not None and t is not None else ""))
    except Exception:  # noqa: BLE001  a caption never stops the report
        read = "in phase colours, whether product phases lie between the metal and the electrolyte at the last frame"
    return ("<b>Interface in 3-D.</b> Every atom of the first and last frames of the production trajectory as a "
            "sphere, wrapped into the cell (grey lines), the interface normal z vertical; in a cell periodic along z "
            "the metal meets the electrolyte twice, mid-cell and across the top and bottom faces. "
            "<b>Colour by element</b>: the colours of the interface snapshots. <b>Colour by identified phase</b>: "
            f"{how}; the phase colours of the phase map and layer stack figures{avail}. <b>Read:</b> {read}.")


def caption(fig: Figure, ctx: dict) -> str:
    """The caption HTML: label, title, what is drawn (units), and the number to read."""
    try:
        num = fig.number(ctx) if fig.number else ""
        num = f" <b>Read:</b> {num}." if num else ""
    except Exception as exc:  # noqa: BLE001  a caption never stops the report
        num = f" <span class='missing'>(key number not available: {html.escape(type(exc).__name__)})</span>"
    head = f"<b>{html.escape(fig.label)}</b> " if fig.label else ""
    return f"{head}<b>{html.escape(fig.title)}.</b> {fig.drawn}.{num}"


def missing_reason(fig: Figure, ctx: dict, stage_ran: bool, path: Path) -> str | None:
    """Why a figure is not on disk (None: it is optional and its absence says nothing)."""
    if not stage_ran:
        return f"the {fig.stage} stage has not run"
    if fig.stage == "analysis" and _v(ctx, "analysis", "provenance", "settings", "figures") is False:
        return "the analysis ran with figures: false"
    if "{gen}" in fig.path and ctx.get("vgen") is None:
        return "no validation generation to show"
    if fig.optional:
        return None
    return f"the {fig.stage} stage ran but wrote no {path.name} (see its log in the stage folder or logs/)"
