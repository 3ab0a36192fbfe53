"""Build ``<output>/report/index.html`` and ``summary.json`` from the stages' artefacts."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from seilab import provenance
from seilab.palette import element_color
from seilab.results import DictResult
from seilab.report.captions import FIGURES, caption, missing_reason, viewer_caption
from seilab.report.viewer import frame_phases, read_end_frames, viewer_html, viewer_js

#: Report sections in pipeline order: (stage folder, title, main JSON files whose numbers are shown: the
#: first name found, and of its files the last in path order, i.e. the newest generation).
SECTIONS = (
    ("chemistry", "Phase diagram and interface reaction", ("reaction.json",)),
    ("sampling", "Configurational sampling", ("manifest.json", "summary.json")),
    ("dataset", "Labelled dataset", ("summary.json",)),
    ("training", "Training (ACE / pacemaker)", ("metrics.json",)),
    ("validation", "Validation", ("report.json",)),
    ("learning", "Active learning", ("learning.json", "state.json")),
    ("simulation", "Interface MD", ("latest.json", "run.json")),
    ("analysis", "Interphase analysis", ("analysis.json",)),
    ("transport", "Onsager transport", ("fluxes.json", "transport_summary.json")),
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1rem auto;max-width:1200px;color:#222;
background:#fff;line-height:1.4;padding:0 1rem}h1{border-bottom:3px solid #c0392b;padding-bottom:.2rem;margin:.3rem 0;
font-size:1.6rem}.sub{margin:.2rem 0;color:#555;font-size:.9rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6rem 0;font-size:.88rem}td,th{border:1px solid #ddd;padding:.2rem .5rem;
text-align:left;vertical-align:top}th{background:#f4f4f4}figure{display:inline-block;margin:.5rem;vertical-align:top;
max-width:560px}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.8rem;color:#333}
.missing{color:#888;font-style:italic}.src{font-size:.8rem;color:#555;margin:.2rem 0}.pass{color:#1e8449;font-weight:bold}
.fail{color:#c0392b;font-weight:bold}nav{margin:.6rem 0;font-size:.9rem}nav a{margin-right:.8rem}
.panel{border:2px solid #c0392b;border-radius:6px;padding:.1rem .8rem .4rem;background:#fffdf8}
.panel h2{margin-top:.3rem;border:none}table.verdict{font-size:.84rem;width:100%}table.verdict th{width:23%}
.srccol{font-size:.72rem;white-space:nowrap}.srcl{font-size:.75rem;color:#2e6da4}.small{font-size:.78rem;color:#555}
ul.warn{color:#a93226;font-size:.84rem;margin:.3rem 0;padding-left:1.2rem}ul.warn li{margin:.1rem 0}
.sw{display:inline-block;width:.7em;height:.7em;border-radius:50%;margin:0 .2em 0 .35em;border:1px solid #555}
.views{display:flex;gap:1rem;flex-wrap:wrap}.v3d{max-width:none}.viewer3d{width:540px;height:420px;position:relative;
border:1px solid #ccc}.missingfigs{font-size:.85rem;color:#666;border-left:3px solid #ccc;padding-left:.6rem}
details{margin:.4rem 0}summary{cursor:pointer;color:#2e6da4;font-size:.85rem}
.v3dctl{font-size:.88rem;margin:.3rem 0}.v3dctl label{margin-right:.6rem}.lg{white-space:nowrap;margin-right:.3rem}
.v3dcap{font-size:.8rem;color:#333;max-width:1100px}"""


def _scalars(obj, prefix="", depth=0, out=None, limit=40):
    """Flatten the scalar numbers/strings of a JSON result (first levels only) for a table."""
    out = [] if out is None else out
    if len(out) >= limit or depth > 3:
        return out
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("provenance", "hull", "versions"):
                continue
            _scalars(v, f"{prefix}{k}." if not isinstance(v, (int, float, str, bool)) else f"{prefix}{k}",
                     depth + 1, out, limit)
    elif isinstance(obj, (int, float, bool)) or (isinstance(obj, str) and len(obj) < 120):
        out.append((prefix.rstrip("."), obj))
    elif isinstance(obj, list) and obj and all(isinstance(x, (int, float, str)) for x in obj) and len(obj) <= 12:
        out.append((prefix.rstrip("."), ", ".join(str(x) for x in obj)))
    return out


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _table(rows, header=("quantity", "value")) -> str:
    if not rows:
        return ""
    body = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{_fmt(v)}</td></tr>" for k, v in rows)
    return f"<table><tr><th>{header[0]}</th><th>{header[1]}</th></tr>{body}</table>"


def _reaction_table(reaction: dict) -> str:
    rows = "".join(
        f"<tr><td>{k['x_anode']:.3f}</td><td>{k['reaction_energy_eV_per_atom']:.3f}</td>"
        f"<td>{html.escape(', '.join(k['products']))}</td><td>{html.escape(k['reaction'])}</td></tr>"
        for k in reaction.get("kinks", []))
    hull = "".join(
        f"<tr><td>{html.escape(r['phase'])}</td><td>{html.escape(r['formula'])}</td><td>{html.escape(str(r.get('origin')))}</td>"
        f"<td>{r['formation_energy_eV_per_atom']:.3f}</td><td>{r['e_above_hull_eV_per_atom']:.3f}</td></tr>"
        for r in reaction.get("hull", []))
    cp = reaction.get("chemical_potential_distance", {})
    dmu = ", ".join(f"Δμ<sub>{k}</sub> = {v:+.3f} eV" for k, v in cp.get("delta_mu_eV", {}).items())
    return (f"<table><tr><th>x(anode)</th><th>E<sub>rxn</sub> (eV/atom)</th><th>products</th><th>reaction</th></tr>"
            f"{rows}</table><details><summary>the hull: {len(reaction.get('hull', []))} phases</summary><table><tr><th>phase</th><th>formula</th><th>origin</th><th>E<sub>f</sub> (eV/atom)</th>"
            f"<th>E<sub>hull</sub> (eV/atom)</th></tr>{hull}</table></details>"
            + (f"<p>Chemical-potential distance anode − electrolyte: {cp['distance_eV']:.3f} eV ({dmu})</p>"
               if "distance_eV" in cp else ""))


