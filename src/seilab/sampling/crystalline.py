"""Crystalline samples: each relaxed phase as a near-cubic supercell of ``target_atoms``.

The phases come relaxed with the reference from the chemistry stage; no further relaxation is
done here (the supercell of a relaxed cell is relaxed). Output: ``crystalline/<phase>.extxyz``,
one frame per phase, skipped on rerun while the file is a valid artefact made from the same
phase and ``target_atoms`` (its provenance fingerprint).
"""

from __future__ import annotations

from pathlib import Path

from seilab import provenance
from seilab.sampling.common import cell_heights, check_input_phase, fingerprint, make_supercell, tag, up_to_date

KIND = "crystalline"


def crystalline_path(out_dir: Path, phase: str) -> Path:
    return Path(out_dir) / KIND / f"{phase}.extxyz"


def generate_crystalline(phases: dict, settings, out_dir: Path, inputs: dict | None = None) -> dict[str, Path]:
    """Write one supercell per phase; returns phase -> file. ``inputs``: phase -> source file."""
    out = {}
    for name, atoms in phases.items():
        path = crystalline_path(out_dir, name)
        out[name] = path
        fp = fingerprint({"target_atoms": settings.target_atoms}, structures=[atoms])
        if up_to_date(path, fp):
            continue
        src = (inputs or {}).get(name)
        check_input_phase(name, atoms, settings.min_distance_A, src or "")
        sc = make_supercell(atoms, settings.target_atoms)
        frame = tag(sc, KIND, name, f"{KIND}:{name}", n_atoms=len(sc))
        rec = provenance.record(
            "sampling.crystalline", inputs=[src] if src else [],
            settings={"target_atoms": settings.target_atoms},
            phase=name, n_atoms=len(sc), heights_A=[round(float(h), 3) for h in cell_heights(sc.cell)],
            fingerprint=fp)
        provenance.write_extxyz(path, [frame], rec)
    return out
