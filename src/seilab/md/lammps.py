"""LAMMPS (ML-PACE) behind :class:`~seilab.md.engine.MDEngine` (the MD layer's LAMMPS engine).

The binary comes from ``scripts/build_lammps.sh`` (LAMMPS 4Feb2025 + the PACE library of python-ace
0.4.0rc1, MPI when ``libopenmpi-dev`` was there): :func:`find_lmp` looks at ``$SEILAB_LMP``,
then the newest ``${SEILAB_CACHE:-~/.cache/seilab}/lammps-*/bin/lmp`` with a ``build-info.json``,
then ``lmp`` on ``PATH`` if it has ML-PACE.

Input per segment (``in.segNNN.lammps``; metal units):

* ``read_data structure.data`` (fresh) or ``read_restart restart/restart.<step>`` (resume; the step
  counter and the barostat state come from the file, ``reset_timestep`` is never used)
* fresh start with ``minimize_steps`` / ``equilibration_steps`` (:func:`prep_lines`): ``minimize`` (FIRE,
  fixed box, largest per-atom force), then ``fix langevin`` ramping from ``equilibration_start_K`` to T,
  then ``reset_timestep 0``; resumed segments never repeat it
* ``pair_style pace`` + ``.yace``, or ``pair_style pace/extrapolation`` + ``.yaml`` + ``.asi`` when γ is
  monitored: ``fix pair K pace/extrapolation gamma 1``, ``compute reduce max``, a ``fix print`` of the
  max γ every K steps (``gamma.txt``), a dump of extrapolative frames (``dump_modify skip``) and
  ``fix halt`` above ``gamma_halt``
* NpT: ``fix nph`` (aniso / iso / z) + ``fix langevin`` (the usual Langevin-NpT); NVT: ``fix nve`` +
  ``fix langevin``; NVE: ``fix nve``
* ``dump custom ... id type element x y z ix iy iz`` (``time yes``, ``sort id``, ``append yes``),
  ``restart N restart/restart.*``, ``run <steps> upto``, ``write_restart``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

from seilab.errors import SeilabError
from seilab import processes
from seilab.md.engine import (
    DUMP, RESULT, MDResult, MDSpec, PeakRSS, Potential, check_state, merge_segments, prune_restarts, restart_files,
    save_state, thermostat_text, wait_with_rusage, write_lammps_data, write_thermo_csv,
)
from seilab.md.dump import truncate_dump

EXTRAP_DUMP = "extrapolative.dump"
GAMMA_TXT = "gamma.txt"
_THERMO_MAP = {"Step": "step", "Time": "time_ps", "Temp": "temperature_K", "Press": "pressure_bar",
               "TotEng": "etotal_eV", "PotEng": "pe_eV", "KinEng": "ke_eV", "Volume": "volume_A3",
               "Lx": "lx_A", "Ly": "ly_A", "Lz": "lz_A"}
_LOOP_RE = re.compile(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms")


# ----------------------------------------------------------------------------------------------- binary
def cache_root() -> Path:
    return Path(os.environ.get("SEILAB_CACHE") or Path.home() / ".cache" / "seilab")


def _has_pace(lmp: Path) -> bool:
    try:
        out = subprocess.run([str(lmp), "-h"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "ML-PACE" in out


def find_lmp(explicit: str | os.PathLike | None = None) -> Path | None:
    """The LAMMPS binary with ML-PACE, or None. ``explicit`` (or ``$SEILAB_LMP``) must exist if given."""
    for src, cand in (("simulation.lmp", explicit), ("SEILAB_LMP", os.environ.get("SEILAB_LMP"))):
        if cand:
            p = Path(cand)
            if not (p.is_file() and os.access(p, os.X_OK)):
                found = shutil.which(str(cand))
                if not found:
                    raise SeilabError(f"{src}: LAMMPS binary not found or not executable: {cand}")
                p = Path(found)
            return p
    builds = []
    root = cache_root()
    if root.is_dir():
        for d in root.glob("lammps-*"):
            lmp = d / "bin" / "lmp"
            if lmp.is_file() and (d / "build-info.json").is_file():
                builds.append((lmp.stat().st_mtime, lmp))
    if builds:
        return max(builds)[1]
    on_path = shutil.which("lmp")
    if on_path and _has_pace(Path(on_path)):
        return Path(on_path)
    return None


def require_lmp(explicit=None) -> Path:
    lmp = find_lmp(explicit)
    if lmp is None:
        raise SeilabError("simulation.lmp: no LAMMPS with ML-PACE found; build it with `make lammps` "
                          "(bash scripts/build_lammps.sh) or set SEILAB_LMP")
    return lmp


_INFO_CACHE: dict[str, dict] = {}


def build_info(lmp: Path) -> dict:
    """Version, packages, MPI of ``lmp``: its ``build-info.json`` if beside it, else parsed from ``lmp -h``."""
    lmp = Path(lmp)
    key = str(lmp.resolve())
    if key in _INFO_CACHE:
        return _INFO_CACHE[key]
    info_file = lmp.parent.parent / "build-info.json"
    if info_file.is_file():
        try:
            info = json.loads(info_file.read_text())
        except json.JSONDecodeError:
            info = {}
    else:
        info = {}
    if not info.get("packages"):
        try:
            text = subprocess.run([str(lmp), "-h"], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SeilabError(f"{lmp}: cannot run it ({exc})") from None
        m = re.search(r"Large-scale Atomic/Molecular Massively Parallel Simulator - (.+?)\n", text)
        pk = re.search(r"Installed packages:\s*\n\s*\n(.*?)\n\s*\n", text, re.S)
        info.update({"lammps_version": m.group(1).strip() if m else "unknown",
                     "packages": pk.group(1).split() if pk else [],
                     "mpi": "MPI v" in text and "MPI STUBS" not in text})
    info["lmp"] = str(lmp)
    _INFO_CACHE[key] = info
    return info


def omp_flags(lmp: Path, threads: int, section: str = "simulation") -> list[str]:
    """``-sf omp -pk omp N`` when threads > 1 (needs the OPENMP package, which scripts/build_lammps.sh
    leaves out: pair_style pace has no OpenMP variant, so it would only thread the integrator and
    neighbour lists; MPI ranks are the way to use more cores)."""
    if threads <= 1:
        return []
    if "OPENMP" not in build_info(lmp).get("packages", []):
        raise SeilabError(f"{section}.omp_threads: {lmp} has no OPENMP package; use omp_threads: 1 and "
                          "mpi_ranks for more cores")
    return ["-sf", "omp", "-pk", "omp", str(threads)]


def mpi_command(lmp: Path, ranks: int, section: str = "simulation") -> list[str]:
    """``mpirun -np N`` prefix when ranks > 1 (needs an MPI build and mpirun)."""
    if ranks <= 1:
        return []
    info = build_info(lmp)
    if not info.get("mpi"):
        raise SeilabError(f"{section}.mpi_ranks: {lmp} was built without MPI; use mpi_ranks: 1 "
                          "(or rebuild after `apt-get install libopenmpi-dev`)")
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        raise SeilabError(f"{section}.mpi_ranks: mpirun not found (apt-get install openmpi-bin)")
    return [mpirun, "-np", str(ranks), "--oversubscribe", "--bind-to", "none"]


def run_env(omp_threads: int) -> dict:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(omp_threads)
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMPI_MCA_btl_vader_single_copy_mechanism", "none")  # containers without CMA
    return env


def yace_for(pot: Potential, folder: Path) -> Path:
    """The ``.yace`` of ``pot`` (converted with ``pace_yaml2yace`` into ``folder`` when missing)."""
    if pot.yace is not None:
        return Path(pot.yace).resolve()
    out = Path(folder) / "potential.yace"
    if out.is_file() and out.stat().st_mtime >= Path(pot.yaml).stat().st_mtime:
        return out.resolve()
    exe = Path(sys.executable).parent / "pace_yaml2yace"
    cmd = [str(exe) if exe.is_file() else "pace_yaml2yace", str(Path(pot.yaml).resolve()), "-o", str(out)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except OSError as exc:
        raise SeilabError(f"{pot.yaml}: cannot convert to .yace ({exc})") from None
    if r.returncode != 0 or not out.is_file():
        raise SeilabError(f"{pot.yaml}: pace_yaml2yace failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    return out.resolve()


# ----------------------------------------------------------------------------------------------- input
def pair_lines(spec: MDSpec, pot: Potential, folder: Path) -> list[str]:
    els = " ".join(spec.elements)
    if spec.gamma_every:
        return ["pair_style pace/extrapolation",
                f"pair_coeff * * {Path(pot.yaml).resolve()} {Path(pot.asi).resolve()} {els}"]
    return ["pair_style pace", f"pair_coeff * * {yace_for(pot, folder)} {els}"]


def prep_lines(spec: MDSpec, seed: int) -> list[str]:
    """Preparation of a fresh start: minimise at fixed box (FIRE, largest per-atom force below
    ``minimize_fmax_eV_per_A`` or ``minimize_steps``), then NVT (Langevin, zero net force, damping
    ``equilibration_damp_fs``) ramping from ``equilibration_start_K`` to the run temperature over the first half
    of ``equilibration_steps`` and holding it over the second; the step counter is reset
    so production starts at step 0. Its thermo rows use another style (not parsed) and its ``SEILAB_PREP``
    lines carry the numbers (:func:`parse_log`); nothing is dumped."""
    T = spec.temperature_K
    L = ["thermo_style custom step temp pe fmax", "thermo 50", "run 0",
         'print "SEILAB_PREP fmax_start_eV_per_A $(fmax:%.6g) pe_start_eV $(pe:%.10g)"']
    if spec.minimize_steps:
        n = spec.minimize_steps
        L += ["min_style fire", "min_modify norm max",
              f"minimize 0.0 {spec.minimize_fmax_eV_per_A:.10g} {n} {10 * n}",
              'print "SEILAB_PREP fmax_end_eV_per_A $(fmax:%.6g) pe_end_eV $(pe:%.10g) minimize_steps $(step)"',
              "reset_timestep 0"]
    if spec.equilibration_steps:
        T0 = spec.equilibration_start_K
        tdamp = spec.equilibration_damp_fs / 1000.0
        if spec.velocities:
            L.append(f"velocity all create {T0:.10g} {spec.seed} mom yes rot no dist gaussian loop geom")
        n1 = spec.equilibration_steps // 2
        L += ["fix prep_integrate all nve",
              f"fix prep_thermostat all langevin {T0:.10g} {T:.10g} {tdamp:.10g} {seed + 104729} zero yes",
              f"run {n1}", "unfix prep_thermostat",
              f"fix prep_thermostat all langevin {T:.10g} {T:.10g} {tdamp:.10g} {seed + 104723} zero yes",
              f"run {spec.equilibration_steps - n1}",
              'print "SEILAB_PREP equilibration_steps $(step) temperature_end_K $(temp:%.6g)"',
              "unfix prep_thermostat", "unfix prep_integrate", "reset_timestep 0"]
    elif spec.velocities:
        L.append(f"velocity all create {T:.10g} {spec.seed} mom yes rot no dist gaussian loop geom")
    L.append('print "SEILAB_PREP_END"')
    return L


def lammps_input(spec: MDSpec, pot: Potential, folder: Path, restart: Path | None, segment: int) -> str:
    """The LAMMPS input of one segment (fresh start when ``restart`` is None)."""
    dt_ps = spec.timestep_fs / 1000.0
    els = " ".join(spec.elements)
    T, P = spec.temperature_K, spec.pressure_bar
    tdamp, pdamp = spec.thermostat_damp_fs / 1000.0, spec.barostat_damp_fs / 1000.0
    seed = spec.seed + 7919 * segment  # Langevin noise reseeded per segment
    L = [f"# seilab MD segment {segment}: " + (f"resume from {restart.name}" if restart else "fresh start"),
         "units metal", "atom_style atomic", "atom_modify map yes"]
    if restart is None:
        L += ["boundary p p p", "read_data structure.data"]
    else:
        L += [f"read_restart restart/{restart.name}"]
    L += pair_lines(spec, pot, folder)
    L += ["neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes", f"timestep {dt_ps:.10g}"]
    if restart is None and (spec.minimize_steps or spec.equilibration_steps):
        L += prep_lines(spec, seed)
    elif restart is None and spec.velocities:
        L.append(f"velocity all create {T:.10g} {spec.seed} mom yes rot no dist gaussian loop geom")
    if spec.ensemble == "npt":
        coup = {"aniso": "aniso", "iso": "iso", "z": "z"}[spec.barostat]
        L.append(f"fix integrate all nph {coup} {P:.10g} {P:.10g} {pdamp:.10g}")
    else:
        L.append("fix integrate all nve")
    if spec.ensemble in ("npt", "nvt"):
        L.append(f"fix thermostat all langevin {T:.10g} {T:.10g} {tdamp:.10g} {seed} zero yes")
    if spec.gamma_every:
        K = spec.gamma_every
        mode = "append" if restart is not None else "file"
        L += [f"fix pace_gamma all pair {K} pace/extrapolation gamma 1",
              "compute max_pace_gamma all reduce max f_pace_gamma",
              "variable max_pace_gamma equal c_max_pace_gamma",
              f"variable dump_skip equal \"c_max_pace_gamma < {spec.gamma_dump_threshold:.10g}\"",
              f"fix gamma_log all print {K} \"$(step) $(v_max_pace_gamma:%.6f)\" {mode} {GAMMA_TXT} screen no",
              f"dump gamma_dump all custom {K} {EXTRAP_DUMP} id type element x y z f_pace_gamma",
              f"dump_modify gamma_dump skip v_dump_skip element {els} sort id time yes append yes format float %.10g",
              f"fix gamma_halt all halt {K} v_max_pace_gamma > {spec.gamma_halt:.10g} error soft message yes"]
    L += ["thermo_style custom step time temp press etotal pe ke vol lx ly lz",
          "thermo_modify flush yes lost error norm no format float %.10g",
          f"thermo {spec.thermo_every}",
          f"dump traj all custom {spec.dump_every} {DUMP} id type element x y z ix iy iz",
          f"dump_modify traj element {els} sort id time yes append yes format float %.8f",
          f"restart {spec.restart_every} restart/restart.*",
          f"run {spec.steps} upto",
          "write_restart restart/restart.*",
          "print \"SEILAB_SEGMENT_END step $(step)\""]
    return "\n".join(L) + "\n"


# ----------------------------------------------------------------------------------------------- logs
def parse_log(path: Path) -> dict:
    """Thermo rows, loop timings, halt message and the first ERROR of a LAMMPS log."""
    rows: list[dict] = []
    loops: list[dict] = []
    halted = None
    error = None
    header: list[str] | None = None
    prep: dict = {}
    path = Path(path)
    if not path.is_file():
        return {"rows": rows, "loops": loops, "halted": None, "error": None, "ended": False, "prep": prep}
    ended = False
    for line in path.read_text(errors="replace").splitlines():
        s = line.strip()
        toks = s.split()
        if toks and toks[0] == "Step" and all(t in _THERMO_MAP for t in toks):
            header = [_THERMO_MAP[t] for t in toks]
            continue
        if s.startswith("Loop time"):
            m = _LOOP_RE.search(s)
            if m:
                loops.append({"seconds": float(m.group(1)), "procs": int(m.group(2)), "steps": int(m.group(3)),
                              "atoms": int(m.group(4))})
            header = None
            continue
        if "halt condition" in s and halted is None:
            halted = s
        if s.startswith("ERROR") and error is None:
            error = s
        if s.startswith("SEILAB_SEGMENT_END"):
            ended = True
        if s.startswith("SEILAB_PREP_END"):  # the preparation's runs are not production: forget their loops
            loops.clear()
            rows.clear()
            continue
        if s.startswith("SEILAB_PREP "):
            kv = toks[1:]
            for k, v in zip(kv[::2], kv[1::2]):
                try:
                    prep[k] = float(v)
                except ValueError:
                    pass
            continue
        if header is not None and len(toks) == len(header):
            try:
                vals = [float(t) for t in toks]
            except ValueError:
                continue
            row = dict(zip(header, vals))
            row["step"] = int(row["step"])
            rows.append(row)
    return {"rows": rows, "loops": loops, "halted": halted, "error": error, "ended": ended, "prep": prep}


def read_gamma(path: Path) -> list[tuple[int, float]]:
    out = []
    path = Path(path)
    if not path.is_file():
        return out
    for line in path.read_text(errors="replace").splitlines():
        toks = line.split()
        if len(toks) >= 2:
            try:
                out.append((int(float(toks[0])), float(toks[1])))
            except ValueError:
                continue
    return out


def truncate_text_rows(path: Path, first_step_to_drop: int) -> None:
    """Drop rows of a 'step value' text file at or after ``first_step_to_drop`` (and partial lines)."""
    path = Path(path)
    if not path.is_file():
        return
    keep = []
    for line in path.read_text(errors="replace").splitlines(keepends=True):
        toks = line.split()
        if not line.endswith("\n") or len(toks) < 2:
            continue
        try:
            if int(float(toks[0])) < first_step_to_drop:
                keep.append(line)
        except ValueError:
            continue
    path.write_text("".join(keep))


# ----------------------------------------------------------------------------------------------- engine
class LammpsEngine:
    """LAMMPS ML-PACE runs (serial, OpenMP or MPI) driven from Python, with resume."""

    name = "lammps"

    def __init__(self, lmp: str | os.PathLike | None = None):
        self._lmp = lmp

    def available(self) -> tuple[bool, str]:
        try:
            lmp = find_lmp(self._lmp)
        except SeilabError as exc:
            return False, str(exc)
        if lmp is None:
            return False, "no LAMMPS with ML-PACE (run `bash scripts/build_lammps.sh`)"
        return True, str(lmp)

    def lmp(self, spec: MDSpec | None = None) -> Path:
        return require_lmp((spec.lmp if spec is not None and spec.lmp else None) or self._lmp)

    # -- single point -----------------------------------------------------------------------------
    def single_point(self, atoms, potential, elements: Sequence[str], extrapolation: bool = False) -> dict:
        """Energy, forces, stress of ``atoms`` from ``pair_style pace`` (or ``pace/extrapolation``)."""
        import numpy as np
        from ase import units
        from ase.calculators.lammps import Prism

        pot = Potential.from_any(potential)
        lmp = self.lmp()
        spec = MDSpec(structure=atoms, potential=pot, elements=tuple(elements),
                      gamma_every=1 if extrapolation else 0)
        with tempfile.TemporaryDirectory(prefix="seilab-lmp-sp-") as tmp:
            tmp = Path(tmp)
            write_lammps_data(tmp / "structure.data", atoms, elements)
            L = ["units metal", "atom_style atomic", "atom_modify map yes", "boundary p p p",
                 "read_data structure.data"] + pair_lines(spec, pot, tmp) + [
                 "neighbor 1.0 bin",
                 "thermo_style custom step pe pxx pyy pzz pyz pxz pxy",
                 "thermo_modify format float %.17g norm no",
                 "run 0",
                 "write_dump all custom forces.dump id fx fy fz modify sort id format float %.17g"]
            if extrapolation:
                L.insert(-3, "fix pace_gamma all pair 1 pace/extrapolation gamma 1")
                L[-1] = L[-1].replace("fx fy fz", "fx fy fz f_pace_gamma")
            (tmp / "in.lammps").write_text("\n".join(L) + "\n")
            r = subprocess.run([str(lmp), "-in", "in.lammps", "-log", "log.lammps", "-screen", "none"], cwd=tmp,
                               capture_output=True, text=True, env=run_env(1), timeout=3600)
            log = (tmp / "log.lammps").read_text(errors="replace") if (tmp / "log.lammps").is_file() else ""
            if r.returncode != 0:
                err = next((ln for ln in log.splitlines() if ln.startswith("ERROR")), r.stderr.strip()[-300:])
                raise SeilabError(f"{lmp}: single point failed: {err}")
            lines = log.splitlines()
            i = next(k for k, ln in enumerate(lines) if ln.split()[:2] == ["Step", "PotEng"])
            vals = [float(x) for x in lines[i + 1].split()]
            data = np.loadtxt(tmp / "forces.dump", skiprows=9, ndmin=2)
        prism = Prism(atoms.cell.array)
        forces = prism.vector_to_ase(data[:, 1:4])
        p_bar = np.array(vals[2:8])  # xx yy zz yz xz xy in the LAMMPS frame
        xx, yy, zz, yz, xz, xy = p_bar
        pl = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
        pa = prism.tensor2_to_ase(pl)
        stress = -np.array([pa[0, 0], pa[1, 1], pa[2, 2], pa[1, 2], pa[0, 2], pa[0, 1]]) * units.bar
        out = {"energy": vals[1], "forces": forces, "stress": stress}
        if extrapolation:
            out["gamma"] = data[:, 4]
        return out

    # -- MD ---------------------------------------------------------------------------------------
    def start(self, spec: MDSpec, workdir: str | os.PathLike) -> subprocess.Popen:
        """Launch (or resume) the run without waiting: the LAMMPS process (for tests and schedulers)."""
        workdir = Path(workdir)
        spec.validate()
        state = check_state(workdir, spec, self.name)
        proc, _ = self._launch(spec, workdir, state)
        return proc

    def _prepare(self, spec: MDSpec, workdir: Path) -> Path:
        workdir.mkdir(parents=True, exist_ok=True)
        data = workdir / "structure.data"
        if not data.is_file():
            if hasattr(spec.structure, "get_positions"):
                write_lammps_data(data, spec.structure, spec.elements)
            else:
                shutil.copyfile(spec.structure, data)
        (workdir / "restart").mkdir(exist_ok=True)
        return data

    def _launch(self, spec: MDSpec, workdir: Path, state: dict, die_with_parent: bool = False
                ) -> tuple[subprocess.Popen, dict]:
        lmp = self.lmp(spec)
        for old in state.get("segments", [])[-1:]:
            if old.get("returncode") is None and _alive(old.get("pid")):
                raise SeilabError(f"{workdir}: LAMMPS (pid {old['pid']}) of this run is still running; "
                                  "wait for it or kill it before resuming")
        if spec.potential is None:
            raise SeilabError("potential: the LAMMPS engine needs an ACE potential (.yace or .yaml)")
        self._prepare(spec, workdir)
        restarts = [(s, p) for s, p in restart_files(workdir) if s <= spec.steps]
        segs = state.setdefault("segments", [])
        if restarts and segs:
            start_step, rfile = restarts[-1]
        else:  # fresh start: forget partial outputs of earlier attempts
            start_step, rfile = 0, None
            for name in (DUMP, EXTRAP_DUMP, GAMMA_TXT, "thermo.csv", "gamma.csv", RESULT):
                (workdir / name).unlink(missing_ok=True)
            for p in workdir.glob("log.seg*.lammps"):
                p.unlink()
            for _, p in restart_files(workdir):
                p.unlink()
            segs.clear()
        # The continuation appends (dump ... append yes) from the restart step on: cut the dumps' frames
        # at or after it, each from its first header line (ITEM: TIME, which LAMMPS writes before
        # ITEM: TIMESTEP), and the partial frame a kill may have left, so no stray header remains.
        for name in (DUMP, EXTRAP_DUMP):
            truncate_dump(workdir / name, start_step if rfile else 0)
        truncate_text_rows(workdir / GAMMA_TXT, start_step if rfile else 0)
        idx = len(segs)
        inp = workdir / f"in.seg{idx:03d}.lammps"
        inp.write_text(lammps_input(spec, spec.potential, workdir, rfile, idx))
        log = f"log.seg{idx:03d}.lammps"
        cmd = mpi_command(lmp, spec.mpi_ranks, spec.section) + [str(lmp), "-in", inp.name, "-log", log, "-screen", "none"]
        cmd += omp_flags(lmp, spec.omp_threads, spec.section)
        out = open(workdir / f"out.seg{idx:03d}.txt", "w")
        try:
            proc = subprocess.Popen(cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                    env=run_env(spec.omp_threads), start_new_session=True,
                                    preexec_fn=processes.die_with_parent if die_with_parent else None)
        except OSError as exc:
            raise SeilabError(f"{lmp}: cannot start LAMMPS ({exc})") from None
        finally:
            out.close()
        seg = {"index": idx, "start_step": start_step, "restart": rfile.name if rfile else None, "log": log,
               "input": inp.name, "command": cmd, "pid": proc.pid, "started": time.time()}
        segs.append(seg)
        state["status"] = "running"
        state["steps_target"] = spec.steps
        save_state(workdir, state)
        return proc, seg

    def run(self, spec: MDSpec, workdir, progress: Callable[[str], None] | None = None) -> MDResult:
        say = progress or (lambda m: None)
        workdir = Path(workdir)
        spec.validate()
        state = check_state(workdir, spec, self.name)
        if state.get("status") == "halted" or (
                state.get("status") == "finished" and state.get("steps_done", -1) >= spec.steps):
            say(f"{workdir}: run {state['status']} earlier at step {state.get('steps_done')}; not rerun")
            return self._finalize(spec, workdir, state, wall=0.0, rss=state.get("max_rss_MB"), rerun=False)
        if state.get("segments") and restart_files(workdir) and restart_files(workdir)[-1][0] >= spec.steps:
            return self._finalize(spec, workdir, state, wall=0.0, rss=state.get("max_rss_MB"))
        t0 = time.perf_counter()
        max_rss = None
        cpu = 0.0
        bad_restarts = 0
        while True:
            proc, seg = self._launch(spec, workdir, state, die_with_parent=True)
            say(f"LAMMPS segment {seg['index']}: " + (f"resume from step {seg['start_step']}" if seg["restart"]
                                                      else "fresh start") + f" ({' '.join(seg['command'][:3])}...)")
            try:
                with PeakRSS(proc.pid) as mon:
                    rc, _, cpu_s = wait_with_rusage(proc)
                rss = mon.total_MB
            except KeyboardInterrupt:
                processes.stop_group(proc, grace_s=10)
                raise
            max_rss = max(filter(None, [max_rss, rss]), default=None)
            cpu += cpu_s or 0.0
            seg["returncode"] = rc
            seg["cpu_s"] = cpu_s
            seg["wall_s"] = time.time() - seg["started"]
            save_state(workdir, state)
            parsed = parse_log(workdir / seg["log"])
            if rc == 0 and parsed["error"] is None:
                break
            started_md = bool(parsed["rows"])
            if seg["restart"] and not started_md and bad_restarts < 3:
                bad = workdir / "restart" / seg["restart"]
                bad.rename(bad.with_name(bad.name + ".bad"))
                bad_restarts += 1
                say(f"restart file {seg['restart']} unreadable ({parsed['error']}); trying the previous one")
                state["segments"].pop()
                save_state(workdir, state)
                continue
            state["status"] = "failed"
            save_state(workdir, state)
            msg = parsed["error"] or _tail(workdir / f"out.seg{seg['index']:03d}.txt")
            raise SeilabError(f"{workdir / seg['log']}: LAMMPS failed (exit {rc}): {msg}")
        wall = time.perf_counter() - t0
        state["max_rss_MB"] = max_rss
        return self._finalize(spec, workdir, state, wall=wall, rss=max_rss, cpu=cpu or None)

    def _finalize(self, spec: MDSpec, workdir: Path, state: dict, wall: float, rss: float | None,
                  rerun: bool = True, cpu: float | None = None) -> MDResult:
        from seilab import provenance

        segs = state.get("segments", [])
        parsed = [parse_log(workdir / s["log"]) for s in segs]
        rows = merge_segments([(s["start_step"], p["rows"]) for s, p in zip(segs, parsed)])
        gamma = dict(read_gamma(workdir / GAMMA_TXT))
        dt_ps = spec.timestep_fs / 1000.0
        for r in rows:
            r["time_ps"] = r["step"] * dt_ps
            r["max_gamma"] = gamma.get(r["step"])
        write_thermo_csv(workdir / "thermo.csv", rows)
        if gamma:
            text = "step,time_ps,max_gamma\n" + "".join(f"{s},{s * dt_ps:.10g},{g:.6g}\n" for s, g in sorted(gamma.items()))
            provenance.atomic_write_text(workdir / "gamma.csv", text)
        halted = parsed[-1]["halted"] if parsed else None
        last = rows[-1]["step"] if rows else 0
        status = "halted" if halted else ("finished" if last >= spec.steps else "incomplete")
        loops = [lp for p in parsed for lp in p["loops"]]
        loop_s = sum(lp["seconds"] for lp in loops) or None
        atom_steps = sum(lp["steps"] * lp["atoms"] for lp in loops)
        n_atoms = loops[-1]["atoms"] if loops else _count_atoms(workdir / "structure.data")
        state.update({"status": status, "steps_done": last, "halted": halted})
        save_state(workdir, state)
        if rerun:
            prune_restarts(workdir, spec.keep_restarts)
        restarts = restart_files(workdir)
        lmp = self.lmp(spec)
        info = build_info(lmp)
        max_gamma = max(gamma.values()) if gamma else None
        if spec.write_extxyz and (workdir / DUMP).is_file():
            _dump_to_extxyz(workdir / DUMP, workdir / "trajectory.extxyz", spec)
        result = MDResult(
            engine=self.name, workdir=workdir, status=status, steps_done=last, n_atoms=n_atoms,
            thermo=workdir / "thermo.csv", trajectory=workdir / DUMP,
            restart=restarts[-1][1] if restarts else None,
            extrapolative=(workdir / EXTRAP_DUMP) if (workdir / EXTRAP_DUMP).is_file() else None,
            wall_s=wall, loop_s=loop_s, atom_steps_per_s=(atom_steps / loop_s) if loop_s else None,
            max_gamma=max_gamma, segments=len(segs), max_rss_MB=rss, cpu_s=cpu,
            info={"lammps_version": info.get("lammps_version"), "lammps_packages": info.get("packages"),
                  "lammps_mpi": info.get("mpi"), "lmp": str(lmp), "halted": halted,
                  "resumed_from": [s["restart"] for s in segs if s.get("restart")],
                  "prep": next((p["prep"] for s, p in zip(segs, parsed) if not s.get("restart") and p["prep"]), None),
                  "thermostat": thermostat_text(spec)})
        rec = provenance.record("simulation-md", inputs=[workdir / "structure.data"] + [
            Path(p) for p in (spec.potential.files().values() if spec.potential else []) if p],
            settings=spec.describe(), engine=self.name, lammps=info, fingerprint=state.get("fingerprint"))
        provenance.write_json(workdir / RESULT, result.as_dict(), rec)
        return result




def _alive(pid) -> bool:
    """True when ``pid`` runs and looks like LAMMPS / mpirun."""
    if not pid:
        return False
    import psutil

    try:
        cmdline = " ".join(psutil.Process(int(pid)).cmdline())
    except (psutil.Error, ValueError):  # gone, a zombie, or not ours to read
        return False
    return "lmp" in cmdline or "mpirun" in cmdline


def _count_atoms(data: Path) -> int:
    if not data.is_file():
        return 0
    with open(data) as fh:
        for _ in range(20):
            line = fh.readline()
            if line.strip().endswith("atoms"):
                return int(line.split()[0])
    return 0


def _tail(path: Path, n: int = 3) -> str:
    if not path.is_file():
        return "(no output)"
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return " | ".join(lines[-n:]) or "(no output)"




def _dump_to_extxyz(dump: Path, out: Path, spec: MDSpec) -> None:
    from ase.io import iread, write

    frames = []
    for a in iread(str(dump), format="lammps-dump-text", index=":"):
        frames.append(a)
    tmp = out.with_name(f".{out.name}.tmp")
    write(str(tmp), frames, format="extxyz")
    os.replace(tmp, out)
