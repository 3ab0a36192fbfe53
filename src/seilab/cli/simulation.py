"""Typer-compatible command of the simulation stage: ``seilab simulate CONFIG``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def simulate(
    config: Path = typer.Argument(..., help="campaign YAML", show_default=False),
    potential: Optional[Path] = typer.Option(
        None, "--potential", help="ACE potential (.yaml with .asi/.yace beside it); default: the campaign's "
                                  "accepted potential (the best one that passed validation)"),
    n_atoms: Optional[int] = typer.Option(None, "--n-atoms", help="override simulation.n_atoms"),
    steps: Optional[int] = typer.Option(None, "--steps", help="override simulation.steps"),
    engine: Optional[str] = typer.Option(None, "--engine", help="override simulation.engine (lammps | ase)"),
    mpi_ranks: Optional[int] = typer.Option(None, "--mpi-ranks", help="override simulation.mpi_ranks"),
    allow_unvalidated: bool = typer.Option(
        False, "--allow-unvalidated", help="run even when no potential passed validation (results marked)"),
):
    """Build the Li/electrolyte interface at simulation.n_atoms and run NpT MD (LAMMPS ML-PACE or ASE).

    Rerunning the same command after a kill resumes from the newest restart file. Writes
    <output>/simulation/{interface_<N>.extxyz, run-<engine>-<hash>/{thermo.csv, dump.lammpstrj, ...}}.
    """
    from pydantic import ValidationError

    from seilab.config import load_config
    from seilab.errors import SeilabError
    from seilab.settings.simulation import SimulationSettings
    from seilab.simulation.stage import run_simulation

    campaign = load_config(config)
    if allow_unvalidated:
        from seilab.validation.gate import allowing_unvalidated

        campaign = allowing_unvalidated(campaign)
    overrides = {k: v for k, v in {"n_atoms": n_atoms, "steps": steps, "engine": engine,
                                   "mpi_ranks": mpi_ranks}.items() if v is not None}
    settings = campaign.simulation
    if overrides:
        try:
            settings = SimulationSettings(**{**settings.model_dump(), **overrides})
        except ValidationError as exc:
            from seilab.settings.base import format_validation_error

            raise SeilabError(format_validation_error(exc, section="simulation")) from None
    result = run_simulation(campaign, potential=potential, progress=typer.echo, settings=settings)
    print_result(result)


def print_result(result) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"MD ({result.engine}): {result.status}")
    t.add_column("quantity")
    t.add_column("value")
    rows = [("atoms", f"{result.n_atoms:,}"), ("steps done", f"{result.steps_done:,}"),
            ("segments (1 + resumes)", str(result.segments)),
            ("atom-steps/s", f"{result.atom_steps_per_s:,.0f}" if result.atom_steps_per_s else "-"),
            ("wall time (s)", f"{result.wall_s:.1f}"),
            ("max γ", f"{result.max_gamma:.3g}" if result.max_gamma is not None else "-"),
            ("thermo", str(result.thermo)), ("trajectory", str(result.trajectory)),
            ("restart", str(result.restart) if result.restart else "-")]
    if result.extrapolative:
        rows.append(("extrapolative frames", str(result.extrapolative)))
    if result.info.get("lammps_version"):
        rows.append(("LAMMPS", f"{result.info['lammps_version']} ({' '.join(result.info.get('lammps_packages') or [])})"))
    for k, v in rows:
        t.add_row(k, v)
    Console(width=140).print(t)
