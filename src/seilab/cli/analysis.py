"""``seilab analyze TRAJECTORY``: the typer command function (registered by seilab.cli).

Declared with ``Annotated`` so the function is also an ordinary Python function with real
defaults (``analyze(Path("dump.lammpstrj"), type_map="Li,P,S")``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seilab.errors import SeilabError

__all__ = ["analyze", "load_analysis_settings", "load_analysis_resources"]


def growth_line(sm: dict) -> str:
    """One line on the growth fit of an analysis summary: only what the fit supports (see analysis.growth)."""
    v = sm["growth_verdict"]
    if v == "two regimes":
        lo, hi = sm["crossover_interval_ps"]
        return (f"two regimes: fast n = {sm['fast_exponent']:.2f} ± {sm['fast_exponent_err']:.2f}, slow n = "
                f"{sm['slow_exponent']:.2f} ± {sm['slow_exponent_err']:.2f}, crossover {sm['crossover_time_ps']:.3g} ps "
                f"({lo:.3g}–{hi:.3g})")
    if v == "one regime":
        return f"one regime: n = {sm['single_exponent']:.2f} ± {sm['single_exponent_err']:.2f}"
    return f"no growth detected (single power law n = {sm['single_exponent']:.2f} ± {sm['single_exponent_err']:.2f})"

def load_analysis_settings(path: Path | None = None, **overrides):
    """AnalysisSettings from a YAML file (its ``analysis:`` section, or the whole mapping) plus
    non-None ``overrides``; every problem is a one-line :class:`SeilabError` naming file and field."""
    from pydantic import ValidationError

    from seilab.settings.base import read_yaml
    from seilab.settings.analysis import AnalysisSettings

    data: dict = {}
    source = "analysis settings"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise SeilabError(f"{path}: settings file not found")
        raw = read_yaml(path) or {}  # one-line errors; a key given twice is refused
        if not isinstance(raw, dict):
            raise SeilabError(f"{path}: expected a mapping")
        data = dict(raw.get("analysis", raw) or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return AnalysisSettings(**data)
    except ValidationError as exc:
        from seilab.settings.base import format_validation_error

        raise SeilabError(format_validation_error(exc, source, section="analysis")) from None


def load_analysis_resources(path: Path | None):
    """The analysis stage's :class:`~seilab.settings.cluster.StageResources` from a campaign file's ``cluster:``
    section (None for a bare settings mapping, whose ``cluster`` key is the analysis field)."""
    if path is None:
        return None
    from pydantic import ValidationError

    from seilab.settings.base import format_validation_error, read_yaml
    from seilab.settings.cluster import ClusterSettings

    raw = read_yaml(Path(path)) or {}
    if not isinstance(raw, dict) or "analysis" not in raw or not isinstance(raw.get("cluster"), dict):
        return None
    try:
        return ClusterSettings(**raw["cluster"]).for_stage("analysis")
    except ValidationError as exc:
        raise SeilabError(format_validation_error(exc, str(path), section="cluster")) from None


def analyze(
    trajectory: Annotated[
        Path, typer.Argument(help="LAMMPS dump (dump custom text) or extxyz trajectory", show_default=False)
    ],
    type_map: Annotated[
        Optional[str],
        typer.Option("--type-map", help="LAMMPS type -> element, in type order, comma separated (e.g. Li,P,S)"),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder")] = Path("analysis"),
    stride: Annotated[Optional[int], typer.Option("--stride", help="analyse every n-th frame")] = None,
    start: Annotated[Optional[int], typer.Option("--start", help="first frame (0-based)")] = None,
    stop: Annotated[Optional[int], typer.Option("--stop", help="stop before this frame")] = None,
    timestep_fs: Annotated[Optional[float], typer.Option("--timestep-fs", help="MD timestep (fs)")] = None,
    bin_width: Annotated[Optional[float], typer.Option("--bin-width", help="z bin width (Å)")] = None,
    interface_z: Annotated[
        Optional[float],
        typer.Option("--interface-z", help="initial interface position along the normal (Å); default: found"),
    ] = None,
    structure_every: Annotated[
        Optional[int],
        typer.Option("--structure-every", help="coordination / phases / crystals on every n-th analysed frame"),
    ] = None,
    settings: Annotated[
        Optional[Path],
        typer.Option(
            "--settings", help="YAML with analysis settings (a campaign file's `analysis:` section or a bare mapping)"
        ),
    ] = None,
    workers: Annotated[
        Optional[int],
        typer.Option("--workers", help="Dask worker processes analysing frames in parallel, one thread each "
                     "(default 1: serial, no Dask); the numbers are the serial ones"),
    ] = None,
    cluster: Annotated[
        Optional[str],
        typer.Option("--cluster", help="where the workers run: local (a LocalCluster here, the default), slurm "
                     "(a SLURMCluster: one job per worker, sized by the --settings campaign file's cluster: "
                     "section), or a running scheduler's address (tcp://host:8786)"),
    ] = None,
    tasks_per_worker: Annotated[
        Optional[int],
        typer.Option("--tasks-per-worker", help="frames in flight per worker thread (bounds memory; default 2)"),
    ] = None,
    cluster_timeout: Annotated[
        Optional[float],
        typer.Option("--cluster-timeout", help="seconds to wait for the workers to connect (default 300)"),
    ] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", help="lammps-dump | extxyz (default: detect)")] = None,
    no_figures: Annotated[bool, typer.Option("--no-figures", help="skip the PNG figures")] = False,
    partial: Annotated[
        bool,
        typer.Option(
            "--partial",
            help="accept a trajectory whose last frame is cut off (run still going or killed): analyse the "
            "complete frames and mark the result partial",
        ),
    ] = False,
) -> None:
    """Interphase analysis of a trajectory: growth regimes, ionic flux, coordination, phases, Li2S crystals.

    Writes OUT/analysis.json (with provenance) and OUT/*.png, swapped in only when all are written.
    """
    from seilab.analysis.pipeline import analyze_trajectory

    tm = None
    if type_map is not None:
        tm = [x.strip() for x in type_map.replace(" ", ",").split(",") if x.strip()]
        if not tm:
            raise SeilabError("--type-map: give element symbols in type order, e.g. Li,P,S")
    s = load_analysis_settings(
        settings,
        type_map=tm,
        stride=stride,
        start_frame=start,
        stop_frame=stop,
        timestep_fs=timestep_fs,
        bin_width_A=bin_width,
        interface_position_A=interface_z,
        structure_every=structure_every,
        figures=False if no_figures else None,
        workers=workers,
        cluster=cluster,
        tasks_per_worker=tasks_per_worker,
        cluster_timeout_s=cluster_timeout,
    )
    resources = load_analysis_resources(settings) if s.cluster == "slurm" else None
    result = analyze_trajectory(trajectory, s, out_dir=out, fmt=fmt, partial=partial, resources=resources)
    sm = result.summary()
    where = f" on {s.workers} Dask worker{'s' if s.workers != 1 else ''} ({s.cluster})" if s.uses_dask else ""
    typer.echo(f"analysed {sm['n_frames']} frames of {sm['n_atoms']} atoms from {trajectory}{where}")
    if result.partial:
        typer.echo(f"partial result: {result.partial_reason}")
    if sm["final_thickness_A"] is not None:
        typer.echo(
            f"interphase thickness at the end: {sm['final_thickness_A']:.1f} Å "
            f"(into metal {sm['final_growth_metal_A']:.1f}, into electrolyte {sm['final_growth_electrolyte_A']:.1f})"
        )
    if sm["growth_verdict"] is not None:
        typer.echo(f"growth: {growth_line(sm)}")
    if sm["layer_sequence"]:
        typer.echo("layers (metal -> electrolyte): " + " / ".join(sm["layer_sequence"]))
    for note in result.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {Path(out) / 'analysis.json'}")