def _validation_table(report: dict) -> str:
    """The checks of a validation ``report.json`` (:func:`seilab.validation.report.check` records)."""
    rows = []
    for c in report.get("checks") or []:
        cls, word = (("pass", "pass") if c["passed"] else ("", "advisory: not met") if c.get("advisory")
                     else ("fail", "FAIL"))
        rows.append(f"<tr><td>{html.escape(c['name'])}</td><td class='{cls}'>{word}</td>"
                    f"<td>{html.escape(str(c.get('message') or ''))[:200]}</td></tr>")
    if not rows:
        return ""
    return "<table><tr><th>check</th><th>result</th><th>detail</th></tr>" + "".join(rows) + "</table>"


def _read(path: Path) -> dict | None:
    return provenance.load_json(path)


#: where each production stage records the gate's verdict on the potential it ran with
GATED = {"simulation": "simulation/latest.json", "analysis": "simulation/latest.json",
         "transport": "transport/fluxes.json"}


def unvalidated_stages(campaign) -> list[str]:
    """Production stages whose outputs were computed on a potential that did not pass validation."""
    out = []
    for stage, rel in GATED.items():
        data = _read(campaign.layout.path(rel)) or {}
        if (data.get("potential_gate") or {}).get("validated") is False:
            out.append(stage)
    return out


def _link(campaign, path, text=None) -> str:
    """A relative link from ``report/index.html`` to a campaign file (``path`` absolute or relative to the output)."""
    rel = _rel(campaign, str(path))
    return f"<a class='srcl' href='../{html.escape(rel)}'>{html.escape(text or rel)}</a>"


def _pm(v, e, fmt=".3g") -> str:
    return f"{v:{fmt}} ± {e:{fmt}}" if e is not None else f"{v:{fmt}}"


def _sp(s: str) -> str:
    """A species name with its colour swatch (the colours of the 3-D view and the snapshot figure)."""
    return f"<span class='sw' style='background:{element_color(s)}'></span>{html.escape(s)}"


def _shown_generation(campaign, gate):
    """(generation, report path) the verdict is about: the accepted one, else the gate's best, else the newest report."""
    shown = (gate or {}).get("accepted") or (gate or {}).get("best")
    if shown and shown.get("report"):
        return shown.get("generation"), Path(shown["report"])
    found = campaign.layout.validation_reports()
    return (found[-1].parent.name, found[-1]) if found else (None, None)


def _tie_line(reaction: dict) -> tuple[str, list[str]]:
    """The products along the tie line, electrolyte end first, and the anode-end (fully lithiated) products."""
    inner = sorted((k for k in reaction.get("kinks", []) if 0 < k["x_anode"] < 1), key=lambda k: k["x_anode"])
    if not inner:
        return "", []
    steps = " → ".join(html.escape(" + ".join(k["products"])) for k in inner)
    return steps, list(inner[-1]["products"])


def _flux_phrase(row: dict) -> str:
    """``Li −0.118 ± 0.035, P not resolved (0.002 ± 0.003)`` for one fluxes.json row."""
    out = []
    for s, j in row.get("J", {}).items():
        e = (row.get("J_err") or {}).get(s)
        sign = (row.get("sign") or {}).get(s)
        if abs(j) < 1e-12 and (e is None or e < 1e-12):
            continue  # a one-species phase: J = 0 by momentum conservation
        val = f"{j:+.3g} ± {e:.2g}" if e is not None else f"{j:+.3g}"
        out.append(f"{_sp(s)} {val}" + ("" if sign in ("+", "-") else " <i>not resolved</i>"))
    return ", ".join(out) or "<i>zero (one species)</i>"


def _onsager_phrase(entry: dict, not_diffusive) -> str:
    sp, L, E = entry.get("species") or [], entry.get("L") or [], entry.get("L_err") or []
    out = []
    for k, s in enumerate(sp):
        try:
            v, e = L[k][k], E[k][k]
        except (IndexError, TypeError):
            continue
        flag = " <span class='fail'>not diffusive</span>" if s in not_diffusive else ""
        out.append(f"L<sub>{html.escape(s)}{html.escape(s)}</sub> {v:.3g} ± {e:.2g}{flag}")
    return ", ".join(out)


def _not_diffusive(campaign, entry: dict, flux_rows: dict) -> list[str]:
    row = flux_rows.get((entry.get("phase"), entry.get("temperature_K"))) or {}
    if "not_diffusive" in row:
        return list(row["not_diffusive"])
    res = _read(Path(entry["result"])) if entry.get("result") else None
    return [s for s, ok in ((res or {}).get("diffusive") or {}).items() if ok is False]


