"""Build ``<output>/report/index.html`` and ``summary.json`` from the stages' artefacts."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from seilab import provenance

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
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;
background:#fff;line-height:1.45}h1{border-bottom:3px solid #c0392b;padding-bottom:.3rem}h2{margin-top:2.2rem;
border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}td,th{border:1px solid #ddd;
padding:.25rem .6rem;text-align:left}th{background:#f4f4f4}figure{display:inline-block;margin:.5rem;vertical-align:top;
max-width:520px}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.8rem;color:#555}
.missing{color:#999;font-style:italic}.src{font-size:.8rem;color:#555;margin:.2rem 0}.pass{color:#1e8449;font-weight:bold}.fail{color:#c0392b;font-weight:bold}
nav a{margin-right:.8rem}"""


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    cap = html.escape(str(path.relative_to(path.parents[1]) if len(path.parents) > 1 else path.name))
    return f'<figure><img alt="{cap}" src="data:image/png;base64,{data}"><figcaption>{cap}</figcaption></figure>'


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
            f"{rows}</table><table><tr><th>phase</th><th>formula</th><th>origin</th><th>E<sub>f</sub> (eV/atom)</th>"
            f"<th>E<sub>hull</sub> (eV/atom)</th></tr>{hull}</table>"
            + (f"<p>Chemical-potential distance anode − electrolyte: {cp['distance_eV']:.3f} eV ({dmu})</p>"
               if "distance_eV" in cp else ""))


def _validation_table(report: dict) -> str:
    checks = report.get("checks") or report.get("results") or []
    if isinstance(checks, dict):
        checks = [{"name": k, **(v if isinstance(v, dict) else {"passed": v})} for k, v in checks.items()]
    rows = []
    for c in checks:
        if not isinstance(c, dict):
            continue
        ok = c.get("passed", c.get("pass"))
        cls, word = (("pass", "pass") if ok else ("", "advisory: not met") if c.get("advisory")
                     else ("fail", "FAIL") if ok is not None else ("", "skipped"))
        rows.append(f"<tr><td>{html.escape(str(c.get('name', c.get('check', '?'))))}</td>"
                    f"<td class='{cls}'>{word}</td><td>{html.escape(str(c.get('detail', c.get('message', ''))))[:200]}</td></tr>")
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
        data = _read(campaign.output / rel) or {}
        if (data.get("potential_gate") or {}).get("validated") is False:
            out.append(stage)
    return out


def _verdict(campaign) -> str:
    """The panel the report opens with: was the potential accepted, its errors per kind, the products,
    the audit, and warnings."""
    gate = _read(campaign.stage_dir("validation") / "gate.json")
    rows, warn, best = [], [], None
    if gate is None:
        rows.append(("potential", "<span class='missing'>not validated yet</span>"))
    elif gate.get("accepted"):
        acc = gate["accepted"]
        rows.append(("potential", f"<span class='pass'>{html.escape(acc['generation'])} accepted</span> "
                                  f"(every check of <code>{html.escape(_rel(campaign, acc['report']))}</code> passed)"))
    else:
        best = gate.get("best")  # ranked by the gate (seilab.validation.gate)
        names = ", ".join(best["failed_checks"][:8]) if best else ""
        rows.append(("potential", f"<span class='fail'>none passed validation</span>"
                     + (f"; best {html.escape(best['generation'])} failed {len(best['failed_checks'])} checks: "
                        f"{html.escape(names)}" if best else "")))
    shown = (gate or {}).get("accepted") or best
    shown_report = _read(Path(shown["report"])) if shown and shown.get("report") else None
    test = ((shown_report or {}).get("results") or {}).get("metrics", {}).get("test") if shown_report else None
    if test:
        kinds = "; ".join(f"{html.escape(k)} {v['energy_meV_per_atom']['rmse']:.0f} / {v['force_meV_per_A']['rmse']:.0f}"
                          for k, v in sorted((test.get("by_kind") or {}).items()))
        rows.append((f"{shown['generation']} test RMSE E / F (meV/atom / meV/Å)",
                     f"all {test['energy_meV_per_atom']['rmse']:.1f} / {test['force_meV_per_A']['rmse']:.0f}; {kinds}"))
    advisory = ((shown_report or {}).get("summary") or {}).get("advisory_failed")
    if advisory:
        rows.append(("advisory checks not met (reported, not gating)", html.escape(", ".join(advisory))))
    reaction = _read(campaign.stage_dir("chemistry") / "reaction.json")
    if reaction:
        inner = [k for k in reaction.get("kinks", []) if 0 < k["x_anode"] < 1]
        if inner:
            rows.append(("tie-line products (anode-rich end)", html.escape(" + ".join(inner[-1]["products"]))))
    run = _read(campaign.stage_dir("simulation") / "latest.json")
    if run and run.get("status"):
        what = f"{html.escape(str(run['status']))} at step {run.get('steps_done')} of {campaign.simulation.steps}"
        if run["status"] == "halted":
            what = f"<span class='fail'>{what}</span> (the γ watch: the model extrapolates; see the audit)"
        rows.append(("production run", what))
    audit = _read(campaign.stage_dir("simulation") / "audit.json")
    regions = ((audit or {}).get("errors") or {}).get("regions") or {}
    if any(v.get("n_subcells") for v in regions.values()):
        rows.append(("audit on the production run: E / F RMSE (meV/atom / meV/Å)", "; ".join(
            f"{html.escape(r)} {v['energy_meV_per_atom']['rmse']:.0f} / {v['force_meV_per_A']['rmse']:.0f} "
            f"(n={v['n_subcells']})" for r, v in regions.items() if v.get("n_subcells"))))
        warn += [html.escape(w) for w in audit.get("warnings") or []]
    bad = unvalidated_stages(campaign)
    if bad:
        warn.append(f"{', '.join(bad)}: computed on a potential that did NOT pass validation "
                    "(gate.allow_unvalidated); treat every number there as unvalidated")
    # values are HTML built above (their data escaped there)
    body = "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"
    if warn:
        body += "<ul class='fail'>" + "".join(f"<li>{w}</li>" for w in warn) + "</ul>"
    for rel in ("learning/learning_curve.png", "simulation/audit.png"):
        if (campaign.output / rel).is_file():
            body += _img(campaign.output / rel)
    return '<h2 id="verdict">Verdict</h2>' + body


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
        folder = campaign.output / stage
        files = _json_files(folder, names) if folder.is_dir() else []
        if not files:
            continue
        data = provenance.load_json(files[-1])
        if data is None:
            continue
        out["stages"][stage] = {"file": str(files[-1].relative_to(campaign.output)),
                                "numbers": dict(_scalars(data, limit=60))}
    markers = campaign.output / ".seilab" / "stages"
    if markers.is_dir():
        from seilab.layout import STAGE_ORDER

        order = list(STAGE_ORDER)
        found = sorted(markers.glob("*.json"),
                       key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.stem))
        out["wall_time_s"] = {p.stem: json.loads(p.read_text()).get("seconds") for p in found}
    return out


