"""Amorphous samples, MPMorph-like (paper section 2.3; atomate2's MPMorph workflow).

Per phase:

1. random packing of whole formula units (~``amorphous_target_atoms``) in a cubic box at the
   crystal's volume per atom (:mod:`.packing`: packmol, or random insertion);
2. short NVT runs at ``amorphous_temperature_K`` for each of ``amorphous_volume_scales`` times
   that volume (isotropic rescaling);
3. a Birch–Murnaghan fit (``ase.eos.EquationOfState``) of the mean potential energy (second half
   of each run) against volume gives the equilibrium volume at that temperature. The volume is
   kept inside the sampled range and within ``amorphous_max_density_deviation`` of the crystal's
   density (MPMorph would extend the volume range and iterate instead; a short noisy run must not
   produce a gas or a collapsed cell). When the fit fails, the lowest-energy volume is used. The
   method used is recorded;
4. a production NVT run at that volume, from the EOS run closest to it, keeping every
   ``md_stride``-th frame.

Outputs: ``amorphous/<phase>.extxyz`` (production frames) with the EOS data in its provenance and
in ``amorphous/<phase>.eos.json``. Intermediate results (packing, each EOS run, the production
run) are checkpointed under ``amorphous/work/`` so a killed job resumes where it stopped.
"""

from __future__ import annotations

import math
import warnings
from functools import reduce
from pathlib import Path

import numpy as np

from seilab import provenance
from seilab.sampling.common import fingerprint, seed_for, split_by_floor, tag, up_to_date
from seilab.sampling.md import run_nvt
from seilab.sampling.packing import pack

KIND = "amorphous"


def amorphous_path(out_dir: Path, phase: str) -> Path:
    return Path(out_dir) / KIND / f"{phase}.extxyz"


