"""The ``seilab`` command line (typer). Every stage runs alone: ``seilab <stage> CONFIG``.

The top layer of the package: one module per stage (``seilab.cli.sampling`` ...) reads the campaign
YAML (:func:`seilab.config.load_config`) and calls the stage.

User errors print one line (``error: ...``) and exit with status 2; no tracebacks.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import typer

from seilab.errors import SeilabError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="seilab: from two reactants to a validated ML potential and an interphase report.")

@app.callback()
def _root():
    """Stages run alone (`seilab <stage> CONFIG`) or all together (`seilab run CONFIG`)."""


ConfigArg = typer.Argument(..., help="campaign YAML, e.g. examples/li-li7p3s11.yaml", show_default=False)


def _echo(msg: str) -> None:
    typer.echo(msg)


def chemistry(config: Path = ConfigArg):
    """Relax every phase with the reference, build the phase diagram, react the two reactants.

    Prints the products table and writes <output>/chemistry/{reaction.json, phase_diagram.png}.
    """
    from seilab.chemistry.stage import run_chemistry
    from seilab.config import load_config

    campaign = load_config(config)
    result = run_chemistry(campaign, progress=_echo)
    print_reaction(result)
    typer.echo(f"wrote {campaign.stage_dir('chemistry') / 'reaction.json'}")


def print_reaction(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    t = Table(title=f"{result['anode']['formula']} + {result['electrolyte']['formula']}: interface reaction kinks")
    for col in ("x(anode)", "E_rxn (eV/atom)", "products", "reaction"):
        t.add_column(col)
    for k in result["kinks"]:
        t.add_row(f"{k['x_anode']:.3f}", f"{k['reaction_energy_eV_per_atom']:.3f}", ", ".join(k["products"]),
                  k["reaction"])
    console.print(t)
    h = Table(title="Phases (formation energy, energy above hull; eV/atom)")
    for col in ("phase", "formula", "origin", "E_f", "E_hull", "stable"):
        h.add_column(col)
    for r in result["hull"]:
        h.add_row(r["phase"], r["formula"], str(r.get("origin")), f"{r['formation_energy_eV_per_atom']:.3f}",
                  f"{r['e_above_hull_eV_per_atom']:.3f}", "yes" if r["stable"] else "")
    console.print(h)
    cp = result.get("chemical_potential_distance", {})
    if "delta_mu_eV" in cp:
        dm = ", ".join(f"Δμ_{k} = {v:+.3f}" for k, v in cp["delta_mu_eV"].items())
        console.print(f"chemical-potential distance anode−electrolyte: {cp['distance_eV']:.3f} eV ({dm} eV)")


def _locked(fn):
    """A stage command that takes a campaign ``config`` holds the campaign's lock while it runs (one
    writer per output folder, as ``seilab run`` does; see :mod:`seilab.lock`)."""
    import functools

    @functools.wraps(fn)
    def command(*args, **kwargs):
        config = kwargs.get("config")
        if config is None:
            return fn(*args, **kwargs)
        from seilab.config import load_config
        from seilab.lock import campaign_lock

        with campaign_lock(load_config(config).output):
            return fn(*args, **kwargs)

    return command


app.command(name="chemistry")(_locked(chemistry))


def _register_stages():
    """One module per stage under :mod:`seilab.cli` (and the transport command beside its stage); each
    exposes typer-compatible command functions. Stage commands hold the campaign lock; ``run`` locks itself."""
    import importlib

    for module, names in [
        ("seilab.cli.sampling", ["sample", "label"]),
        ("seilab.cli.training", ["train"]),
        ("seilab.cli.validation", ["validate"]),
        ("seilab.cli.learning", ["learn"]),
        ("seilab.cli.simulation", ["simulate"]),
        ("seilab.cli.analysis", ["analyze"]),
        ("seilab.cli.transport", ["transport"]),
        ("seilab.cli.workflows", ["run"]),
        ("seilab.cli.submit", ["submit"]),
    ]:
        mod = importlib.import_module(module)
        for name in names:
            fn = getattr(mod, name)
            app.command(name=name)(fn if name in ("run", "submit") else _locked(fn))


_register_stages()


def _quiet_known_warnings() -> None:
    """Third-party warnings that say nothing to a user of seilab (kept in the Python API)."""
    import warnings

    warnings.filterwarnings("ignore", message="logm result may be inaccurate")
    warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True")
    warnings.filterwarnings("ignore", category=FutureWarning)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``seilab`` console script."""
    _quiet_known_warnings()
    level = os.environ.get("SEILAB_LOG", "WARNING")
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # the screen shows SEILAB_LOG and above, whatever a log file takes
        handler.setLevel(level)
    try:
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int) and rc:
            return rc
    except SeilabError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted: finished work is on disk; rerun the same command to continue", err=True)
        return 130
    except Exception as exc:  # typer/click usage errors, --help exits
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # ClickException (usage errors)
            exc.show()
            return exc.exit_code
        if type(exc).__name__ == "Exit":
            return exc.exit_code
        if type(exc).__name__ == "Abort":
            return 1
        raise
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
