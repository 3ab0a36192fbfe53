"""Typer-compatible command of the learning stage: ``seilab learn CONFIG``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def learn(config: Path = typer.Argument(..., help="campaign YAML", show_default=False),
          harvest: Optional[list[Path]] = typer.Option(
              None, "--harvest", help="a production trajectory or γ dump (LAMMPS text dump or extxyz; repeatable) "
                                      "whose frames give candidates: subcells around its atoms in the γ window",
              show_default=False)):
    """Active learning: MD with the model, per-atom extrapolation grade γ, ~100-atom subcells of the
    interface frames, D-optimal selection (pace_select), reference labels, refit, validation;
    generation after generation until converged. Resumes where it stopped.

    Harvest: after `seilab simulate` halted on γ (learning.harvest_production: true, the default) or with
    --harvest PATH, the production frames' subcells join the candidates of the next generation; when the
    loop has stopped already, that is one extra generation (beyond max_generations too). A file harvested
    by an earlier generation (same bytes) is not harvested again. Use this, not `seilab run --force
    learning` (which moves every generation aside and starts over).

    Writes <output>/learning/{state.json, learning.json, gen001/, ...} and prints one row per generation.
    """
    from seilab.config import load_config
    from seilab.learning.stage import run_learning

    campaign = load_config(config)
    result = run_learning(campaign, progress=typer.echo, harvest=harvest or None)
    print_generations(result)
    typer.echo(f"stopped: {result['stop_reason']}; summary: {result['path']}")


def _f(v, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def print_generations(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="active learning (γ of the exploration MD run with the previous generation's model)")
    for col in ("gen", "fitted", "MD", "dataset", "cand.", "sel.", "prod. c/s", "E RMSE", "F RMSE", "F RMSE fixed",
                "loss", "γ max", "γ mean", "γ>1 %", "γ>1 % after refit", "valid."):
        t.add_column(col)
    for g in result["generations"]:
        ex = g.get("explore_gamma") or {}
        ra = g.get("reassess_gamma") or {}
        md = (g.get("explore_engine") or "—") + (f" {g['explore_interface_atoms']:,}" if g.get("explore_interface_atoms")
                                                 else "")
        t.add_row(str(g["generation"]), str(g.get("training_generation") or "—"), md, _f(g.get("dataset_size"), "d"),
                  _f(g.get("candidates"), "d"), _f(g.get("selected"), "d"),
                  f"{(g.get('candidates_per_source') or {}).get('production', 0)}/"
                  f"{(g.get('selected_per_source') or {}).get('production', 0)}" if g.get("harvest") else "—",
                  _f(g.get("test_energy_rmse_meV_per_atom"), ".1f"), _f(g.get("test_force_rmse_meV_per_A"), ".0f"),
                  _f(g.get("fixed_test_force_rmse_meV_per_A"), ".0f"), _f(g.get("loss"), ".3g"),
                  _f(ex.get("max"), ".3g"), _f(ex.get("mean"), ".3g"),
                  _f(None if ex.get("frac_gt_1") is None else 100 * ex["frac_gt_1"], ".1f"),
                  _f(None if ra.get("frac_gt_1") is None else 100 * ra["frac_gt_1"], ".1f"),
                  {True: "pass", False: "fail", None: "—"}[g.get("validation_passed")])
    t.caption = ("E/F RMSE: meV/atom, meV/Å on the training stage's test set (it grows with the data); F RMSE "
                 "fixed: on the starting potential's test set; MD: exploration engine and interface atoms; γ>1 %: "
                 "share of atoms extrapolating; prod. c/s: candidates / selected cut from a harvested production run")
    Console(width=150).print(t)
