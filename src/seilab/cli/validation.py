"""Typer-compatible command of the validation stage: ``seilab validate CONFIG``."""

from __future__ import annotations

from pathlib import Path

import typer


def validate(config: Path = typer.Argument(..., help="campaign YAML", show_default=False)):
    """Validate the newest potential against the reference: test errors, binding curves, EOS, RDF,
    stability screening. Writes <output>/validation/<generation>/report.json and figures; exits
    with status 1 when a check fails.
    """
    from seilab.config import load_config
    from seilab.validation.stage import run_validation

    campaign = load_config(config)
    report = run_validation(campaign, progress=typer.echo)
    print_report(report)
    typer.echo(f"report: {report['path']}")
    if not report["passed"]:
        raise typer.Exit(code=1)


def print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=140)
    t = Table(title=f"validation of {report['potential'].get('generation') or report['potential']['yaml']}: "
                    f"{'PASSED' if report['passed'] else 'FAILED'}")
    for col in ("check", "result", "detail"):
        t.add_column(col)
    for c in report["checks"]:
        result = "pass" if c["passed"] else ("[yellow]advisory[/yellow]" if c.get("advisory") else "[red]FAIL[/red]")
        t.add_row(c["name"], result, str(c.get("message", ""))[:90])
    console.print(t)
    eos = report.get("results", {}).get("eos")
    if eos:
        e = Table(title="Equations of state (Birch–Murnaghan)")
        for col in ("phase", "V0 model", "V0 ref (Å³/atom)", "B0 model", "B0 ref (GPa)", "B0' model", "B0' ref"):
            e.add_column(col)
        for name, r in eos.items():
            m, f = r["model"], r["reference"]
            fmt = lambda d, k, p: f"{d[k]:.{p}f}" if k in d else "—"  # noqa: E731
            e.add_row(name, fmt(m, "V0_A3", 2), fmt(f, "V0_A3", 2), fmt(m, "B0_GPa", 1), fmt(f, "B0_GPa", 1),
                      fmt(m, "B0p", 2), fmt(f, "B0p", 2))
        console.print(e)
    for s in report.get("skipped", []):
        console.print(f"skipped {s['what']}: {s['reason']}")
