"""ASE behind :class:`~seilab.md.engine.MDEngine` (small systems, any ASE calculator).

Integrators (paper 2.4 uses Langevin at 1 fs):

* ``nvt``: :class:`ase.md.langevin.Langevin` (friction = 1 / ``thermostat_damp_fs``, centre of mass fixed)
* ``npt``: :class:`ase.md.langevinbaoab.LangevinBAOAB`: Langevin (BAOAB splitting) for the atoms and a
  Langevin-Hoover barostat for the cell (Quigley & Probert 2004), i.e. a Langevin-NpT like LAMMPS'
  ``fix langevin`` + ``fix nph``. ``barostat: iso`` keeps the cell shape (hydrostatic); ``aniso`` lets
  the full cell (also its shape) fluctuate, which ASE cannot restrict to the diagonal; ``z`` is not
  available here (use LAMMPS). Chosen over ``NPTBerendsen`` (not a canonical ensemble, no Langevin)
  and ``ase.md.npt.NPT`` (Nosé–Hoover, needs an upper-triangular cell).
* ``nve``: :class:`ase.md.verlet.VelocityVerlet`

A fresh start with ``minimize_steps`` / ``equilibration_steps`` is prepared as in LAMMPS: FIRE at fixed
cell, then Langevin NVT ramping from ``equilibration_start_K`` to T (``_prepare``; not on resume).

Outputs, restart and resume semantics are those of :mod:`seilab.md.engine`. Restart files
(``restart/restart.<step>.npz``) hold positions, momenta, cell, barostat momentum and the random
generator's state, so an ASE continuation is bitwise identical to an uninterrupted run.

γ: with ``gamma_every > 0`` a second ``PyACECalculator`` with the active set evaluates the per-atom
extrapolation grade every ``gamma_every`` steps (one extra force call each time); frames with max γ
above ``gamma_dump_threshold`` go to ``extrapolative.extxyz`` (per-atom array ``gamma``) and the run
stops (status ``halted``) above ``gamma_halt``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from seilab.dynamics import MDLoop, Observer, StopMD, nvt, run_dynamics, thermalize
from seilab.errors import SeilabError
from seilab.md.engine import (
    DUMP, RESULT, THERMO_COLUMNS, MDResult, MDSpec, Potential, check_state, prune_restarts,
    restart_files, save_state, thermostat_text,
)
from seilab.md.dump import truncate_dump, write_dump_frame

EXTRAP = "extrapolative.extxyz"


def ace_calculator(pot: Potential, gamma: bool = False):
    try:
        from pyace import PyACECalculator
    except ImportError as exc:  # pragma: no cover
        raise SeilabError(f"potential: the ASE engine needs python-ace ({exc})") from None
    path = pot.yaml if (gamma or pot.yaml is not None) else pot.yace
    if path is None:
        raise SeilabError("potential: no .yaml or .yace file")
    calc = PyACECalculator(str(path))
    if gamma:
        if pot.asi is None or pot.yaml is None:
            raise SeilabError("potential: γ needs the .yaml and its .asi active set")
        calc.set_active_set(str(pot.asi))
    return calc


class AseEngine:
    """ASE molecular dynamics with the same inputs and outputs as the LAMMPS engine."""

    name = "ase"

    def available(self) -> tuple[bool, str]:
        return True, "ase"

    def single_point(self, atoms, potential, elements: Sequence[str] = ()) -> dict:
        a = atoms.copy()
        a.calc = ace_calculator(Potential.from_any(potential))
        return {"energy": float(a.get_potential_energy()), "forces": a.get_forces().copy(),
                "stress": a.get_stress().copy()}

    # ------------------------------------------------------------------------------------------
    def run(self, spec: MDSpec, workdir, progress: Callable[[str], None] | None = None) -> MDResult:
        from ase import units

        say = progress or (lambda m: None)
        workdir = Path(workdir)
        spec.validate()
        if spec.ensemble == "npt" and spec.barostat == "z":
            raise SeilabError("barostat: 'z' is not available with the ASE engine (use iso/aniso or LAMMPS)")
        state = check_state(workdir, spec, self.name)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "restart").mkdir(exist_ok=True)
        if state.get("status") == "halted" or (
                state.get("status") == "finished" and state.get("steps_done", -1) >= spec.steps):
            say(f"{workdir}: run {state['status']} earlier at step {state.get('steps_done')}; not rerun")
            return self._result(spec, workdir, state, wall=0.0, steps_run=0)

        atoms = spec.load_atoms()
        atoms.pbc = True
        restarts = [(s, p) for s, p in restart_files(workdir) if s <= spec.steps and p.suffix == ".npz"]
        segs = state.setdefault("segments", [])
        saved = None
        if restarts and segs:
            start, rfile = restarts[-1]
            saved = np.load(rfile, allow_pickle=False)
            atoms.set_cell(saved["cell"])
            atoms.positions = saved["positions"]
            atoms.set_momenta(saved["momenta"])
        else:
            start, rfile = 0, None
            for name in (DUMP, EXTRAP, "thermo.csv", RESULT, "trajectory.extxyz"):
                (workdir / name).unlink(missing_ok=True)
            for _, p in restart_files(workdir):
                p.unlink()
            segs.clear()
        truncate_dump(workdir / DUMP, start)
        _truncate_csv(workdir / "thermo.csv", start)
        _truncate_extxyz(workdir / EXTRAP, start)
        _truncate_extxyz(workdir / "trajectory.extxyz", start)
        seg = {"index": len(segs), "start_step": start, "restart": rfile.name if rfile else None,
               "started": time.time(), "pid": os.getpid()}
        segs.append(seg)
        state.update({"status": "running", "steps_target": spec.steps})
        save_state(workdir, state)

        calc = spec.calculator if spec.calculator is not None else ace_calculator(spec.potential)
        atoms.calc = calc
        gcalc = ace_calculator(spec.potential, gamma=True) if spec.gamma_every else None
        rng = np.random.default_rng(spec.seed)
        dt = spec.timestep_fs * units.fs
        if saved is not None:
            rng.bit_generator.state = json.loads(str(saved["rng_state"]))
        elif spec.minimize_steps or spec.equilibration_steps:
            state["prep"] = self._prepare(spec, atoms, dt, rng, say)
            save_state(workdir, state)
        elif spec.velocities:
            thermalize(atoms, spec.temperature_K, rng)
        dyn = self._integrator(spec, atoms, dt, rng)
        if saved is not None and "p_eps" in saved.files and hasattr(dyn, "p_eps"):
            dyn.p_eps = saved["p_eps"] if saved["p_eps"].shape else float(saved["p_eps"])
        say(f"ASE {type(dyn).__name__}: {len(atoms)} atoms, steps {start} -> {spec.steps}"
            + (f" (resume from {rfile.name})" if rfile else ""))

        thermo_new = not (workdir / "thermo.csv").is_file()
        thermo_fh = open(workdir / "thermo.csv", "a")
        if thermo_new:
            thermo_fh.write(",".join(THERMO_COLUMNS) + "\n")
        dump_fh = open(workdir / DUMP, "a")
        dt_ps = spec.timestep_fs / 1000.0
        gammas: dict[int, float] = {}

        def watch_gamma(step: int) -> None:
            g = self._gamma(atoms, gcalc)
            gmax = float(g.max())
            gammas[step] = gmax
            if gmax > spec.gamma_dump_threshold:
                from ase.io import write

                fr = atoms.copy()
                fr.calc = None
                fr.arrays["gamma"] = g
                fr.info.update({"step": step, "time_ps": step * dt_ps, "max_gamma": gmax})
                write(str(workdir / EXTRAP), fr, format="extxyz", append=True)
            if gmax > spec.gamma_halt:
                raise StopMD(f"max gamma {gmax:.3g} > gamma_halt {spec.gamma_halt} at step {step}")

        def thermo(step: int) -> None:
            thermo_fh.write(self._thermo_line(atoms, step, dt_ps, gammas.get(step)) + "\n")
            thermo_fh.flush()

        def frame(step: int) -> None:
            write_dump_frame(dump_fh, atoms, step, step * dt_ps, spec.elements)
            dump_fh.flush()
            if spec.write_extxyz:
                from ase.io import write

                fr = atoms.copy()
                fr.calc = None
                fr.info.update({"step": step, "time_ps": step * dt_ps})
                write(str(workdir / "trajectory.extxyz"), fr, format="extxyz", append=True)

        def restart(step: int) -> None:
            if step > start or loop.stopped or step == spec.steps:
                self._write_restart(workdir, atoms, dyn, rng, step)

        # the γ watch first: a halt at a step still gets that step's thermo line and restart file
        observers = ([Observer(watch_gamma, spec.gamma_every)] if gcalc is not None else []) + [
            Observer(thermo, spec.thermo_every, at_end=True), Observer(frame, spec.dump_every),
            Observer(restart, spec.restart_every, at_end=True)]
        loop = MDLoop()
        t0 = time.perf_counter()
        try:
            run_dynamics(dyn, spec.steps, observers, start=start, at_start=True, loop=loop)
        finally:
            thermo_fh.close()
            dump_fh.close()
        halted = [loop.stopped] if loop.stopped else []
        wall = time.perf_counter() - t0
        steps_run = loop.steps_run
        state.update({"status": "halted" if halted else "finished", "steps_done": start + steps_run,
                      "halted": halted[0] if halted else None})
        seg["wall_s"] = wall
        seg["steps"] = steps_run
        save_state(workdir, state)
        prune_restarts(workdir, spec.keep_restarts)
        return self._result(spec, workdir, state, wall=wall, steps_run=steps_run, n_atoms=len(atoms),
                            max_gamma=max(gammas.values()) if gammas else None)

    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _prepare(spec: MDSpec, atoms, dt, rng, say) -> dict:
        """The fresh start's preparation, as LAMMPS does it (``lammps.prep_lines``): FIRE at fixed cell,
        then Langevin NVT ramping from ``equilibration_start_K`` to the run temperature."""
        from ase.optimize import FIRE

        def fmax() -> float:
            return float(np.linalg.norm(atoms.get_forces(), axis=1).max())

        prep = {"fmax_start_eV_per_A": fmax(), "pe_start_eV": float(atoms.get_potential_energy())}
        if spec.minimize_steps:
            opt = FIRE(atoms, logfile=None)
            opt.run(fmax=spec.minimize_fmax_eV_per_A, steps=spec.minimize_steps)
            prep.update(fmax_end_eV_per_A=fmax(), pe_end_eV=float(atoms.get_potential_energy()),
                        minimize_steps=float(opt.nsteps))
        if spec.equilibration_steps:
            T0, T, n = spec.equilibration_start_K, spec.temperature_K, spec.equilibration_steps
            if spec.velocities:
                thermalize(atoms, T0, rng)
            dyn = nvt(atoms, "langevin", temperature_K=T0, timestep_fs=spec.timestep_fs, rng=rng,
                      friction_per_fs=1.0 / spec.equilibration_damp_fs, fix_com=False)
            half = max(1, n // 2)  # ramp over the first half, hold T over the second (as in LAMMPS)

            def ramp(step: int) -> None:
                dyn.set_temperature(temperature_K=T0 + (T - T0) * min(1.0, step / half))

            run_dynamics(dyn, n, [Observer(ramp, 1)])
            prep.update(equilibration_steps=float(n), temperature_end_K=float(atoms.get_temperature()))
        elif spec.velocities:
            thermalize(atoms, spec.temperature_K, rng)
        say(f"prepared: largest force {prep['fmax_start_eV_per_A']:.3g} -> "
            f"{prep.get('fmax_end_eV_per_A', prep['fmax_start_eV_per_A']):.3g} eV/A"
            + (f", {spec.equilibration_steps} NVT steps {spec.equilibration_start_K:g} -> {spec.temperature_K:g} K"
               if spec.equilibration_steps else ""))
        return prep

    @staticmethod
    def _integrator(spec: MDSpec, atoms, dt, rng):
        from ase import units

        tdamp = spec.thermostat_damp_fs * units.fs
        if spec.ensemble == "nve":
            return nvt(atoms, "nve", temperature_K=spec.temperature_K, timestep_fs=spec.timestep_fs, fix_com=False)
        if spec.ensemble == "nvt":  # Langevin, friction 1 / thermostat_damp_fs, centre of mass fixed
            return nvt(atoms, "langevin", temperature_K=spec.temperature_K, timestep_fs=spec.timestep_fs, rng=rng,
                       friction_per_fs=1.0 / spec.thermostat_damp_fs, fix_com=True)
        from ase.md.langevinbaoab import LangevinBAOAB

        p = spec.pressure_bar * units.bar
        hydro = spec.barostat == "iso"
        stress = -p if hydro else -p * np.eye(3)  # stress = -pressure
        import warnings

        with warnings.catch_warnings():  # ASE announces its barostat-mass heuristic (from P_tau) every time
            warnings.filterwarnings("ignore", message="Using heuristic P_mass")
            return LangevinBAOAB(atoms, dt, temperature_K=spec.temperature_K, externalstress=stress,
                                 hydrostatic=hydro, T_tau=tdamp, P_tau=spec.barostat_damp_fs * units.fs, rng=rng)

    @staticmethod
    def _gamma(atoms, gcalc) -> np.ndarray:
        a = atoms.copy()
        a.calc = gcalc
        a.get_potential_energy()
        return np.asarray(gcalc.results["gamma"], dtype=float)

    @staticmethod
    def _thermo_line(atoms, step: int, dt_ps: float, gmax: float | None) -> str:
        from ase import units

        pe = float(atoms.get_potential_energy())
        ke = float(atoms.get_kinetic_energy())
        try:
            s = atoms.get_stress(include_ideal_gas=True)
            p = float(-(s[0] + s[1] + s[2]) / 3.0 / units.bar)
        except Exception:  # calculator without stress
            p = None
        from ase.calculators.lammps import Prism

        lx, ly, lz = Prism(atoms.cell.array).get_lammps_prism()[:3]  # LAMMPS box lengths, as the LAMMPS engine
        vals = [step, step * dt_ps, atoms.get_temperature(), p, pe + ke, pe, ke, atoms.get_volume(), lx, ly, lz, gmax]
        return ",".join("" if v is None else (str(v) if isinstance(v, int) else f"{v:.10g}") for v in vals)

    @staticmethod
    def _write_restart(workdir: Path, atoms, dyn, rng, step: int) -> None:
        path = workdir / "restart" / f"restart.{step}.npz"
        tmp = path.with_name(f".tmp.{step}.npz")
        extra = {}
        if hasattr(dyn, "p_eps"):
            extra["p_eps"] = np.asarray(dyn.p_eps)
        with open(tmp, "wb") as fh:
            np.savez(fh, positions=atoms.positions, momenta=atoms.get_momenta(), cell=atoms.cell.array,
                     step=step, rng_state=json.dumps(rng.bit_generator.state), **extra)
        os.replace(tmp, path)

    def _result(self, spec: MDSpec, workdir: Path, state: dict, wall: float, steps_run: int,
                n_atoms: int | None = None, max_gamma: float | None = None) -> MDResult:
        from seilab import provenance

        if n_atoms is None:
            n_atoms = len(spec.load_atoms())
        restarts = restart_files(workdir)
        res = MDResult(
            engine=self.name, workdir=workdir, status=state.get("status", "unknown"),
            steps_done=int(state.get("steps_done", 0)), n_atoms=n_atoms, thermo=workdir / "thermo.csv",
            trajectory=workdir / DUMP, restart=restarts[-1][1] if restarts else None,
            extrapolative=(workdir / EXTRAP) if (workdir / EXTRAP).is_file() else None,
            wall_s=wall, loop_s=wall if steps_run else None,
            atom_steps_per_s=(n_atoms * steps_run / wall) if steps_run and wall > 0 else None,
            max_gamma=max_gamma, segments=len(state.get("segments", [])),
            info={"halted": state.get("halted"), "calculator": type(spec.calculator).__name__
                  if spec.calculator is not None else "PyACECalculator",
                  "resumed_from": [s["restart"] for s in state.get("segments", []) if s.get("restart")],
                  "prep": state.get("prep"), "thermostat": thermostat_text(spec)})
        inputs = [Path(p) for p in (spec.potential.files().values() if spec.potential else []) if p]
        if isinstance(spec.structure, (str, os.PathLike)):
            inputs.insert(0, Path(spec.structure))
        rec = provenance.record("simulation-md", inputs=inputs, settings=spec.describe(), engine=self.name,
                                fingerprint=state.get("fingerprint"))
        provenance.write_json(workdir / RESULT, res.as_dict(), rec)
        return res


def _truncate_csv(path: Path, first_step_to_drop: int) -> None:
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    if not lines:
        return
    keep = [lines[0]]
    for ln in lines[1:]:
        if not ln.endswith("\n"):
            continue
        try:
            if int(ln.split(",", 1)[0]) < first_step_to_drop:
                keep.append(ln)
        except ValueError:
            continue
    path.write_text("".join(keep))


def _truncate_extxyz(path: Path, first_step_to_drop: int) -> None:
    if not path.is_file():
        return
    from ase.io import read, write

    try:
        frames = read(str(path), index=":", format="extxyz")
    except Exception:
        frames = []
    keep = [f for f in frames if int(f.info.get("step", 0)) < first_step_to_drop]
    if len(keep) == len(frames):
        return
    path.unlink()
    if keep:
        write(str(path), keep, format="extxyz")