def _verdict_rows(campaign) -> tuple[list, list]:
    """(rows, warnings) of the verdict panel: rows are (label, value HTML, source links HTML)."""
    gate_path = campaign.layout.gate
    gate = _read(gate_path)
    rows, warn, best = [], [], None
    if gate is None:
        rows.append(("potential", "<span class='missing'>not validated yet</span>", ""))
    elif gate.get("accepted"):
        acc = gate["accepted"]
        rows.append(("potential", f"<span class='pass'>{html.escape(acc['generation'])} accepted</span> "
                                  f"(every check of <code>{html.escape(_rel(campaign, acc['report']))}</code> passed)",
                     _link(campaign, gate_path)))
    else:
        best = gate.get("best")  # ranked by the gate (seilab.validation.gate)
        names = ", ".join(best["failed_checks"][:8]) if best else ""
        more = f" (+{len(best['failed_checks']) - 8} more)" if best and len(best["failed_checks"]) > 8 else ""
        rows.append(("potential", "<span class='fail'>REJECTED: none passed validation</span>"
                     + (f"; best {html.escape(best['generation'])} failed {len(best['failed_checks'])} checks: "
                        f"{html.escape(names)}{more}" if best else ""), _link(campaign, gate_path)))
        warn.append("no potential passed validation: every production number below is unvalidated or absent")
    gen, report_path = _shown_generation(campaign, gate)
    shown_report = _read(report_path) if report_path else None
    test = ((shown_report or {}).get("results") or {}).get("metrics", {}).get("test") if shown_report else None
    if test:
        kinds = "; ".join(f"{html.escape(k)} {v['energy_meV_per_atom']['rmse']:.0f} / {v['force_meV_per_A']['rmse']:.0f}"
                          for k, v in sorted((test.get("by_kind") or {}).items()))
        rows.append((f"{gen} test RMSE E / F (meV/atom / meV/Å)",
                     f"all {test['energy_meV_per_atom']['rmse']:.1f} / {test['force_meV_per_A']['rmse']:.0f}; {kinds}",
                     _link(campaign, report_path)))
    advisory = ((shown_report or {}).get("summary") or {}).get("advisory_failed")
    if advisory:
        rows.append(("advisory checks not met (reported, not gating)", html.escape(", ".join(advisory)),
                     _link(campaign, report_path)))
    curve = [(g["generation"], g["fixed_test"], g.get("status"))
             for g in (gate or {}).get("generations") or [] if g.get("fixed_test")]
    if curve:  # the learning curve: every generation on the one fixed held-out split
        n = curve[0][1].get("n_structures")
        rows.append((f"learning curve: fixed test set ({n} structures), E / F RMSE (meV/atom / meV/Å)",
                     " → ".join(f"{html.escape(g)} {t['energy_rmse_meV_per_atom']:.1f} / {t['force_rmse_meV_per_A']:.0f}"
                                + ("" if st == "passed" else " (failed)") for g, t, st in curve),
                     _link(campaign, gate_path)))
    learning_path = campaign.layout.learning_summary
    learning = _read(learning_path) or {}
    for g in learning.get("generations") or []:
        prod = [x for x in ((g.get("harvest") or {}).get("sources") or []) if x.get("origin") == "production"]
        if not prod:
            continue
        n_sel = (g.get("selected_per_source") or {}).get("production", 0)
        n_cand = (g.get("candidates_per_source") or {}).get("production", 0)
        verdict = ("<span class='pass'>passed validation</span>" if g.get("validation_passed") else
                   "<span class='fail'>failed validation</span>" if g.get("validation_passed") is False else "not validated")
        explored = ""
        if g.get("explore_interface_atoms"):  # the round's own interface MD (learning.harvest_exploration)
            n_if = (g.get("candidates_per_batch") or {}).get("interface", 0)
            s_if = (g.get("selected_per_batch") or {}).get("interface", 0)
            explored = (f"explored interfaces of {int(g['explore_interface_atoms']):,} atoms in "
                        f"{html.escape(str(g.get('explore_engine') or '?')).upper()}: {s_if} of {n_if} interface "
                        "candidates labelled; ")
        rows.append((f"production round: gen{int(g['generation']):03d}",
                     f"harvested {html.escape(str(prod[0].get('path')))} ({prod[0].get('kept', '?')} frames); "
                     f"{n_sel} of {n_cand} production subcells labelled; {explored}{verdict}",
                     _link(campaign, learning_path)))
    run_path = campaign.layout.simulation_latest
    run = _read(run_path)
    if run and run.get("status"):
        what = f"{html.escape(str(run['status']))} at step {run.get('steps_done')} of {campaign.simulation.steps}"
        drove = (run.get("potential_gate") or {}).get("generation")
        if drove:
            what += f" with {html.escape(str(drove))}"
        if run["status"] == "halted":
            what = f"<span class='fail'>{what}</span> (the γ watch: the model extrapolates; see the audit)"
            if run.get("halt_diagnosis"):  # which atoms, in which environment, stopped it
                from seilab.simulation.audit import describe_halt

                what += "; " + html.escape(describe_halt(run["halt_diagnosis"]))
            warn.append(f"production MD halted by the extrapolation grade γ at step {run.get('steps_done')} "
                        f"(max γ {run.get('max_gamma', float('nan')):.3g}): the trajectory is shorter than asked "
                        "and its end is where the potential is least trusted")
        rows.append(("production run", what, _link(campaign, run_path)))
    audit_path = campaign.layout.audit
    audit = _read(audit_path)
    regions = ((audit or {}).get("errors") or {}).get("regions") or {}
    if any(v.get("n_subcells") for v in regions.values()):
        rows.append(("audit on the production run: E / F RMSE (meV/atom / meV/Å)", "; ".join(
            f"{html.escape(r)} {v['energy_meV_per_atom']['rmse']:.0f} / {v['force_meV_per_A']['rmse']:.0f} "
            f"(n={v['n_subcells']})" for r, v in regions.items() if v.get("n_subcells")), _link(campaign, audit_path)))
        warn += [html.escape(w) for w in audit.get("warnings") or []]
    rpath = campaign.layout.reaction
    reaction = _read(rpath)
    if reaction:
        steps, end = _tie_line(reaction)
        if end:
            ek = min(reaction["kinks"], key=lambda k: k["reaction_energy_eV_per_atom"])
            rows.append(("tie-line products (anode-rich end)", f"<b>{html.escape(' + '.join(end))}</b>"
                         f" <span class='small'>(along the tie line from the electrolyte: {steps}; most exothermic "
                         f"E<sub>rxn</sub> = {ek['reaction_energy_eV_per_atom']:.3f} eV/atom at x(anode) = "
                         f"{ek['x_anode']:.2f})</span>", _link(campaign, rpath)))
    apath = campaign.layout.analysis
    ana = _read(apath)
    summ = (ana or {}).get("summary") or {}
    if ana:
        t = summ.get("time_range_ps") or [None, None]
        seq = summ.get("layer_sequence") or []
        th = summ.get("final_thickness_A")
        rows.append(("layer sequence found (metal → electrolyte)",
                     (" | ".join(html.escape(x) for x in seq) if seq else "<i>no layers identified</i>")
                     + (f"; interphase thickness {th:.1f} Å at t = {t[1]:.2f} ps" if th is not None and t[1] is not None
                        else ""), _link(campaign, apath)))
        verdict = summ.get("growth_verdict")
        if verdict == "two regimes":
            g = (f"<b>two regimes</b>: L ∝ t<sup>n</sup>, fast n = {_pm(summ['fast_exponent'], summ.get('fast_exponent_err'))}"
                 f", slow n = {_pm(summ['slow_exponent'], summ.get('slow_exponent_err'))}, crossover t<sub>c</sub> = "
                 f"{summ.get('crossover_time_ps', float('nan')):.3g} ps")
        elif verdict == "one regime":
            g = (f"<b>one regime</b>: L ∝ t<sup>n</sup>, n = {_pm(summ['single_exponent'], summ.get('single_exponent_err'))}"
                 " (a two-regime fit is not preferred; no crossover reported)")
        elif verdict:
            g = f"<b>{html.escape(verdict)}</b>: no exponent is reported"
            warn.append(f"interphase growth: {html.escape(verdict)} (within {t[1]} ps)")
        else:
            g = "<i>no growth fit</i>"
        rows.append(("growth of the interphase thickness", g, _link(campaign, apath)))
        net = summ.get("net_per_area_per_nm2_final")
        if net:
            rows.append((f"net transfer across the initial interface (MD, atoms nm⁻², at t = {t[1]} ps; + toward the metal)",
                         ", ".join(f"{_sp(s)} {v:+.3g}" for s, v in net.items()) + " <span class='small'>(counted "
                         "crossings of one run: no σ)</span>", _link(campaign, apath)))
        if ana.get("partial"):
            warn.append(f"analysis used a truncated trajectory: {html.escape(str(ana.get('partial_reason')))}")
    fpath = campaign.layout.fluxes
    spath = campaign.layout.transport_summary
    fluxes, tsum = _read(fpath), _read(spath)
    if fluxes or tsum:
        frows = {(r.get("phase"), r.get("temperature_K")): r for r in (fluxes or {}).get("phases") or []}
        focus = list(dict.fromkeys((_tie_line(reaction)[1] if reaction else []) + [campaign.reactants.electrolyte]))
        pick = [r for r in frows.values() if r.get("phase") in focus] or list(frows.values())[:3]
        if pick:
            rows.append(("predicted fluxes J = −L∇μ (ions Å⁻² ps⁻¹, ± σ; + toward the metal)", "<br>".join(
                f"{html.escape(r['phase'])} ({r['temperature_K']:.0f} K): {_flux_phrase(r)}" for r in pick)
                + f" <span class='small'>({len(frows)} phases in the transport section)</span>", _link(campaign, fpath)))
        comp = (fluxes or {}).get("comparison")
        if isinstance(comp, dict) and comp.get("status") == "not comparable":
            rows.append(("predicted vs measured interface flux", f"not compared: {html.escape(str(comp.get('why')))}",
                         _link(campaign, fpath)))
        elif isinstance(comp, dict) and "n_compared" in comp:
            rows.append(("predicted vs measured interface flux", f"signs agree for {comp['n_sign_agree']} of "
                         f"{comp['n_compared']} species, magnitudes within {comp.get('decades', 1):g} decade for "
                         f"{comp['n_magnitude_agree']}", _link(campaign, fpath)))
        entries = (tsum or {}).get("entries") or []
        ok = [e for e in entries if e.get("L")]
        pick = [e for e in ok if e.get("phase") in focus] or ok[:3]
        nd_all = []
        if pick:
            parts = []
            for e in pick:
                nd = _not_diffusive(campaign, e, frows)
                nd_all += [f"{e['phase']}: {s}" for s in nd]
                parts.append(f"{html.escape(e['phase'])} ({e.get('temperature_K', 0):.0f} K): {_onsager_phrase(e, nd)}")
            rows.append(("Onsager L<sub>ii</sub> (1/(eV Å ps), ± σ)", "<br>".join(parts), _link(campaign, spath)))
        for e in ok:
            if e not in pick:
                nd_all += [f"{e['phase']}: {s}" for s in _not_diffusive(campaign, e, frows)]
        if nd_all:
            warn.append("species not diffusive in the fit window (their L and J are not transport coefficients): "
                        + html.escape(", ".join(nd_all)))
        bad = [e for e in entries if not e.get("L") and e.get("status") in ("failed", "not_amorphous")]
        bad += [f for f in (fluxes or {}).get("failed") or []
                if (f.get("phase"), f.get("status")) not in {(b.get("phase"), b.get("status")) for b in bad}]
        for b in bad:
            what = "stayed crystalline (not amorphous)" if b.get("status") == "not_amorphous" else "MD failed (blew up)"
            warn.append(f"transport phase {html.escape(str(b.get('phase')))} at {b.get('temperature_K', 0):.0f} K: "
                        f"{what}: {html.escape(str(b.get('error', ''))[:160])}")
    bad = unvalidated_stages(campaign)
    if bad:
        warn.append(f"{', '.join(bad)}: computed on a potential that did NOT pass validation "
                    "(gate.allow_unvalidated); treat every number there as unvalidated")
    return rows, warn


