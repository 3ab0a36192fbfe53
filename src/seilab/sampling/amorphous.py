"""Amorphous samples, MPMorph-like (paper section 2.3; atomate2's MPMorph workflow).

Per phase:

1. random packing of whole formula units (~``amorphous_target_atoms``) in a cubic box at the
   crystal's volume per atom (:mod:`.packing`: packmol, or random insertion);
2. short NVT runs at ``amorphous_temperature_K`` for each of ``amorphous_volume_scales`` times
   that volume (isotropic rescaling);
3. the equilibrium volume at that temperature. With ``amorphous_volume_criterion: pressure`` (the
   default, what MPMorph does) it is the volume where the mean pressure of the runs (second half,
   virial plus kinetic part) is zero: a least-squares line ⟨P⟩ = a + b ln V through the EOS runs,
   V0 = exp(−a/b), with the isothermal bulk modulus B = −b and σ(V0) from the fit. (MPMorph fits a
   Birch–Murnaghan P(V); with three or four short noisy runs a three-parameter fit is nearly
   exactly determined and has no error bar, while the line is the first order of any EOS around
   V0.) At 900–1500 K this is not the minimum of ⟨E_pot⟩(V): the thermal pressure expands the
   cell. The energy criterion (a Birch–Murnaghan fit of ⟨E_pot⟩(V), ``ase.eos``) is also computed
   and recorded for comparison, and is the fallback when the calculator gives no stress or the
   pressure does not fall with volume (b ≥ 0). The volume is kept within
   ``amorphous_max_density_deviation`` of the crystal's density (MPMorph would extend the volume
   range and iterate instead; a short noisy run must not produce a gas or a collapsed cell), and
   an energy minimum is kept inside the sampled range. When both fits fail, the lowest-energy
   volume is used. The method used is recorded;
4. a production NVT run at that volume, from the EOS run closest to it, keeping every
   ``md.sample_every``-th frame.

Outputs: ``amorphous/<phase>.extxyz`` (production frames) with the EOS data in its provenance and
in ``amorphous/<phase>.eos.json``. Intermediate results (packing, each EOS run, the production
run) are checkpointed under ``amorphous/work/`` so a killed job resumes where it stopped.
"""

from __future__ import annotations

import math
from functools import reduce
from pathlib import Path

import numpy as np

from seilab import provenance
from seilab.sampling.common import fingerprint, seed_for, split_by_floor, tag, up_to_date
from seilab.settings.base import settings_values
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


def fit_zero_pressure_volume(volumes, pressures_GPa) -> dict:
    """Volume where ⟨P⟩ = a + b ln V crosses zero, with its error (module docstring, step 3).

    Least squares on ln V centred at its mean, so that the intercept and slope errors are
    uncorrelated: ln V0 = x̄ − a/b, σ²(ln V0) = σ_a²/b² + a²σ_b²/b⁴ (``v0_err_A3``); ``v0_ci95_A3`` is
    the half-width of the Student-t 95 % interval with n − 2 degrees of freedom. Errors need three
    or more volumes (NaN with two). Raises ``ValueError`` when the pressure does not fall with volume.
    """
    from scipy.stats import linregress

    v = np.asarray(volumes, float)
    p = np.asarray(pressures_GPa, float)
    if len(v) < 2 or not np.all(np.isfinite(p)) or np.ptp(v) <= 0:
        raise ValueError("need finite pressures at two or more volumes")
    x = np.log(v)
    xbar = float(x.mean())
    fit = linregress(x - xbar, p)
    a, b = float(fit.intercept), float(fit.slope)
    if not b < 0:
        raise ValueError(f"the pressure does not fall with volume (dP/dlnV = {b:.3g} GPa)")
    if len(v) > 2:
        from scipy.stats import t

        sa, sb = float(fit.intercept_stderr), float(fit.stderr)
        sig_lnv = math.sqrt(sa**2 / b**2 + a**2 * sb**2 / b**4)
        t95 = float(t.ppf(0.975, len(v) - 2))
    else:
        sb = sig_lnv = t95 = float("nan")
    v0 = math.exp(xbar - a / b)
    return {"v0_A3": v0, "v0_err_A3": v0 * sig_lnv, "v0_ci95_A3": v0 * sig_lnv * t95, "bulk_modulus_GPa": -b,
            "bulk_modulus_err_GPa": sb, "dof": len(v) - 2}


