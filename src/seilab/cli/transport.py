"""CLI command: ``seilab transport TRAJECTORY --temperature K --timestep-ps DT --out DIR``.

Registered by :mod:`seilab.cli` (``app.command("transport")(transport)``). Computes the Onsager
matrix with block-averaged error bars from an unwrapped trajectory and writes

* ``DIR/onsager.json``  — L, L_err (with Student-t intervals and the block samples), self/distinct parts,
  D_self, fit window, the per-species diffusive check and ``status``, units, thinned curves and
  a provenance record;
* ``DIR/onsager.png``   — displacement cross-correlations with the fit window, and L;
* ``DIR/fluxes.json``   — only with ``--grad-mu``: J_i = -Σ_j L_ij ∇μ_j (positive toward the metal).

Errors are :class:`~seilab.errors.SeilabError` (one line naming the field or file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seilab.errors import SeilabError


def _parse_window(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        a, b = (float(x) for x in text.replace(":", ",").split(","))
    except ValueError:
        raise SeilabError(f"--fit-window: expected START,END in ps, got {text!r}") from None
    return a, b


def _parse_grad_mu(text: str | None) -> dict[str, float] | None:
    if text is None:
        return None
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        try:
            k, v = item.split("=")
            out[k.strip()] = float(v)
        except ValueError:
            raise SeilabError(f"--grad-mu: expected SPECIES=VALUE,... in eV/Angstrom, got {item!r}") from None
    return out


def frames_needed(n_blocks: int) -> int:
    """Fewest frames ``seilab transport`` accepts: the estimator's minimum and 4 per error block."""
    from seilab.transport.onsager import MIN_FRAMES

    return max(MIN_FRAMES, 4 * max(int(n_blocks), 1))


def _check_frames(trajectory: Path, n_frames: int, n_blocks: int, stride: int) -> None:
    need = frames_needed(n_blocks)
    if n_frames >= need:
        return
    from seilab.transport.onsager import MIN_FRAMES

    why = f" ({MIN_FRAMES}, and 4 per block with --n-blocks {n_blocks})" if 4 * n_blocks > MIN_FRAMES else ""
    fixes = ["a longer run"] + ([f"a smaller --stride (now {stride})"] if stride > 1 else []) \
        + (["fewer --n-blocks"] if 4 * n_blocks > MIN_FRAMES else [])
    raise SeilabError(f"{trajectory}: {n_frames} frame{'s' if n_frames != 1 else ''}"
                      f"{f' after --stride {stride}' if stride > 1 else ''}, the Onsager estimator needs at least "
                      f"{need}{why}; use {' or '.join(fixes)}")


def transport(
    trajectory: Annotated[Path, typer.Argument(help="Unwrapped trajectory: extxyz or ASE .traj.")],
    temperature: Annotated[float, typer.Option("--temperature", help="Temperature of the MD, K.")],
    timestep_ps: Annotated[float, typer.Option("--timestep-ps", help="Time between frames in the file, ps.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder for onsager.json and onsager.png.")] = Path("transport"),
    volume: Annotated[Optional[float], typer.Option("--volume", help="Cell volume, Angstrom^3 (default: from the first frame).")] = None,
    n_blocks: Annotated[int, typer.Option("--n-blocks", help="Time blocks for the error bars.")] = 5,
    fit_window: Annotated[Optional[str], typer.Option("--fit-window", help="START,END lag time of the slope fit, ps (default: automatic).")] = None,
    stride: Annotated[int, typer.Option("--stride", help="Use every n-th frame.")] = 1,
    unwrap: Annotated[bool, typer.Option("--unwrap/--no-unwrap", help="Unwrap wrapped positions (minimum image between frames).")] = False,
    remove_drift: Annotated[bool, typer.Option("--remove-drift/--keep-drift", help="Subtract the centre-of-mass drift (barycentric frame); the result warns when the drift is worth more than 2 sigma of an L_ij.")] = True,
    grad_mu: Annotated[Optional[str], typer.Option("--grad-mu", help="Also write fluxes: SPECIES=eV/Angstrom,... (positive: mu higher at the metal).")] = None,
) -> None:
    """Onsager transport coefficients L_ij (1/(eV*Angstrom*ps)) with error bars from a trajectory."""
    from seilab.provenance import record, write_json

    from seilab.transport.figures import plot_correlations
    from seilab.transport.fluxes import predict_fluxes
    from seilab.transport.onsager import Onsager
    from seilab.transport.trajectory import load_trajectory

    window = _parse_window(fit_window)
    gm = _parse_grad_mu(grad_mu)
    if not (temperature > 0):
        raise SeilabError(f"--temperature: must be > 0 K, got {temperature}")
    if not (timestep_ps > 0):
        raise SeilabError(f"--timestep-ps: must be > 0 ps, got {timestep_ps}")
    if volume is not None and not (volume > 0):
        raise SeilabError(f"--volume: must be > 0 Angstrom^3, got {volume}")
    traj = load_trajectory(trajectory, unwrap=unwrap, stride=stride)
    _check_frames(trajectory, traj.n_frames, n_blocks, stride)
    vol = float(volume) if volume is not None else traj.volume_A3
    if not vol > 0:
        raise SeilabError(f"{trajectory}: frames have no 3D cell, give --volume")
    options = dict(n_blocks=n_blocks, fit_window=window, remove_drift=remove_drift)
    result = Onsager(**options).compute(traj.positions, traj.species, timestep_ps * stride, vol,
                                        temperature, masses=traj.masses, label=trajectory.stem).result
    settings = dict(options, temperature_K=temperature, timestep_ps=timestep_ps, stride=stride,
                    volume_A3=vol, unwrap=unwrap)
    prov = record("analysis.transport", inputs=[trajectory], settings=settings)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "onsager.json", result.to_dict(), prov)
    plot_correlations(result, out / "onsager.png")
    typer.echo(result.summary())
    for w in result.warnings:
        typer.echo(f"warning: {w}", err=True)
    if gm is not None:
        flux = predict_fluxes(result, gm)
        write_json(out / "fluxes.json", flux.to_dict(), prov)
        typer.echo("J [1/(Angstrom^2*ps)], + toward metal: "
                   + ", ".join(f"{s}={j:.3e}±{e:.1e}" for s, j, e in zip(flux.species, flux.J, flux.J_err)))
    typer.echo(f"wrote {out / 'onsager.json'} and {out / 'onsager.png'}")
