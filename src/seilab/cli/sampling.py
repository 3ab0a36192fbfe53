"""Typer-compatible commands ``seilab sample CONFIG`` and ``seilab label CONFIG``.

They catch nothing: a :class:`~seilab.errors.SeilabError` reaches the CLI, which prints it as
one line. Both resume after a kill (see :mod:`seilab.sampling.pipeline` and
:mod:`seilab.reference.labelling`).
"""

from __future__ import annotations

from pathlib import Path

from seilab.errors import SeilabError


def sample(config: Path) -> None:
    """Generate the first-generation structures (crystalline, amorphous, interfaces, perturbed, hot/interface MD)."""
    from rich.console import Console
    from rich.table import Table

    from seilab.config import load_config
    from seilab.sampling.pipeline import manifest_path, run_sampling

    campaign = load_config(config)
    manifest = run_sampling(campaign, progress=True)
    console = Console(width=120)
    table = Table(title=f"sampling: {campaign.name}")
    table.add_column("kind")
    table.add_column("frames", justify="right")
    for kind, n in manifest["frames_per_kind"].items():
        table.add_row(kind, str(n))
    table.add_section()
    table.add_row("total", str(manifest["total_frames"]))
    console.print(table)
    pairs = Table(title="interfaces per plane pair")
    for col in ("pair", "terminations", "ZSL matches", "kept", "too close", "wrong size"):
        pairs.add_column(col)
    for label, c in manifest["interface_pairs"].items():
        pairs.add_row(label, str(c["terminations"]), str(c["zsl_matches"]), str(c["kept"]),
                      str(c["rejected_close_contacts"]), str(c["rejected_size"]))
    console.print(pairs)
    for phase, a in manifest["amorphous"].items():
        pfit = a.get("pressure_fit") or {}
        extra = ""
        if pfit and a.get("energy_v0_A3"):
            extra = (f"; <P> = 0 at {pfit['v0_A3']:.0f} ± {pfit['v0_err_A3']:.0f} Å³ (B {pfit['bulk_modulus_GPa']:.0f} "
                     f"GPa), <E_pot> minimum at {a['energy_v0_A3']:.0f} Å³")
        if a.get("production_pressure_GPa") is not None:
            extra += f"; production <P> {a['production_pressure_GPa']:+.2f} GPa"
        console.print(f"amorphous {phase}: {a['n_atoms']} atoms ({a['packer']}), density "
                      f"{a['density_ratio']:.3f} x crystal ({a['method']}{extra})", highlight=False)
    console.print(f"wrote {manifest_path(campaign)} in {manifest['wall_seconds']:.0f} s", highlight=False)


def label(config: Path) -> None:
    """Label every sampled structure with the reference into the dataset store (resumable)."""
    from rich.console import Console

    from seilab.config import load_config
    from seilab.labelling.stage import run_labelling
    from seilab.reference.labelling import run_line, summary_table

    campaign = load_config(config)
    report = run_labelling(campaign, progress=True)
    console = Console(width=120)
    console.print(summary_table(report))
    console.print(run_line(report), highlight=False)
    if report.failed:
        h, source, msg = report.failed[0]
        raise SeilabError(f"labelling: {len(report.failed)} structure(s) failed (first: {source or h}: {msg}); "
                          f"the others are stored, rerun to retry")