def _fit_energy_minimum(volumes: np.ndarray, energies: np.ndarray) -> tuple[float, str, dict]:
    """Birch–Murnaghan ⟨E_pot⟩(V) minimum (:func:`seilab.eos.fit_birch_murnaghan_parameters`, ``ase.eos``); the
    lowest mean energy when the fit fails."""
    from seilab.eos import fit_birch_murnaghan_parameters

    try:
        e0, v0, b, _ = fit_birch_murnaghan_parameters(volumes, energies)  # noisy data: judged below
        if not (np.isfinite(v0) and np.isfinite(b) and b > 0):
            raise ValueError(f"unphysical fit (V0={v0}, B={b})")
        return float(v0), "birchmurnaghan", {"fit_v0_A3": float(v0), "fit_e0_eV": float(e0),
                                             "fit_B_eV_per_A3": float(b)}
    except Exception as exc:  # curve_fit failures, no minimum: fall back to the lowest mean energy
        v0 = float(volumes[int(np.argmin(energies))])
        return v0, f"lowest_energy (fit failed: {type(exc).__name__})", {"fit_error": str(exc)}


def fit_equilibrium_volume(volumes, energies, v_crystal: float, settings, pressures_GPa=None) -> dict:
    """Equilibrium volume of the EOS runs by ``settings.amorphous_volume_criterion`` (module docstring).

    ``pressures_GPa`` are the runs' mean pressures; without them (or when their fit fails) the
    energy minimum is used and ``method`` says why.
    """
    volumes = np.asarray(volumes, float)
    energies = np.asarray(energies, float)
    dev = settings.amorphous_max_density_deviation
    # the bounds pulled in by 1e-12 so that a clamped volume is inside them in floating point too
    lo_rho, hi_rho = v_crystal / (1 + dev) * (1 + 1e-12), v_crystal / (1 - dev) * (1 - 1e-12)
    result = {"volumes_A3": volumes.tolist(), "energies_eV": energies.tolist(), "v_crystal_A3": v_crystal,
              "criterion": settings.amorphous_volume_criterion}
    e_v0, e_method, e_extra = _fit_energy_minimum(volumes, energies)
    result.update(e_extra, energy_v0_A3=e_v0)
    v0, method, lo, hi = None, "", lo_rho, hi_rho
    if pressures_GPa is not None:
        result["pressures_GPa"] = [float(x) for x in pressures_GPa]
    if settings.amorphous_volume_criterion == "pressure":
        if pressures_GPa is None:
            method = " (no pressures: the calculator gives no stress)"
        else:
            try:
                pfit = fit_zero_pressure_volume(volumes, pressures_GPa)
                result["pressure_fit"] = pfit
                result["pressure_v0_A3"] = pfit["v0_A3"]
                v0, method = pfit["v0_A3"], "zero_pressure"
                if not volumes.min() <= v0 <= volumes.max():
                    method += " extrapolated"
            except ValueError as exc:
                method = f" (pressure fit failed: {exc})"
    if v0 is None:  # the energy criterion, or the pressure's fallback: a minimum inside the sampled range
        v0, method = e_v0, e_method + method
        lo, hi = max(volumes.min(), lo_rho), min(volumes.max(), hi_rho)
    if v0 < lo or v0 > hi:
        method += " clamped"
        v0 = float(min(max(v0, lo), hi))
    result.update(v0_A3=float(v0), method=method, density_ratio=float(v_crystal / v0))
    return result