def build_report(campaign) -> dict:
    """Write ``<output>/report/index.html`` + ``summary.json``; returns ``{"html": path, "summary": path}``."""
    out_dir = campaign.output / "report"
    summary = collect_summary(campaign)
    parts = [f"<h1>seilab report: {html.escape(campaign.name)}</h1>",
             f"<p>{html.escape(campaign.reactants.anode)} / {html.escape(campaign.reactants.electrolyte)} · "
             f"reference: {html.escape(campaign.reference.name)} · output: {html.escape(str(campaign.output))}</p>",
             "<nav><a href='#verdict'>verdict</a>" + "".join(f'<a href="#{s}">{s}</a>' for s, _, _ in SECTIONS)
             + "</nav>"]
    parts.append(_verdict(campaign))
    bad = set(unvalidated_stages(campaign))
    summary["unvalidated_stages"] = sorted(bad)
    if summary.get("wall_time_s"):
        parts.append("<h2>Wall time per stage</h2>" + _table(
            [(k, f"{v:.1f} s" if isinstance(v, (int, float)) else v) for k, v in summary["wall_time_s"].items()],
            ("stage", "wall time")))
    for stage, title, names in SECTIONS:
        folder = campaign.output / stage
        parts.append(f'<h2 id="{stage}">{html.escape(title)}</h2>')
        if stage in bad:
            parts.append("<p class='fail'>UNVALIDATED: every number of this section was computed on a potential "
                         "that did not pass validation.</p>")
        pngs = sorted(folder.rglob("*.png")) if folder.is_dir() else []
        files = _json_files(folder, names) if folder.is_dir() else []
        if not pngs and not files:
            parts.append('<p class="missing">This stage has not run (no outputs).</p>')
            continue
        if files:
            data = provenance.read_json(files[-1])
            rel = files[-1].relative_to(campaign.output)
            parts.append(f'<p class="src">numbers from <code>{html.escape(str(rel))}</code></p>')
            if stage == "chemistry":
                parts.append(_reaction_table(data))
            elif stage == "validation":
                parts.append(_validation_table(data) or _table(_scalars(data)))
            else:
                parts.append(_table(_scalars(data)))
        parts.extend(_img(p) for p in pngs[:40])
    doc = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>seilab: {html.escape(campaign.name)}"
           f"</title><style>{_CSS}</style></head><body>{''.join(parts)}</body></html>")
    html_path = provenance.atomic_write_text(out_dir / "index.html", doc)
    summary_path = provenance.write_json(out_dir / "summary.json", summary, provenance.record("report"))
    return {"html": str(html_path), "summary": str(summary_path)}


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