def _verdict(campaign) -> str:
    """The panel the report opens with: was the potential accepted, its errors per kind, the products, the
    layers and growth found, the fluxes and Onsager coefficients, and warnings; each row links to its file."""
    rows, warn = _verdict_rows(campaign)
    # values are HTML built above (their data escaped there)
    body = ("<table class='verdict'>" + "".join(f"<tr><th>{k}</th><td>{v}</td><td class='srccol'>{s}</td></tr>"
                                                for k, v, s in rows) + "</table>")
    if warn:
        body += "<ul class='warn'>" + "".join(f"<li>{w}</li>" for w in warn) + "</ul>"
    return '<section class="panel"><h2 id="verdict">Verdict</h2>' + body + "</section>"


def _rel(campaign, path: str) -> str:
    try:
        return str(Path(path).relative_to(campaign.output))
    except ValueError:
        return str(path)


def _json_files(folder: Path, names) -> list[Path]:
    """The files of the first of ``names`` found under ``folder`` (sorted: the newest generation last)."""
    for n in names:
        found = sorted(folder.rglob(n))
        if found:
            return found
    return []


def collect_summary(campaign) -> dict:
    """Key numbers of every stage that ran (what ``summary.json`` holds)."""
    out = {"campaign": campaign.name, "stages": {}}
    for stage, _, names in SECTIONS:
        folder = campaign.layout.stage(stage)
        files = _json_files(folder, names) if folder.is_dir() else []
        if not files:
            continue
        data = provenance.load_json(files[-1])
        if data is None:
            continue
        out["stages"][stage] = {"file": str(files[-1].relative_to(campaign.output)),
                                "numbers": dict(_scalars(data, limit=60))}
    markers = campaign.layout.markers
    if markers.is_dir():
        from seilab.layout import STAGE_ORDER

        order = list(STAGE_ORDER)
        found = sorted(markers.glob("*.json"),
                       key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.stem))
        records = {p.stem: provenance.load_json(p) or {} for p in found}
        out["wall_time_s"] = {name: rec.get("seconds") for name, rec in records.items()}
        # each stage's own summary (its result's .summary(), recorded by the runner): the headline numbers
        out["stage_summaries"] = {name: rec.get("summary") for name, rec in records.items() if rec.get("summary")}
    return out


