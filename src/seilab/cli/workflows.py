"""``seilab run``: the whole campaign, skipping stages that are already done."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def run(config: Path = typer.Argument(..., help="campaign YAML", show_default=False),
        until: Optional[str] = typer.Option(None, help="stop after this stage"),
        only: Optional[list[str]] = typer.Option(None, help="run only these stages (repeatable)"),
        force: Optional[list[str]] = typer.Option(
            None, help="redo these stages from nothing, caches included (repeatable); their previous results "
                       "are moved to <output>/.seilab/previous/, not deleted"),
        engine: str = typer.Option("local", help="'local' (in-process) or 'jobflow' (run_locally)"),
        allow_unvalidated: bool = typer.Option(
            False, "--allow-unvalidated", help="run the simulation and transport stages even when no potential "
                                               "passed validation (same as gate.allow_unvalidated: true); every "
                                               "downstream number is then marked as unvalidated")):
    """Run chemistry → sampling → labelling → training → validation → learning → simulation →
    analysis → transport → report, skipping stages that are done: outputs on disk, same settings, and
    the upstream files they read unchanged. One run per output folder at a time (a lock file in
    <output>/.seilab/)."""
    from seilab.config import load_config
    from seilab.errors import SeilabError
    from seilab.workflows.stages import run_campaign

    campaign = load_config(config)
    if allow_unvalidated:
        from seilab.validation.gate import allowing_unvalidated

        campaign = allowing_unvalidated(campaign)
    if engine == "local":
        records = run_campaign(campaign, only=only, until=until, force=force or [], progress=typer.echo)
    elif engine == "jobflow":
        from seilab.workflows.flows import run_flow_locally

        if force:
            raise SeilabError("--force: only with --engine local (the jobflow jobs skip finished stages)")
        if allow_unvalidated and not load_config(config).gate.allow_unvalidated:
            raise SeilabError("--allow-unvalidated: with --engine jobflow set gate.allow_unvalidated: true in "
                              f"{config} (the jobs read the campaign file)")

        records = run_flow_locally(config, only=only, until=until)
    else:
        raise SeilabError(f"--engine: must be 'local' or 'jobflow', not {engine!r}")
    total = sum(r.get("seconds", 0) for r in records if not r.get("skipped"))
    typer.echo(f"campaign {campaign.name}: {len(records)} stages, {total:.0f} s of work; outputs in {campaign.output}")
    gate = campaign.stage_dir("validation") / "gate.json"
    if gate.is_file():
        from seilab.provenance import read_json

        accepted = read_json(gate).get("accepted")
        typer.echo(f"potential: {accepted['generation']} accepted (passed every validation check)" if accepted else
                   "potential: none passed validation" + (" — downstream results are marked unvalidated"
                                                          if campaign.gate.allow_unvalidated else ""))
    report = campaign.output / "report" / "index.html"
    if report.is_file():
        typer.echo(f"report: {report}")
