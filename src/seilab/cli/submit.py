"""``seilab submit``: the campaign flow into jobflow-remote's queue, for a worker of a project."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def submit(config: Path = typer.Argument(..., help="campaign YAML (its output folder must be visible to the worker)",
                                         show_default=False),
           project: Optional[str] = typer.Option(None, "--project", "-p",
                                                 help="jobflow-remote project (default: jobflow-remote's current one)"),
           worker: Optional[str] = typer.Option(None, "--worker", "-w", help="worker of the project (default: its first)"),
           until: Optional[str] = typer.Option(None, help="stop after this stage"),
           only: Optional[list[str]] = typer.Option(None, help="submit only these stages (repeatable)")):
    """Submit the campaign as a jobflow flow with jobflow-remote: one job per stage (labelling fans out into
    one job per batch of structures), each asking the batch system for the resources of the campaign's
    `cluster:` section. Then `jf runner start` runs them and `jf job list` follows them; finished stages
    are skipped, as with `seilab run`. Example project file: examples/jobflow-remote-project.yaml."""
    from seilab.workflows.flows import submit_campaign

    ids = submit_campaign(config, project=project, worker=worker, only=only, until=until)
    typer.echo(f"submitted {len(ids)} jobs (ids {ids[0]}…{ids[-1]}); start the runner with `jf runner start`"
               if ids else "submitted nothing")