_SETTINGS = ("amorphous_target_atoms", "amorphous_temperature_K", "amorphous_volume_scales", "amorphous_eos_steps",
             "amorphous_production_steps", "amorphous_packer", "amorphous_pack_tolerance_A",
             "amorphous_max_density_deviation", "amorphous_volume_criterion", "md.timestep_fs", "md.sample_every", "md.thermostat",
             "md.friction_per_fs", "md.damp_fs", "seed", "min_distance_A")
_PACK_SETTINGS = ("amorphous_target_atoms", "amorphous_packer", "amorphous_pack_tolerance_A", "seed", "min_distance_A")


def _fingerprint(settings, phase: str, crystal_file, keys=_SETTINGS) -> str:
    return fingerprint({**settings_values(settings, keys), "phase": phase}, files=[crystal_file])


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
    volumes, energies, pressures, finals = [], [], [], []
    for scale in settings.amorphous_volume_scales:
        start = packed.copy()
        start.set_cell(packed.cell * scale ** (1 / 3), scale_atoms=True)
        run = run_nvt(start, calc, settings, T, settings.amorphous_eos_steps, 1,
                      seed_for(settings.seed, KIND, phase, "eos", scale),
                      checkpoint=work / f"{phase}.eos{scale:.4f}.partial.extxyz", key=f"{fp}-eos{scale}")
        tail = run[len(run) // 2:]
        volumes.append(start.get_volume())
        energies.append(float(np.mean([f.info["md_energy_eV"] for f in tail])))
        p = [f.info.get("md_pressure_GPa") for f in tail]
        pressures.append(float(np.mean(p)) if all(x is not None for x in p) else None)
        finals.append(run[-1])

    # 3. equilibrium volume
    eos = fit_equilibrium_volume(volumes, energies, v_crystal, settings,
                                 pressures if all(x is not None for x in pressures) else None)
    nearest = finals[int(np.argmin(np.abs(np.asarray(volumes) - eos["v0_A3"])))]
    start = nearest.copy()
    start.set_cell(nearest.cell * (eos["v0_A3"] / nearest.get_volume()) ** (1 / 3), scale_atoms=True)

    # 4. production run
    run = run_nvt(start, calc, settings, T, settings.amorphous_production_steps, settings.md.sample_every,
                  seed_for(settings.seed, KIND, phase, "production"),
                  checkpoint=work / f"{phase}.production.partial.extxyz", key=f"{fp}-production")
    tagged = [tag(f, KIND, phase, f"{KIND}:{phase}:{T:g}K:step{f.info['md_step']}",
                  density_ratio=eos["density_ratio"]) for f in run]
    kept, rejected = split_by_floor(tagged, settings.min_distance_A)
    prod_p = [f.info["md_pressure_GPa"] for f in run if "md_pressure_GPa" in f.info]
    summary = {"phase": phase, "n_atoms": n, "counts": counts, "packer": packer, "frames": len(kept),
               "rejected_close_contacts": len(rejected), "temperature_K": T, **eos,
               "production_pressure_GPa": float(np.mean(prod_p)) if prod_p else None,
               "production_pressure_std_GPa": float(np.std(prod_p)) if prod_p else None}
    provenance.write_json(out.parent / f"{phase}.eos.json", summary,
                          provenance.record("sampling.amorphous.eos", inputs=[crystal_file]))
    rec = provenance.record("sampling.amorphous", inputs=[crystal_file, packed_file],
                            settings=settings_values(settings, _SETTINGS), summary=summary, fingerprint=fp)
    provenance.write_extxyz(out, kept, rec)
    return summary


def amorphous_jobs(crystalline_files: dict[str, Path], settings, out_dir: Path) -> list[tuple]:
    """Jobs (for :func:`seilab.sampling.common.run_jobs`) of the phases not finished yet."""
    return [(amorphous_job, {"phase": phase, "crystal_file": str(path), "settings": settings,
                             "out_dir": str(out_dir)})
            for phase, path in crystalline_files.items()
            if not up_to_date(amorphous_path(out_dir, phase), _fingerprint(settings, phase, path))]
