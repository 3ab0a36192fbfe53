"""Chemistry stage: phase library, relaxations with the reference, phase diagram, interface reaction.

Artefacts (under ``<output>/chemistry/``):

* ``phases/<name>.extxyz`` (+ ``.json`` sidecar): each phase relaxed with the reference, carrying
  its energy/forces/stress; ``atoms.info`` has ``phase``, ``origin``, ``energy_per_atom``.
* ``reaction.json``: hull, formation energies, interface-reaction kinks, chemical-potential distance.
* ``phase_diagram.png``: the ternary diagram with the reactant tie line and products.

Later stages read them with :func:`load_relaxed_phases` and :func:`load_reaction`.
"""

from __future__ import annotations

from pathlib import Path

from seilab.errors import SeilabError


def phases_dir(campaign) -> Path:
    return campaign.layout.phases


def load_relaxed_phases(campaign, names=None) -> dict:
    """Relaxed phases (ASE Atoms with energy) written by the chemistry stage, by phase name."""
    from seilab.provenance import read_extxyz

    out = {}
    for spec in campaign.phases:
        if names is not None and spec.name not in names:
            continue
        path = phases_dir(campaign) / f"{spec.name}.extxyz"
        if not path.is_file():
            raise SeilabError(f"{path}: missing; run `seilab chemistry CONFIG` first")
        out[spec.name] = read_extxyz(path, index=-1)
    return out


def load_reaction(campaign) -> dict:
    """The chemistry stage's ``reaction.json`` (kinks, hull, chemical-potential distance)."""
    from seilab.provenance import read_json

    path = campaign.layout.reaction
    if not path.is_file():
        raise SeilabError(f"{path}: missing; run `seilab chemistry CONFIG` first")
    return read_json(path)
