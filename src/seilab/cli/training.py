"""Typer-compatible command of the training stage: ``seilab train CONFIG``."""

from __future__ import annotations

from pathlib import Path

import typer


def train(config: Path = typer.Argument(..., help="campaign YAML", show_default=False)):
    """Fit the ACE potential (pacemaker, or linear ACE) on the labelled dataset; resume or skip when possible.

    Writes <output>/training/<generation>/{potential.yaml, potential.yace, potential.asi,
    metrics.json, parity.png} and prints the train/test errors.
    """
    from seilab.config import load_config
    from seilab.training.stage import run_training

    campaign = load_config(config)
    result = run_training(campaign, progress=typer.echo)
    print_metrics(result.metrics, title=f"{campaign.name} {result.generation}"
                  + (" (unchanged, skipped)" if result.skipped else ""))
    typer.echo(f"potential: {result.potential.yaml}")


def print_metrics(metrics: dict, title: str = "") -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{title}: errors (energy meV/atom, force meV/Å)")
    for col in ("set", "structures", "E RMSE", "E MAE", "F RMSE", "F MAE"):
        t.add_column(col)
    for name in ("train", "test"):
        m = metrics.get(name)
        if not m:
            continue
        e, f = m["energy_meV_per_atom"], m["force_meV_per_A"]
        t.add_row(name, str(m["n_structures"]), f"{e['rmse']:.1f}", f"{e['mae']:.1f}", f"{f['rmse']:.0f}",
                  f"{f['mae']:.0f}")
    Console(width=120).print(t)
