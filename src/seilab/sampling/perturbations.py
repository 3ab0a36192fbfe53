"""Perturbed copies: rattled atoms and strained cells (the paper's "disordered and rescaled" data).

Per crystalline supercell: ``rattle_copies`` copies with Gaussian displacements of std
``rattle_sigma_A``; one isotropic strain per entry of ``strain_volume_fractions`` (relative volume
change, atoms scaled with the cell); ``anisotropic_strain_copies`` random symmetric strains with
components uniform in ±``anisotropic_strain_max`` (plus a small rattle so forces are non-zero).
Per interface: ``interface_rattle_copies`` rattled copies. Any copy with two atoms closer than
``min_distance_A`` is dropped (and counted).

Outputs: ``perturbed/<phase>.extxyz`` and ``perturbed/interfaces.extxyz``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seilab import provenance
from seilab.sampling.common import fingerprint, seed_for, split_by_floor, tag, up_to_date

KIND = "perturbed"

_SETTINGS = ("rattle_sigma_A", "rattle_copies", "strain_volume_fractions", "anisotropic_strain_copies",
             "anisotropic_strain_max", "interface_rattle_copies", "seed", "min_distance_A")


def rattled(atoms, sigma_A: float, rng):
    out = atoms.copy()
    out.positions = out.positions + rng.normal(0.0, sigma_A, size=out.positions.shape)
    out.wrap()
    return out


def isotropic_strain(atoms, volume_fraction: float):
    out = atoms.copy()
    out.set_cell(atoms.cell * (1.0 + volume_fraction) ** (1 / 3), scale_atoms=True)
    return out


def anisotropic_strain(atoms, max_component: float, rng):
    eps = rng.uniform(-max_component, max_component, size=(3, 3))
    eps = 0.5 * (eps + eps.T)
    out = atoms.copy()
    out.set_cell(np.asarray(atoms.cell) @ (np.eye(3) + eps), scale_atoms=True)
    return out, eps


def perturb_bulk(atoms, phase: str, settings) -> list:
    """Tagged perturbed copies of one crystalline supercell (before the distance floor)."""
    rng = np.random.default_rng(seed_for(settings.seed, KIND, phase))
    frames = []
    for i in range(settings.rattle_copies):
        frames.append(tag(rattled(atoms, settings.rattle_sigma_A, rng), KIND, phase, f"{KIND}:{phase}:rattle{i}",
                          perturbation="rattle"))
    for f in settings.strain_volume_fractions:
        frames.append(tag(isotropic_strain(atoms, f), KIND, phase, f"{KIND}:{phase}:volume{f:+g}",
                          perturbation="isotropic", volume_fraction=float(f)))
    for i in range(settings.anisotropic_strain_copies):
        strained, eps = anisotropic_strain(atoms, settings.anisotropic_strain_max, rng)
        strained = rattled(strained, 0.5 * settings.rattle_sigma_A, rng)
        frames.append(tag(strained, KIND, phase, f"{KIND}:{phase}:aniso{i}", perturbation="anisotropic",
                          strain_voigt=" ".join(f"{x:.4f}" for x in eps[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]])))
    return frames


def generate_perturbations(crystalline_files: dict[str, Path], interface_files: list[Path], settings,
                           out_dir: Path) -> dict:
    """Write the perturbed copies; returns {'files': [...], 'counts': {name: (kept, rejected)}}."""
    out_dir = Path(out_dir) / KIND
    settings_rec = {k: getattr(settings, k) for k in _SETTINGS}
    files, counts = [], {}
    for phase, src in crystalline_files.items():
        path = out_dir / f"{phase}.extxyz"
        fp = fingerprint({**settings_rec, "phase": phase}, files=[src])
        if not up_to_date(path, fp):
            base = provenance.read_extxyz(src, index=0)
            kept, rejected = split_by_floor(perturb_bulk(base, phase, settings), settings.min_distance_A)
            counts[phase] = (len(kept), len(rejected))
            if not kept:
                path.unlink(missing_ok=True)
                continue
            provenance.write_extxyz(path, kept, provenance.record(
                "sampling.perturbations", inputs=[src], settings=settings_rec,
                summary={"frames": len(kept), "rejected_close_contacts": len(rejected)}, fingerprint=fp))
        files.append(path)
    if interface_files and settings.interface_rattle_copies:
        path = out_dir / "interfaces.extxyz"
        fp = fingerprint(settings_rec, files=interface_files)
        if not up_to_date(path, fp):
            frames = []
            for src in interface_files:
                for j, iface in enumerate(provenance.read_extxyz(src)):
                    label = iface.info["phase"]
                    rng = np.random.default_rng(seed_for(settings.seed, KIND, label, iface.info.get("source"), j))
                    for i in range(settings.interface_rattle_copies):
                        frames.append(tag(rattled(iface, settings.rattle_sigma_A, rng), KIND, label,
                                          f"{iface.info['source']}:rattle{i}", perturbation="rattle"))
            kept, rejected = split_by_floor(frames, settings.min_distance_A)
            counts["interfaces"] = (len(kept), len(rejected))
            path.unlink(missing_ok=True)
            if kept:
                provenance.write_extxyz(path, kept, provenance.record(
                    "sampling.perturbations.interfaces", inputs=[str(p) for p in interface_files],
                    settings=settings_rec, summary={"frames": len(kept), "rejected_close_contacts": len(rejected)},
                    fingerprint=fp))
        if path.is_file():
            files.append(path)
    return {"files": files, "counts": counts}