def _context(campaign) -> dict:
    """The stage JSONs the captions read (None where absent)."""
    lay = campaign.layout
    gate = _read(lay.gate)
    gen, report_path = _shown_generation(campaign, gate)
    return {"reaction": _read(lay.reaction), "gate": gate, "vgen": gen,
            "vreport": _read(report_path) if report_path else None,
            "learning": _read(lay.learning_summary), "dataset": _read(lay.dataset_summary),
            "latest": _read(lay.simulation_latest), "audit": _read(lay.audit),
            "analysis": _read(lay.analysis), "fluxes": _read(lay.fluxes),
            "tsummary": _read(lay.transport_summary)}


def _figure_html(path: Path, cap: str, rel: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (f'<figure><img alt="{html.escape(rel)}" src="data:image/png;base64,{data}"><figcaption>{cap} '
            f"<a class='srcl' href='../{html.escape(rel)}'>{html.escape(rel)}</a></figcaption></figure>")


def _figures(campaign, ctx: dict, ran: dict) -> dict:
    """Per stage: (figure HTML list, missing list) and the figure records for summary.json."""
    out, shown = {}, set()
    records = []
    for fig in FIGURES:
        rel = fig.path.format(gen=ctx.get("vgen") or "gen???")
        path = campaign.layout.path(rel)
        html_list, missing = out.setdefault(fig.stage, ([], []))
        if path.is_file():
            html_list.append(_figure_html(path, caption(fig, ctx), rel))
            shown.add(path.resolve())
            records.append({"figure": fig.key, "label": fig.label, "path": rel, "present": True})
            continue
        why = missing_reason(fig, ctx, ran.get(fig.stage, False), path)
        if why is not None:
            missing.append(f"<li><b>{html.escape(fig.label + ' ' if fig.label else '')}{html.escape(fig.title)}</b> "
                           f"(<code>{html.escape(rel)}</code>): {html.escape(why)}</li>")
            records.append({"figure": fig.key, "label": fig.label, "path": rel, "present": False, "why": why})
    # figures the catalogue does not name (other RDFs, a newer stage's plots): shown with a plain caption
    extra_dirs = {"validation": [campaign.layout.validation_report(ctx["vgen"]).parent] if ctx.get("vgen") else [],
                  "training": campaign.layout.training_generations()[-1:]}
    for stage, _, _ in SECTIONS:
        folder = campaign.layout.stage(stage)
        dirs = extra_dirs.get(stage, [folder])
        for d in dirs:
            pngs = sorted(d.glob("*.png")) if stage in extra_dirs else sorted(folder.rglob("*.png"))
            for p in pngs:
                if p.resolve() in shown or "/runs/" in str(p) or (stage == "validation" and "/gen" not in str(p)):
                    continue
                rel = _rel(campaign, str(p))
                out.setdefault(stage, ([], []))[0].append(_figure_html(
                    p, f"<b>{html.escape(p.stem.replace('_', ' '))}</b> (supporting figure of the {stage} stage).", rel))
                shown.add(p.resolve())
                records.append({"figure": p.stem, "label": "", "path": rel, "present": True})
    out["_records"] = records
    return out


def _people_table(header, rows, limit=12) -> str:
    """A small table with units in the header; rows beyond ``limit`` are folded away."""
    if not rows:
        return ""
    head = "<tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>"
    body = ["<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows]
    t = f"<table>{head}{''.join(body[:limit])}</table>"
    if len(body) > limit:
        t += f"<details><summary>{len(body) - limit} more rows</summary><table>{head}{''.join(body[limit:])}</table></details>"
    return t


def _f(v, fmt=".3g"):
    return "–" if v is None else f"{v:{fmt}}" if isinstance(v, (int, float)) else html.escape(str(v))


def _stage_tables(stage: str, data: dict, ctx: dict, campaign) -> str:
    """The human tables of a section (units in headers, a few rows); '' when none fits."""
    if stage == "chemistry":
        return _reaction_table(data)
    if stage == "sampling":
        fpk = data.get("frames_per_kind") or {}
        return _people_table(("kind", "frames"), [(html.escape(k), v) for k, v in fpk.items()]
                             + [("<b>total</b>", data.get("total_frames"))])
    if stage == "dataset":
        return _people_table(("kind", "structures"), [(html.escape(k), v) for k, v in (data.get("per_kind") or {}).items()]
                             + [("<b>total</b>", f"{data.get('structures')} ({data.get('atoms')} atoms)")])
    if stage == "training":
        rows = []
        for p in [g / "metrics.json" for g in campaign.layout.training_generations() if (g / "metrics.json").is_file()]:
            m = _read(p) or {}
            tr, te = m.get("train") or {}, m.get("test") or {}
            g = lambda d, k: (d.get(k) or {}).get("rmse")  # noqa: E731
            rows.append((p.parent.name, _f(g(tr, "energy_meV_per_atom"), ".1f"), _f(g(te, "energy_meV_per_atom"), ".1f"),
                         _f(g(tr, "force_meV_per_A"), ".0f"), _f(g(te, "force_meV_per_A"), ".0f"),
                         f"{tr.get('n_structures', '–')} / {te.get('n_structures', '–')}"))
        return _people_table(("generation", "E RMSE train (meV/atom)", "E RMSE test (meV/atom)",
                              "F RMSE train (meV/Å)", "F RMSE test (meV/Å)", "structures train / test"), rows)
    if stage == "validation":
        gate = ctx.get("gate") or {}
        rows = [(html.escape(g.get("generation", "?")),
                 "<span class='pass'>passed</span>" if g.get("status") == "passed" else "<span class='fail'>failed</span>",
                 len(g.get("failed_checks") or []), html.escape(", ".join((g.get("failed_checks") or [])[:3])),
                 _f((g.get("fixed_test") or {}).get("energy_rmse_meV_per_atom"), ".1f"),
                 _f((g.get("fixed_test") or {}).get("force_rmse_meV_per_A"), ".0f"))
                for g in gate.get("generations") or []]
        groups = ((ctx.get("vreport") or {}).get("summary") or {}).get("groups") or {}
        grows = [(html.escape(k), v.get("passed"), v.get("failed")) for k, v in groups.items()]
        return (_people_table(("generation", "verdict", "failed checks", "first failed", "fixed test E RMSE (meV/atom)",
                               "fixed test F RMSE (meV/Å)"), rows)
                + (f"<p>Checks of {html.escape(str(ctx.get('vgen')))} by group:</p>" if grows else "")
                + _people_table(("group", "passed", "failed"), grows)
                + (f"<details><summary>every check of {html.escape(str(ctx.get('vgen')))}</summary>"
                   f"{_validation_table(ctx['vreport'])}</details>" if ctx.get("vreport") else ""))
    if stage == "learning":
        rows = [(g.get("generation"), g.get("candidates"), g.get("selected"), _f((g.get("explore_gamma") or {}).get("max")),
                 _f(g.get("test_energy_rmse_meV_per_atom"), ".1f"), _f(g.get("test_force_rmse_meV_per_A"), ".0f"),
                 "passed" if g.get("validation_passed") else "failed")
                for g in data.get("generations") or [] if isinstance(g, dict)]
        return _people_table(("generation", "candidates", "selected", "max γ explored", "test E RMSE (meV/atom)",
                              "test F RMSE (meV/Å)", "validation"), rows)
    if stage == "simulation":
        d = ctx.get("latest") or data
        rows = [("engine", html.escape(str(d.get("engine")))), ("status", html.escape(str(d.get("status")))),
                ("steps done / asked", f"{d.get('steps_done')} / {campaign.simulation.steps}"),
                ("atoms", d.get("n_atoms")), ("temperature (K)", _f(campaign.simulation.temperature_K, "g")),
                ("max γ", _f(d.get("max_gamma"))), ("wall time (s)", _f(d.get("wall_s"), ".0f")),
                ("speed (atom-steps/s)", _f(d.get("atom_steps_per_s"), ".3g"))]
        regions = (((ctx.get("audit") or {}).get("errors") or {}).get("regions") or {})
        arows = [(html.escape(r), v.get("n_subcells"), _f((v.get("energy_meV_per_atom") or {}).get("rmse"), ".0f"),
                  _f((v.get("force_meV_per_A") or {}).get("rmse"), ".0f")) for r, v in regions.items()]
        return (_people_table(("quantity", "value"), rows)
                + _people_table(("audit region", "subcells", "E RMSE (meV/atom)", "F RMSE (meV/Å)"), arows))
    if stage == "analysis":
        s = data.get("summary") or {}
        layers = ((data.get("phases") or {}).get("layers")) or []
        lrows = [(html.escape(x["phase"]), _f(x["z_top_A"], ".1f"), _f(x["z_bottom_A"], ".1f"), _f(x["thickness_A"], ".1f"))
                 for x in layers]
        net = s.get("net_per_area_per_nm2_final") or {}
        rows = [("time analysed (ps)", " – ".join(_f(t, ".2f") for t in s.get("time_range_ps") or [])),
                ("frames", s.get("n_frames")), ("interphase thickness, final (Å)", _f(s.get("final_thickness_A"), ".2f")),
                ("growth into the metal / electrolyte (Å)",
                 f"{_f(s.get('final_growth_metal_A'), '.2f')} / {_f(s.get('final_growth_electrolyte_A'), '.2f')}"),
                ("growth verdict", html.escape(str(s.get("growth_verdict"))))]
        rows += [(f"net {_sp(k)} transfer, final (atoms nm⁻²)", _f(v, "+.3g")) for k, v in net.items()]
        return (_people_table(("quantity", "value"), rows)
                + _people_table(("layer (metal → electrolyte)", "z top (Å)", "z bottom (Å)", "thickness (Å)"), lrows))
    if stage == "transport":
        fl = ctx.get("fluxes") or {}
        species = sorted({s for r in fl.get("phases") or [] for s in r.get("J", {})})
        frows = []
        for r in fl.get("phases") or []:
            cells = []
            for s in species:
                if s not in r.get("J", {}):
                    cells.append("")
                    continue
                j, e, sg = r["J"][s], (r.get("J_err") or {}).get(s), (r.get("sign") or {}).get(s)
                cells.append(f"{j:+.3g} ± {e:.2g}" + ("" if sg in ("+", "-") else " <i>n.r.</i>") if e is not None else f"{j:+.3g}")
            frows.append((html.escape(r["phase"]), _f(r.get("temperature_K"), ".0f"), *cells))
        lrows = []
        for e in (ctx.get("tsummary") or {}).get("entries") or []:
            if e.get("L"):
                lrows.append((html.escape(e["phase"]), _f(e.get("temperature_K"), ".0f"), html.escape(str(e.get("status"))),
                              _onsager_phrase(e, _not_diffusive(campaign, e, {}))))
            else:
                lrows.append((html.escape(e["phase"]), _f(e.get("temperature_K"), ".0f"),
                              f"<span class='fail'>{html.escape(str(e.get('status')))}</span>",
                              html.escape(str(e.get("error", ""))[:160])))
        dmu = (fl.get("grad_mu_eV_per_A") or {})
        return ((f"<p>∇μ (eV/Å) over an interphase width of {_f(fl.get('interface_width_A'), '.3g')} Å: "
                 + ", ".join(f"{_sp(k)} {v:+.3g}" for k, v in dmu.items()) + "</p>" if dmu else "")
                + _people_table(("phase", "T (K)", *(f"J<sub>{_sp(s)}</sub> (ions Å⁻² ps⁻¹)" for s in species)), frows)
                + "<p class='small'>± σ (block errors); <i>n.r.</i>: not resolved, |J| ≤ 2σ.</p>"
                + _people_table(("phase", "T (K)", "status", "L<sub>ii</sub> (1/(eV Å ps), ± σ)"), lrows))
    return ""


def _viewer_section(campaign, ctx: dict) -> str:
    latest = ctx.get("latest") or {}
    traj = latest.get("trajectory")
    head = '<h2 id="view3d">Interface in 3-D: first and last frame</h2>'
    if not traj:
        return head + "<p class='missing'>No production trajectory (simulation/latest.json names none): the simulation stage has not run.</p>"
    path = Path(traj)
    if not path.is_file():
        return head + f"<p class='missing'>The trajectory {html.escape(_rel(campaign, traj))} named by simulation/latest.json is not on disk.</p>"
    try:
        frames = read_end_frames(path)
    except Exception as exc:  # noqa: BLE001  the page is still written
        return head + f"<p class='missing'>Could not read {html.escape(_rel(campaign, traj))}: {html.escape(str(exc)[:200])}</p>"
    n = frames[0].get("n_frames")
    labels = [f"first frame (step {frames[0]['step']})"] + (
        [f"last frame (step {frames[-1]['step']}{', of ' + str(n) + ' frames' if n else ''})"] if len(frames) > 1 else [])
    ana = ctx.get("analysis")
    other = None
    named = ana.get("trajectory") if ana else None
    if named and path.resolve() not in {Path(named).resolve(), campaign.layout.path(named).resolve()}:
        other = (f"analysis/analysis.json is of {_rel(campaign, named)}, not of the trajectory shown "
                 f"({_rel(campaign, traj)})")
    phases = frame_phases(frames, ana, other)
    return head + viewer_html(frames, labels, "../" + _rel(campaign, traj), phases, viewer_caption(ctx, phases))


def build_report(campaign) -> dict:
    """Write ``<output>/report/index.html`` + ``summary.json``; returns ``{"html": path, "summary": path}``.

    The page opens with the verdict panel (:func:`_verdict`), then the 3-D view of the first and last
    interface frames, then one section per stage: its tables (units in the headers), its figures with
    captions (a missing one is listed with the reason), and the raw numbers in a collapsed block."""
    out_dir = campaign.layout.stage("report")
    summary = collect_summary(campaign)
    ctx = _context(campaign)
    ran = {stage: campaign.layout.stage(stage).is_dir() and bool(_json_files(campaign.layout.stage(stage), names))
           for stage, _, names in SECTIONS}
    figs = _figures(campaign, ctx, ran)
    summary["figures"] = figs.pop("_records")
    parts = [f"<h1>seilab report: {html.escape(campaign.name)}</h1>",
             f"<p class='sub'>{html.escape(campaign.reactants.anode)} / {html.escape(campaign.reactants.electrolyte)} · "
             f"reference: {html.escape(campaign.reference.name)} · output: {html.escape(str(campaign.output))}</p>"]
    parts.append(_verdict(campaign))
    parts.append("<nav><a href='#verdict'>verdict</a><a href='#view3d'>3-D view</a>"
                 + "".join(f'<a href="#{s}">{s}</a>' for s, _, _ in SECTIONS) + "<a href='#walltime'>wall time</a></nav>")
    parts.append(f"<section id='view3d-section'>{_viewer_section(campaign, ctx)}</section>")
    bad = set(unvalidated_stages(campaign))
    summary["unvalidated_stages"] = sorted(bad)
    for stage, title, names in SECTIONS:
        folder = campaign.layout.stage(stage)
        parts.append(f'<h2 id="{stage}">{html.escape(title)}</h2>')
        if stage in bad:
            parts.append("<p class='fail'>UNVALIDATED: every number of this section was computed on a potential "
                         "that did not pass validation.</p>")
        fig_html, missing = figs.get(stage, ([], []))
        files = _json_files(folder, names) if folder.is_dir() else []
        headline = (summary.get("stage_summaries") or {}).get("labelling" if stage == "dataset" else stage)
        if headline:
            parts.append("<p class='src'>the stage's summary (its result, as the runner recorded it)</p>"
                         + _table(_scalars(headline)))
        if not files and not fig_html:
            parts.append('<p class="missing">This stage has not run (no outputs).</p>')
        if files:
            data = provenance.read_json(files[-1])
            rel = files[-1].relative_to(campaign.output)
            parts.append(f'<p class="src">numbers from <code>{html.escape(str(rel))}</code> '
                         f"(<a class='srcl' href='../{html.escape(str(rel))}'>open</a>)</p>")
            try:
                parts.append(_stage_tables(stage, data, ctx, campaign))
            except Exception as exc:  # noqa: BLE001  an unexpected file layout: the raw numbers are still shown
                parts.append(f"<p class='missing'>(summary table not drawn: {html.escape(type(exc).__name__)}: "
                             f"{html.escape(str(exc)[:120])})</p>")
        parts.extend(fig_html)
        if missing:
            parts.append("<div class='missingfigs'><b>Figures missing:</b><ul>" + "".join(missing) + "</ul></div>")
        if files:
            parts.append(f"<details><summary>all numbers of <code>{html.escape(str(rel))}</code> (raw)</summary>"
                         f"{_table(_scalars(data))}</details>")
    if summary.get("wall_time_s"):
        parts.append("<h2 id='walltime'>Wall time per stage</h2>" + _table(
            [(k, f"{v:.1f} s" if isinstance(v, (int, float)) else v) for k, v in summary["wall_time_s"].items()],
            ("stage", "wall time")))
    doc = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>seilab: {html.escape(campaign.name)}"
           f"</title><style>{_CSS}</style><script>{viewer_js()}</script></head><body>{''.join(parts)}</body></html>")
    html_path = provenance.atomic_write_text(out_dir / "index.html", doc)
    summary_path = provenance.write_json(out_dir / "summary.json", summary, provenance.record("report"))
    return {"html": str(html_path), "summary": str(summary_path)}


class ReportResult(DictResult):
    """``{"html": path of index.html, "summary": path of summary.json}``."""

    def summary(self) -> dict:
        return dict(self)


def run_report(campaign, *, progress=None) -> ReportResult:
    """The report stage: :func:`build_report` of whatever ran."""
    paths = ReportResult(build_report(campaign))
    if progress is not None:
        progress(f"report: {paths['html']}")
    return paths


def screenshot(html_path: str | Path, png_path: str | Path, width: int = 1200, height: int = 2400,
               timeout_s: float = 60) -> Path:
    """Render a page with headless Chromium (Debian's ``chromium``) to a PNG; returns the PNG path."""
    import shutil
    import subprocess
    import tempfile

    from seilab.errors import SeilabError

    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        raise SeilabError("chromium not found (apt-get install chromium)")
    png_path = Path(png_path).resolve()
    with tempfile.TemporaryDirectory(prefix="seilab-chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={png_path}", Path(html_path).resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if not png_path.is_file():
        raise SeilabError(f"chromium wrote no screenshot ({proc.stderr.strip().splitlines()[-1:]})")
    return png_path
