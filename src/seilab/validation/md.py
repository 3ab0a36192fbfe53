"""Short ASE molecular dynamics with failure detection, shared by the RDF and stability checks.

NVT: Langevin thermostat (the paper's choice, friction 0.01 fs⁻¹). NpT: Berendsen barostat with
anisotropic cell scaling (``Inhomogeneous_NPTBerendsen``) + Berendsen thermostat. Every
``sample_every`` steps a frame is kept and checked: non-finite positions/energies/forces, a
temperature above ``max_temperature_factor`` × target, atoms closer than ``min_distance_A``, a volume
change beyond ``max_volume_change``. The first failure stops the run and is reported.
:func:`minimize` relaxes the positions at fixed cell (FIRE) with the same non-finite / closest-pair
checks, so that a run can start from a relaxed structure instead of a hot snapshot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from seilab.geometry import min_distance


@dataclass
class MDResult:
    frames: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    temperatures: list = field(default_factory=list)
    volumes: list = field(default_factory=list)
    energies: list = field(default_factory=list)
    max_gamma: list = field(default_factory=list)
    failure: str | None = None
    steps_done: int = 0
    seconds: float = 0.0

    def summary(self) -> dict:
        t = np.array(self.temperatures, dtype=float)
        return {"steps_done": self.steps_done, "seconds": round(self.seconds, 2), "failure": self.failure,
                "n_frames": len(self.frames),
                "mean_temperature_K": float(np.nanmean(t)) if t.size else None,
                "max_temperature_K": float(np.nanmax(t)) if t.size else None,
                "volume_change": (float(self.volumes[-1] / self.volumes[0] - 1.0)
                                  if len(self.volumes) > 1 and np.isfinite(self.volumes[-1]) else 0.0),
                "max_gamma": float(np.nanmax(self.max_gamma)) if self.max_gamma else None}


def _finite(atoms) -> bool:
    """Positions, energy and forces of ``atoms`` (with its calculator) are all finite."""
    return bool(np.all(np.isfinite(atoms.get_positions())) and np.isfinite(atoms.get_potential_energy())
                and np.all(np.isfinite(atoms.get_forces())))


def minimize(atoms, calc, *, steps: int = 100, fmax_eV_per_A: float = 0.1,
             min_distance_A: float | None = 0.6) -> tuple:
    """FIRE on the positions of a copy of ``atoms`` at fixed cell, at most ``steps`` steps.

    Returns (relaxed copy without calculator or None on failure, numbers, failure message or None);
    numbers: ``steps_done``, ``fmax_start_eV_per_A``, ``fmax_eV_per_A`` (final), ``converged``.
    """
    from ase.optimize import FIRE

    work = atoms.copy()
    work.calc = calc
    info = {"steps_done": 0, "fmax_start_eV_per_A": None, "fmax_eV_per_A": None, "converged": False}

    def fmax() -> float:
        return float(np.sqrt((work.get_forces() ** 2).sum(axis=1).max())) if len(work) else 0.0

    opt = FIRE(work, logfile=None)
    try:
        if not _finite(work):
            return None, info, "non-finite positions/energy/forces before minimisation"
        info["fmax_start_eV_per_A"] = fmax()
        if steps > 0 and info["fmax_start_eV_per_A"] > fmax_eV_per_A:
            opt.run(fmax=fmax_eV_per_A, steps=steps)
        info["steps_done"] = int(opt.nsteps)
        if not _finite(work):
            return None, info, f"non-finite positions/energy/forces after {info['steps_done']} minimisation steps"
        info["fmax_eV_per_A"] = fmax()
    except Exception as exc:  # calculator blew up
        info["steps_done"] = int(opt.nsteps)
        return None, info, (f"calculator error after {info['steps_done']} minimisation steps: "
                            f"{type(exc).__name__}: {str(exc)[:200]}")
    info["converged"] = info["fmax_eV_per_A"] <= fmax_eV_per_A
    if min_distance_A is not None:
        dmin = min_distance(work, cutoff=max(2.0, min_distance_A * 2))
        if dmin < min_distance_A:
            return None, info, f"atoms collapsed: {dmin:.2f} Å apart (< {min_distance_A} Å) after minimisation"
    work.calc = None
    return work, info, None


def run_md(atoms, calc, *, ensemble: str = "nvt", temperature_K: float = 300.0, timestep_fs: float = 1.0,
           steps: int = 100, sample_every: int = 10, equilibration_steps: int = 0, thermostat: str = "langevin",
           friction_per_fs: float = 0.01, damp_fs: float = 100.0, seed: int = 0,
           pressure_GPa: float = 0.0, bulk_modulus_GPa: float = 20.0, max_temperature_factor: float | None = 3.0,
           min_distance_A: float | None = 0.6, max_volume_change: float | None = None,
           gamma_calc=None) -> MDResult:
    """Run MD on a copy of ``atoms``; frames are sampled after ``equilibration_steps``.

    The protocol keywords are those of :class:`seilab.settings.md.MDRun` (``**settings.rdf_md.model_dump()``);
    ``thermostat``, ``friction_per_fs`` and ``damp_fs`` apply to the NVT ensemble (:func:`seilab.dynamics.nvt`,
    centre of mass fixed); NpT is Berendsen (100 fs thermostat, 500 fs barostat coupling).

    ``gamma_calc``: a calculator of the same model that also returns per-atom γ
    (``results['gamma']``); it is evaluated on the sampled frames only, so the dynamics can run on the
    plain ``calc`` (the γ projection costs 2.8x a force call on a 63-atom cell, measured with the demo's
    gen003 linear ACE; the forces of the two are identical). Without it, γ is read from ``calc`` when
    it has one."""
    from seilab.dynamics import MDLoop, Observer, StopMD, npt_berendsen, nvt, run_dynamics, thermalize

    work = atoms.copy()
    work.calc = calc
    rng = np.random.default_rng(seed)
    thermalize(work, temperature_K, rng)
    if ensemble == "nvt":
        dyn = nvt(work, thermostat, temperature_K=temperature_K, timestep_fs=timestep_fs, rng=rng,
                  friction_per_fs=friction_per_fs, taut_fs=damp_fs, fix_com=True)
    elif ensemble == "npt":
        dyn = npt_berendsen(work, temperature_K=temperature_K, timestep_fs=timestep_fs, pressure_GPa=pressure_GPa,
                            taut_fs=100.0, taup_fs=500.0, compressibility_per_GPa=1.0 / bulk_modulus_GPa,
                            anisotropic=True)
    else:
        raise ValueError(f"unknown ensemble {ensemble!r}")
    res = MDResult()
    v0 = work.get_volume() if work.cell.rank == 3 else float("nan")
    t0 = time.perf_counter()

    def check(done: int) -> None:
        """Sample the frame at step ``done`` and check it; a failure ends the run (:class:`StopMD`)."""
        res.steps_done = done
        pos = work.get_positions()
        try:
            epot = float(work.get_potential_energy())
            forces = work.get_forces()
        except Exception as exc:
            raise StopMD(f"calculator error at step {done}: {type(exc).__name__}") from None
        temp = float(work.get_temperature())
        if not (np.all(np.isfinite(pos)) and np.isfinite(epot) and np.all(np.isfinite(forces))
                and np.isfinite(temp)):
            raise StopMD(f"non-finite positions/energy/forces at step {done}")
        vol = work.get_volume() if work.cell.rank == 3 else float("nan")
        if done > equilibration_steps or equilibration_steps == 0:
            frame = work.copy()
            frame.calc = None
            frame.set_constraint()
            frame.info["step"] = done
            frame.info["energy"] = epot
            res.frames.append(frame)
        res.steps.append(done)
        res.temperatures.append(temp)
        res.volumes.append(vol)
        res.energies.append(epot / len(work))
        if gamma_calc is not None and gamma_calc is not calc:
            probe = work.copy()
            probe.set_constraint()
            probe.calc = gamma_calc
            probe.get_potential_energy()
            gamma = gamma_calc.results.get("gamma")
        else:
            gamma = getattr(calc, "results", {}).get("gamma") if hasattr(calc, "results") else None
        if gamma is not None and len(gamma):
            res.max_gamma.append(float(np.max(gamma)))
        if max_temperature_factor is not None and temp > max_temperature_factor * temperature_K:
            raise StopMD(f"temperature exploded: {temp:.0f} K > {max_temperature_factor} x {temperature_K:.0f} K "
                         f"at step {done}")
        if min_distance_A is not None:
            dmin = min_distance(work, cutoff=max(2.0, min_distance_A * 2))
            if dmin < min_distance_A:
                raise StopMD(f"atoms collapsed: {dmin:.2f} Å apart (< {min_distance_A} Å) at step {done}")
        if max_volume_change is not None and np.isfinite(v0) and abs(vol / v0 - 1.0) > max_volume_change:
            raise StopMD(f"volume changed by {100 * (vol / v0 - 1):+.0f}% (> {100 * max_volume_change:.0f}%) "
                         f"at step {done}")

    loop = MDLoop()
    try:  # (CHGNet's FixCom warning is filtered where the reference calculator is made)
        run_dynamics(dyn, equilibration_steps + steps, [Observer(check, sample_every, at_end=True)], loop=loop)
        res.failure = loop.stopped
    except Exception as exc:  # calculator blew up (NaN neighbour lists, pyace errors, ...)
        if loop.step == loop.target:  # raised by ``check`` after its chunk, not by the integrator: not ours
            raise
        res.failure = f"calculator error after {loop.target} steps: {type(exc).__name__}: {str(exc)[:200]}"
    res.seconds = time.perf_counter() - t0
    return res
