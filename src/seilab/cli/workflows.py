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
                                               "downstream number is then marked as unvalidated"),
        analysis_workers: Optional[int] = typer.Option(
            None, "--analysis-workers", help="Dask workers of the analysis stage (analysis.workers; 1 = serial); "
                                             "same numbers, so a finished analysis is not redone"),
        analysis_cluster: Optional[str] = typer.Option(
            None, "--analysis-cluster", help="where they run (analysis.cluster): local, slurm (jobs sized by the "
                                             "campaign's cluster: section) or a scheduler address tcp://host:port")):
    """Run chemistry → sampling → labelling → training → validation → learning → simulation →
    analysis → transport → report, skipping stages that are done: outputs on disk, same settings, and
    the upstream files they read unchanged. One run per output folder at a time (a lock file in
    <output>/.seilab/)."""
    from seilab.config import load_config
    from seilab.errors import SeilabError
    from seilab.workflows.stages import run_campaign

    campaign = load_config(config)
    log_to_file(campaign)
    if allow_unvalidated:
        from seilab.validation.gate import allowing_unvalidated

        campaign = allowing_unvalidated(campaign)
    if analysis_workers is not None or analysis_cluster is not None:
        if engine != "local":
            raise SeilabError("--analysis-workers / --analysis-cluster: only with --engine local (with jobflow set "
                              f"analysis.workers / analysis.cluster in {config}: the jobs read the campaign file)")
        campaign = with_analysis_execution(campaign, analysis_workers, analysis_cluster, str(config))
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
    if any(r.get("stage") == "report" for r in records):  # the campaign's end: the whole of it at a glance
        print_campaign_table(campaign)
    gate = campaign.layout.gate
    if gate.is_file():
        from seilab.provenance import read_json

        accepted = read_json(gate).get("accepted")
        typer.echo(f"potential: {accepted['generation']} accepted (passed every validation check)" if accepted else
                   "potential: none passed validation" + (" — downstream results are marked unvalidated"
                                                          if campaign.gate.allow_unvalidated else ""))
    report = campaign.layout.report_html
    if report.is_file():
        typer.echo(f"report: {report}")


def with_analysis_execution(campaign, workers: int | None, cluster: str | None, source: str = ""):
    """The campaign with ``analysis.workers`` / ``analysis.cluster`` replaced (validated: a bad value is a
    one-line SeilabError naming the field)."""
    from pydantic import ValidationError

    from seilab.settings.base import format_validation_error
    from seilab.errors import SeilabError

    update = {k: v for k, v in (("workers", workers), ("cluster", cluster)) if v is not None}
    try:
        analysis = type(campaign.analysis).model_validate({**campaign.analysis.model_dump(), **update})
    except ValidationError as exc:
        raise SeilabError(format_validation_error(exc, source, section="analysis")) from None
    return campaign.model_copy(update={"analysis": analysis})


def log_to_file(campaign) -> None:
    """Everything the stages log at INFO and above goes to ``<output>/logs/seilab.log`` (appended), not the screen."""
    import logging

    logs = campaign.layout.logs
    logs.mkdir(parents=True, exist_ok=True)
    path = (logs / "seilab.log").resolve()
    logger = logging.getLogger("seilab")
    for old in [h for h in logger.handlers if getattr(h, "seilab_campaign_log", False)]:  # one campaign log at a time
        if old.baseFilename == str(path):
            return
        logger.removeHandler(old)
        old.close()
    handler = logging.FileHandler(path)
    handler.seilab_campaign_log = True
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)


def _fmt(x) -> str:
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def result_line(stage: str, summary: dict) -> str:
    """One line of a stage's result, from the summary its marker holds (``<output>/.seilab/stages/``)."""
    s = summary or {}
    if stage == "chemistry":
        return "products: " + ", ".join(s.get("products") or [])
    if stage == "sampling":
        return f"{s.get('total_frames')} structures in {s.get('files')} files"
    if stage == "labelling":
        return f"{s.get('labelled')} labelled, {s.get('failed')} failed, {s.get('total_structures')} in the store"
    if stage == "training":
        e, f = s.get("test_energy_meV_per_atom"), s.get("test_force_meV_per_A")
        e = e.get("rmse") if isinstance(e, dict) else e
        f = f.get("rmse") if isinstance(f, dict) else f
        return f"{s.get('generation')}: test RMSE E {_fmt(e)} meV/atom, F {_fmt(f)} meV/Å"
    if stage == "validation":  # the first fit; the learning stage validates the later generations
        return "first fit (gen000): " + ("passed" if s.get("passed") else "failed")
    if stage == "learning":
        return (f"{s.get('generations')} generations ({s.get('stop_reason')}), accepted: "
                f"{s.get('accepted_potential') or 'none'}")
    if stage == "simulation":
        return f"{s.get('engine')}, {s.get('n_atoms')} atoms: {s.get('status')} at step {s.get('steps_done')}"
    if stage == "analysis":
        verdict = s.get("growth_verdict") or f"no growth fit ({s.get('n_frames')} frames: too few)"
        line = f"{verdict}, thickness {_fmt(s.get('final_thickness_A'))} Å"
        if s.get("growth_verdict") == "one regime" and s.get("single_exponent") is not None:
            line += f", n = {_fmt(s['single_exponent'])} ± {_fmt(s.get('single_exponent_err'))}"
        return line
    if stage == "transport":
        failed = s.get("failed") or []
        return f"{s.get('runs')} runs, {len(failed)} failed" + ("" if s.get("validated", True) else ", UNVALIDATED")
    if stage == "report":
        return str(s.get("html", ""))
    return ", ".join(f"{k} {_fmt(v)}" for k, v in list(s.items())[:3] if not isinstance(v, (dict, list)))


def print_campaign_table(campaign) -> None:
    """The campaign at a glance: every stage that has run (in pipeline order), its time and one-line result."""
    from rich.console import Console
    from rich.table import Table

    from seilab.layout import STAGE_ORDER
    from seilab.provenance import read_json

    folder = campaign.layout.markers
    table = Table(title=f"campaign {campaign.name}")
    for col in ("stage", "time (s)", "result"):
        table.add_column(col, justify="right" if col == "time (s)" else "left")
    rows = 0
    for name in STAGE_ORDER:
        path = folder / f"{name}.json"
        if not path.is_file():
            continue
        rec = read_json(path)
        table.add_row(name, f"{rec.get('seconds', 0):.0f}", result_line(name, rec.get("summary") or {}))
        rows += 1
    if rows:
        Console(width=120).print(table)