def formula_unit(atoms) -> dict[str, int]:
    """Reduced integer composition of a cell, e.g. {'Li': 7, 'P': 3, 'S': 11}."""
    counts = atoms.symbols.formula.count()
    g = reduce(math.gcd, counts.values())
    return {el: n // g for el, n in counts.items()}


def amorphous_counts(crystal, target_atoms: int) -> dict[str, int]:
    """Atoms of each element for the amorphous cell: whole formula units closest to the target."""
    fu = formula_unit(crystal)
    per_fu = sum(fu.values())
    n_fu = max(1, round(target_atoms / per_fu))
    return {el: n * n_fu for el, n in fu.items()}


def fit_equilibrium_volume(volumes, energies, v_crystal: float, settings) -> dict:
    """Birch–Murnaghan E(V) fit with the bounds described in the module docstring."""
    from ase.eos import EquationOfState

    volumes = np.asarray(volumes, float)
    energies = np.asarray(energies, float)
    dev = settings.amorphous_max_density_deviation
    lo = max(volumes.min(), v_crystal / (1 + dev))
    hi = min(volumes.max(), v_crystal / (1 - dev))
    result = {"volumes_A3": volumes.tolist(), "energies_eV": energies.tolist(), "v_crystal_A3": v_crystal}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy's OptimizeWarning on noisy data: judged below
            v0, e0, b = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
        if not (np.isfinite(v0) and np.isfinite(b) and b > 0):
            raise ValueError(f"unphysical fit (V0={v0}, B={b})")
        method = "birchmurnaghan"
        result.update(fit_v0_A3=float(v0), fit_e0_eV=float(e0), fit_B_eV_per_A3=float(b))
    except Exception as exc:  # curve_fit failures, no minimum: fall back to the lowest mean energy
        v0 = float(volumes[int(np.argmin(energies))])
        method = f"lowest_energy (fit failed: {type(exc).__name__})"
        result["fit_error"] = str(exc)
    if v0 < lo or v0 > hi:
        method += " clamped"
        v0 = float(min(max(v0, lo), hi))
    result.update(v0_A3=float(v0), method=method, density_ratio=float(v_crystal / v0))
    return result


_SETTINGS = ("amorphous_target_atoms", "amorphous_temperature_K", "amorphous_volume_scales", "amorphous_eos_steps",
             "amorphous_production_steps", "amorphous_packer", "amorphous_pack_tolerance_A",
             "amorphous_max_density_deviation", "md_timestep_fs", "md_stride", "md_thermostat", "md_friction_per_fs",
             "md_tdamp_fs", "seed", "min_distance_A")
_PACK_SETTINGS = ("amorphous_target_atoms", "amorphous_packer", "amorphous_pack_tolerance_A", "seed", "min_distance_A")


def _fingerprint(settings, phase: str, crystal_file, keys=_SETTINGS) -> str:
    return fingerprint({**{k: getattr(settings, k) for k in keys}, "phase": phase}, files=[crystal_file])


def amorphous_job(calc, phase: str, crystal_file: str, settings, out_dir: str) -> dict:
    """Run (or resume) the MPMorph-like workflow of one phase; returns its summary."""
    out = amorphous_path(Path(out_dir), phase)
    fp = _fingerprint(settings, phase, crystal_file)
    if up_to_date(out, fp):
        return provenance.read_json(provenance.sidecar_path(out)).get("summary", {})
    work = out.parent / "work"
    crystal = provenance.read_extxyz(crystal_file, index=0)
    counts = amorphous_counts(crystal, settings.amorphous_target_atoms)
    n = sum(counts.values())
    v_crystal = crystal.get_volume() / len(crystal) * n
    T = settings.amorphous_temperature_K

    # 1. packing (kept on disk so that every rerun starts from the same one)
    packed_file = work / f"{phase}.packed.extxyz"
    pack_fp = _fingerprint(settings, phase, crystal_file, _PACK_SETTINGS)
    if up_to_date(packed_file, pack_fp):
        packed = provenance.read_extxyz(packed_file, index=0)
        packer = provenance.read_json(provenance.sidecar_path(packed_file)).get("packer", "?")
    else:
        packed, packer = pack(counts, v_crystal ** (1 / 3), settings.amorphous_pack_tolerance_A,
                              seed_for(settings.seed, KIND, phase, "pack"), settings.min_distance_A,
                              settings.amorphous_packer)
        provenance.write_extxyz(packed_file, [packed], provenance.record(
            "sampling.amorphous.pack", inputs=[crystal_file], settings={"counts": counts}, packer=packer,
            fingerprint=pack_fp))

    # 2. EOS runs at isotropically scaled volumes
    volumes, energies, finals = [], [], []
    for scale in settings.amorphous_volume_scales:
        start = packed.copy()
        start.set_cell(packed.cell * scale ** (1 / 3), scale_atoms=True)
        run = run_nvt(start, calc, settings, T, settings.amorphous_eos_steps, 1,
                      seed_for(settings.seed, KIND, phase, "eos", scale),
                      checkpoint=work / f"{phase}.eos{scale:.4f}.partial.extxyz", key=f"{fp}-eos{scale}")
        tail = run[len(run) // 2:]
        volumes.append(start.get_volume())
        energies.append(float(np.mean([f.info["md_energy_eV"] for f in tail])))
        finals.append(run[-1])

    # 3. equilibrium volume
    eos = fit_equilibrium_volume(volumes, energies, v_crystal, settings)
    nearest = finals[int(np.argmin(np.abs(np.asarray(volumes) - eos["v0_A3"])))]
    start = nearest.copy()
    start.set_cell(nearest.cell * (eos["v0_A3"] / nearest.get_volume()) ** (1 / 3), scale_atoms=True)

    # 4. production run
    run = run_nvt(start, calc, settings, T, settings.amorphous_production_steps, settings.md_stride,
                  seed_for(settings.seed, KIND, phase, "production"),
                  checkpoint=work / f"{phase}.production.partial.extxyz", key=f"{fp}-production")
    tagged = [tag(f, KIND, phase, f"{KIND}:{phase}:{T:g}K:step{f.info['md_step']}",
                  density_ratio=eos["density_ratio"]) for f in run]
    kept, rejected = split_by_floor(tagged, settings.min_distance_A)
    summary = {"phase": phase, "n_atoms": n, "counts": counts, "packer": packer, "frames": len(kept),
               "rejected_close_contacts": len(rejected), "temperature_K": T, **eos}
    provenance.write_json(out.parent / f"{phase}.eos.json", summary,
                          provenance.record("sampling.amorphous.eos", inputs=[crystal_file]))
    rec = provenance.record("sampling.amorphous", inputs=[crystal_file, packed_file],
                            settings={k: getattr(settings, k) for k in _SETTINGS}, summary=summary, fingerprint=fp)
    provenance.write_extxyz(out, kept, rec)
    return summary


def amorphous_jobs(crystalline_files: dict[str, Path], settings, out_dir: Path) -> list[tuple]:
    """Jobs (for :func:`seilab.sampling.common.run_jobs`) of the phases not finished yet."""
    return [(amorphous_job, {"phase": phase, "crystal_file": str(path), "settings": settings,
                             "out_dir": str(out_dir)})
            for phase, path in crystalline_files.items()
            if not up_to_date(amorphous_path(out_dir, phase), _fingerprint(settings, phase, path))]
