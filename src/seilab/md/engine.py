"""One MD-engine interface, two implementations (LAMMPS ML-PACE and ASE), shared file formats.

:class:`MDSpec` says *what* to run: a structure (ASE ``Atoms`` or a LAMMPS data file), the potential
files (:class:`Potential`: pacemaker ``.yaml``, LAMMPS ``.yace``, active set ``.asi``), the
element order (LAMMPS atom types), ensemble, temperature, pressure, time step, steps and output
intervals. An :class:`MDEngine` runs it in a folder and writes the same outputs whatever the engine:

* ``thermo.csv``   step, time_ps, temperature_K, pressure_bar, etotal_eV, pe_eV, ke_eV, volume_A3,
  lx_A, ly_A, lz_A, max_gamma (γ only on γ-evaluation steps, else empty)
* ``dump.lammpstrj`` LAMMPS ``dump custom`` text (:mod:`seilab.md.dump`): ``id type element x y z ix iy iz`` with
  ``ITEM: TIME`` (ps; written before ``ITEM: TIMESTEP``, as LAMMPS' ``dump_modify time yes`` does),
  atoms sorted by id; readable by OVITO, ASE (``format="lammps-dump-text"``) and
  :mod:`seilab.analysis.trajectory`
* ``extrapolative.*`` frames whose max γ exceeded ``gamma_dump_threshold`` (LAMMPS: dump with an
  ``f_pace_gamma`` column; ASE: extxyz with a per-atom ``gamma`` array)
* ``restart/restart.<step>`` (LAMMPS binary restart) or ``restart/restart.<step>.npz`` (ASE)
* ``run.json`` (state: fingerprint, segments, status) and ``result.json`` (summary + provenance)

**Resume.** Calling :func:`seilab.md.engines.run_md` again on the same folder with the same spec continues a killed run
from its newest restart file: the step counter is *not* reset (the time axis continues), frames
and thermo rows at or after the restart step are cut from the files before the continuation appends
to them, so nothing is duplicated (a dump is cut at the first header line of a frame, ``ITEM: TIME``,
and loses any partial last frame, so it stays well-formed after any number of resumes). The
continuation is statistically, not bitwise, identical to an uninterrupted run (the Langevin noise is
reseeded per segment). A finished run is not rerun; raising ``steps`` extends it. A folder holding a
run with other settings is refused.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field, asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence, runtime_checkable

from seilab import provenance
from seilab.errors import SeilabError

if TYPE_CHECKING:  # pragma: no cover
    from ase import Atoms

THERMO_COLUMNS = ("step", "time_ps", "temperature_K", "pressure_bar", "etotal_eV", "pe_eV", "ke_eV",
                  "volume_A3", "lx_A", "ly_A", "lz_A", "max_gamma")
ENSEMBLES = ("npt", "nvt", "nve")
BAROSTATS = ("aniso", "iso", "z")
STATE = "run.json"
RESULT = "result.json"
DUMP = "dump.lammpstrj"


# ----------------------------------------------------------------------------------------------- potential
#: the files of a potential an MD run uses (pacemaker B-basis, LAMMPS, active set)
POTENTIAL_FILES = ("yaml", "yace", "asi")


@dataclass(frozen=True)
class Potential:
    """A fitted ACE potential on disk: the one potential type (training writes it, every MD consumer reads it).

    ``yaml`` is the backend's native file (pacemaker B-basis YAML), ``yace`` the LAMMPS file, ``asi`` the
    active set (γ), ``metrics`` the fit's metrics JSON. The rest is what the fit knows: ``backend``,
    ``generation``, ``elements`` and the ``reference_energies`` (eV/atom) subtracted from the reference's
    energies before the fit (energies of the potential are those *corrected* energies). An MD run needs
    only the files (:meth:`from_any` builds one from a path).
    """

    yaml: Path | None = None
    yace: Path | None = None
    asi: Path | None = None
    metrics: Path | None = None
    backend: str = "pacemaker"
    generation: str | None = None
    elements: tuple[str, ...] = ()
    reference_energies: dict = field(default_factory=dict)

    @classmethod
    def from_any(cls, obj, field_name: str = "potential") -> "Potential":
        """From a :class:`Potential` or a path to .yaml/.yace, its files checked.

        Sibling files with the same stem (``pot.yaml`` → ``pot.yace``, ``pot.asi``) are picked up.
        """
        if isinstance(obj, Potential):
            pf = obj
        elif isinstance(obj, (str, os.PathLike)):
            p = Path(obj)
            if not p.is_file():
                raise SeilabError(f"{field_name}: potential file not found: {p}")
            if p.suffix == ".yace":
                pf = cls(yace=p, yaml=_sibling(p, ".yaml"), asi=_sibling(p, ".asi"))
            elif p.suffix in (".yaml", ".yml"):
                pf = cls(yaml=p, yace=_sibling(p, ".yace"), asi=_sibling(p, ".asi"))
            else:
                raise SeilabError(f"{field_name}: {p}: expected a pacemaker .yaml or a LAMMPS .yace file")
        elif obj is None:
            raise SeilabError(f"{field_name}: no potential given")
        else:
            raise SeilabError(f"{field_name}: cannot use {type(obj).__name__} as a potential")
        for name in POTENTIAL_FILES:
            p = getattr(pf, name)
            if p is not None and not Path(p).is_file():
                raise SeilabError(f"{field_name}: {name} file not found: {p}")
        if pf.yaml is None and pf.yace is None:
            raise SeilabError(f"{field_name}: neither a .yaml nor a .yace file given")
        return pf

    @property
    def directory(self) -> Path:
        return Path(self.yaml if self.yaml is not None else self.yace).parent

    def files(self) -> dict:
        """The MD files, ``{"yaml", "yace", "asi"}`` → path string or None (what an MD run's provenance records)."""
        return {k: (str(getattr(self, k)) if getattr(self, k) is not None else None) for k in POTENTIAL_FILES}

    def hashes(self) -> dict:
        """sha256 of each MD file present (an MD run's fingerprint)."""
        from seilab.provenance import sha256_file

        return {k: sha256_file(getattr(self, k)) for k in POTENTIAL_FILES if getattr(self, k) is not None}

    def as_dict(self) -> dict:
        return {**self.files(), "metrics": str(self.metrics) if self.metrics else None, "backend": self.backend,
                "generation": self.generation, "elements": list(self.elements),
                "reference_energies": dict(self.reference_energies)}

    @classmethod
    def from_dict(cls, d: dict) -> "Potential":
        p = lambda k: Path(d[k]) if d.get(k) else None  # noqa: E731
        return cls(yaml=p("yaml"), yace=p("yace"), asi=p("asi"), metrics=p("metrics"),
                   backend=d.get("backend", "pacemaker"), generation=d.get("generation"),
                   elements=tuple(d.get("elements") or ()), reference_energies=dict(d.get("reference_energies") or {}))


def _sibling(p: Path, suffix: str) -> Path | None:
    cand = p.with_suffix(suffix)
    return cand if cand.is_file() else None


# ----------------------------------------------------------------------------------------------- spec
@dataclass
class MDSpec:
    """What to run. ``structure`` is ASE Atoms or a LAMMPS data file (atom types in ``elements`` order)."""

    structure: Any
    potential: Potential | None
    elements: tuple[str, ...]
    ensemble: str = "npt"
    temperature_K: float = 300.0
    pressure_bar: float = 1.0
    barostat: str = "aniso"
    timestep_fs: float = 1.0
    steps: int = 1000
    thermo_every: int = 10
    dump_every: int = 100
    restart_every: int = 500
    keep_restarts: int = 2
    thermostat_damp_fs: float = 100.0
    barostat_damp_fs: float = 1000.0
    seed: int = 12345
    gamma_every: int = 0
    gamma_dump_threshold: float = 1.5
    gamma_halt: float = 25.0
    velocities: bool = True        # draw Maxwell-Boltzmann velocities at the start (fresh runs)
    # preparation of a fresh start (not repeated on resume): minimise at fixed cell, then NVT ramping
    # from equilibration_start_K to temperature_K; production starts from there at step 0
    minimize_steps: int = 0
    minimize_fmax_eV_per_A: float = 0.05
    equilibration_steps: int = 0
    equilibration_start_K: float = 50.0
    equilibration_damp_fs: float = 50.0   # the ramp's Langevin damping: strong, so it reaches T in its steps
    write_extxyz: bool = False
    mpi_ranks: int = 1
    omp_threads: int = 1
    lmp: str | None = None
    calculator: Any = None          # ASE engine only: any ASE calculator instead of the ACE potential
    extra: dict = field(default_factory=dict)
    section: str = "simulation"     # the settings section the spec comes from (named in errors: simulation.mpi_ranks)

    @classmethod
    def from_settings(cls, settings, structure, potential, elements: Sequence[str], **overrides) -> "MDSpec":
        """From a settings object with these fields (the simulation stage's ``SimulationSettings``)."""
        keys = ("ensemble", "temperature_K", "pressure_bar", "barostat", "timestep_fs", "steps", "thermo_every",
                "dump_every", "restart_every", "keep_restarts", "thermostat_damp_fs", "barostat_damp_fs", "seed",
                "gamma_every", "gamma_dump_threshold", "gamma_halt", "write_extxyz", "mpi_ranks", "omp_threads",
                "lmp", "minimize_steps", "minimize_fmax_eV_per_A", "equilibration_steps", "equilibration_start_K",
                "equilibration_damp_fs")
        values = {k: getattr(settings, k) for k in keys}
        values.update(overrides)
        pot = Potential.from_any(potential) if potential is not None else None
        return cls(structure=structure, potential=pot, elements=tuple(elements), **values)

    # -- validation ---------------------------------------------------------------------------
    def validate(self) -> "MDSpec":
        """Check every field; raises a one-line :class:`SeilabError` naming the field or file."""
        if self.ensemble not in ENSEMBLES:
            raise SeilabError(f"ensemble: {self.ensemble!r} is not one of {', '.join(ENSEMBLES)}")
        if self.barostat not in BAROSTATS:
            raise SeilabError(f"barostat: {self.barostat!r} is not one of {', '.join(BAROSTATS)}")
        if not (isinstance(self.timestep_fs, (int, float)) and self.timestep_fs > 0 and math.isfinite(self.timestep_fs)):
            raise SeilabError(f"timestep_fs: must be > 0 (got {self.timestep_fs})")
        if self.timestep_fs > 1.0:
            import warnings

            warnings.warn(f"timestep_fs = {self.timestep_fs}: the paper does not recommend time steps above 1 fs",
                          stacklevel=2)
        if not self.temperature_K > 0:
            raise SeilabError(f"temperature_K: must be > 0 (got {self.temperature_K})")
        for name in ("steps", "thermo_every", "dump_every", "restart_every", "keep_restarts", "mpi_ranks",
                     "omp_threads"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise SeilabError(f"{name}: must be an integer >= 1 (got {v!r})")
        for name in ("minimize_steps", "equilibration_steps"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise SeilabError(f"{name}: must be an integer >= 0 (got {v!r})")
        if not self.minimize_fmax_eV_per_A > 0:
            raise SeilabError(f"minimize_fmax_eV_per_A: must be > 0 (got {self.minimize_fmax_eV_per_A})")
        if not 0 < self.equilibration_start_K <= self.temperature_K:
            raise SeilabError(f"equilibration_start_K: must be in (0, temperature_K] (got {self.equilibration_start_K})")
        if not isinstance(self.gamma_every, int) or self.gamma_every < 0:
            raise SeilabError(f"gamma_every: must be an integer >= 0 (got {self.gamma_every!r})")
        for name in ("thermostat_damp_fs", "barostat_damp_fs", "equilibration_damp_fs"):
            if not getattr(self, name) > 0:
                raise SeilabError(f"{name}: must be > 0")
        if not self.elements:
            raise SeilabError("elements: give the element of each atom type (e.g. Li P S)")
        from ase.data import atomic_numbers

        for el in self.elements:
            if el not in atomic_numbers:
                raise SeilabError(f"elements: unknown element {el!r}")
        if isinstance(self.structure, (str, os.PathLike)):
            if not Path(self.structure).is_file():
                raise SeilabError(f"structure: file not found: {self.structure}")
        elif not hasattr(self.structure, "get_positions"):
            raise SeilabError("structure: give ASE Atoms or a LAMMPS data file")
        else:
            missing = sorted(set(self.structure.get_chemical_symbols()) - set(self.elements))
            if missing:
                raise SeilabError(f"elements: the structure has {missing} which are not in {list(self.elements)}")
        if self.gamma_every and self.calculator is None:
            if self.potential is None or self.potential.asi is None or self.potential.yaml is None:
                raise SeilabError("gamma_every: γ monitoring needs the potential's .yaml and .asi (active set); "
                                  "set gamma_every: 0 or give a potential with an active set")
        if self.gamma_every and self.gamma_halt <= self.gamma_dump_threshold:
            raise SeilabError("gamma_halt: must be larger than gamma_dump_threshold")
        return self

    def load_atoms(self) -> "Atoms":
        """The structure as ASE Atoms (reads a LAMMPS data file with ``elements`` as the type order)."""
        if hasattr(self.structure, "get_positions"):
            return self.structure.copy()
        return read_lammps_data(self.structure, self.elements)

    def fingerprint(self) -> str:
        """Hash of everything that defines the trajectory (not ``steps``, ranks, threads, output paths)."""
        from seilab.provenance import sha256_file

        if hasattr(self.structure, "get_positions"):
            a = self.structure
            h = hashlib.sha256()
            for arr in (a.numbers, a.positions.round(8), a.cell.array.round(8)):
                h.update(arr.tobytes())
            struct = h.hexdigest()
        else:
            struct = sha256_file(self.structure)
        parts = {
            "structure": struct, "elements": list(self.elements), "ensemble": self.ensemble,
            "T": self.temperature_K, "P": self.pressure_bar, "barostat": self.barostat, "dt": self.timestep_fs,
            "thermo": self.thermo_every, "dump": self.dump_every, "restart": self.restart_every,
            "tdamp": self.thermostat_damp_fs, "pdamp": self.barostat_damp_fs, "seed": self.seed,
            "gamma": [self.gamma_every, self.gamma_dump_threshold, self.gamma_halt],
            "potential": self.potential.hashes() if self.potential else None,
            "calculator": type(self.calculator).__name__ if self.calculator is not None else None,
            "velocities": self.velocities,
        }
        if self.minimize_steps or self.equilibration_steps:  # absent when unused: older runs keep their key
            parts["prep"] = [self.minimize_steps, self.minimize_fmax_eV_per_A, self.equilibration_steps,
                             self.equilibration_start_K, self.equilibration_damp_fs]
        return provenance.digest(parts, 16)

    def describe(self) -> dict:
        """JSON-able summary of the spec (for provenance)."""
        keys = ("elements", "ensemble", "temperature_K", "pressure_bar", "barostat", "timestep_fs", "steps",
                "thermo_every", "dump_every", "restart_every", "thermostat_damp_fs", "barostat_damp_fs", "seed",
                "gamma_every", "gamma_dump_threshold", "gamma_halt", "mpi_ranks", "omp_threads",
                "minimize_steps", "minimize_fmax_eV_per_A", "equilibration_steps", "equilibration_start_K",
                "equilibration_damp_fs")
        out = {k: getattr(self, k) for k in keys}
        out["elements"] = list(self.elements)
        out["structure"] = str(self.structure) if isinstance(self.structure, (str, os.PathLike)) else "Atoms"
        out["potential"] = self.potential.files() if self.potential else None
        return out


@dataclass
class MDResult:
    """What a run produced (paths are inside ``workdir``)."""

    engine: str
    workdir: Path
    status: str                   # finished | halted | running | failed
    steps_done: int
    n_atoms: int
    thermo: Path
    trajectory: Path
    restart: Path | None
    extrapolative: Path | None
    wall_s: float
    loop_s: float | None
    atom_steps_per_s: float | None
    max_gamma: float | None = None
    segments: int = 1
    max_rss_MB: float | None = None
    cpu_s: float | None = None        # CPU seconds of the MD processes (this call's segments)
    info: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


@runtime_checkable
class MDEngine(Protocol):
    """An MD code behind one interface."""

    name: str

    def available(self) -> tuple[bool, str]:
        """(usable, reason when not)."""

    def single_point(self, atoms, potential: Potential, elements: Sequence[str]) -> dict:
        """Energy (eV), forces (eV/Å) and stress (eV/Å³, Voigt) of ``atoms`` with ``potential``."""

    def run(self, spec: MDSpec, workdir: Path, progress: Callable[[str], None] | None = None) -> MDResult:
        """Run (or resume, or skip when finished) ``spec`` in ``workdir``."""


def thermostat_text(spec: MDSpec) -> str:
    """The run's thermostat and barostat in words (both engines use a Langevin thermostat on every atom)."""
    if spec.ensemble == "nve":
        return "NVE (no thermostat)"
    text = f"{spec.ensemble.upper()}: Langevin thermostat on every atom, damping {spec.thermostat_damp_fs:g} fs"
    if spec.ensemble == "npt":
        text += f"; {spec.barostat} barostat, damping {spec.barostat_damp_fs:g} fs, {spec.pressure_bar:g} bar"
    return text


# ----------------------------------------------------------------------------------------------- state
def load_state(workdir: Path) -> dict:
    p = Path(workdir) / STATE
    if not p.is_file():
        return {}
    try:
        return provenance.read_json(p)
    except SeilabError:
        raise SeilabError(f"{p}: corrupt run state (delete the folder to start over)") from None


def save_state(workdir: Path, state: dict) -> None:
    from seilab.provenance import atomic_write_text

    atomic_write_text(Path(workdir) / STATE, json.dumps(state, indent=2) + "\n")


def check_state(workdir: Path, spec: MDSpec, engine: str) -> dict:
    """The run state of ``workdir``; refuses a folder that holds a different run."""
    state = load_state(workdir)
    fp = spec.fingerprint()
    if state and (state.get("fingerprint") != fp or state.get("engine") != engine):
        raise SeilabError(f"{workdir}: holds a different run ({state.get('engine')}, fingerprint "
                          f"{state.get('fingerprint')} != {fp}); use another folder or delete it")
    if not state:
        state = {"engine": engine, "fingerprint": fp, "segments": [], "status": "new"}
    return state


# ----------------------------------------------------------------------------------------------- thermo
def write_thermo_csv(path: Path, rows: list[dict]) -> Path:
    from seilab.provenance import atomic_write_text
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(THERMO_COLUMNS), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None or (isinstance(r.get(k), float) and math.isnan(r[k]))
                        else r.get(k)) for k in THERMO_COLUMNS})
    return atomic_write_text(path, buf.getvalue())


def read_thermo_csv(path: Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise SeilabError(f"{path}: thermo file not found")
    out = []
    with open(path) as fh:
        for r in csv.DictReader(fh):
            out.append({k: (int(v) if k == "step" else (float(v) if v not in ("", None) else None))
                        for k, v in r.items()})
    return out


def merge_segments(segments: list[tuple[int, list[dict]]]) -> list[dict]:
    """Rows of consecutive run segments: segment i keeps its rows before segment i+1's start step."""
    out: list[dict] = []
    for i, (start, rows) in enumerate(segments):
        end = segments[i + 1][0] if i + 1 < len(segments) else None
        out.extend(r for r in rows if r["step"] >= start and (end is None or r["step"] < end))
    out.sort(key=lambda r: r["step"])
    dedup: dict[int, dict] = {}
    for r in out:
        dedup[r["step"]] = r
    return [dedup[k] for k in sorted(dedup)]


# ----------------------------------------------------------------------------------------------- structures
def read_lammps_data(path, elements: Sequence[str]):
    from ase.data import atomic_numbers
    from ase.io import read

    try:
        atoms = read(str(path), format="lammps-data", atom_style="atomic",
                     Z_of_type={i + 1: atomic_numbers[el] for i, el in enumerate(elements)}, units="metal")
    except Exception as exc:
        raise SeilabError(f"{path}: not a readable LAMMPS data file ({type(exc).__name__}: {exc})") from None
    atoms.pbc = True
    return atoms


def write_lammps_data(path, atoms, elements: Sequence[str]) -> Path:
    """LAMMPS data file (atom_style atomic, metal units, types in ``elements`` order, masses), atomically."""
    from ase.io import write

    missing = sorted(set(atoms.get_chemical_symbols()) - set(elements))
    if missing:
        raise SeilabError(f"elements: the structure has {missing} which are not in {list(elements)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(str(tmp), atoms, format="lammps-data", specorder=list(elements), masses=True, units="metal",
          atom_style="atomic")
    os.replace(tmp, path)
    return path


_RESTART_RE = re.compile(r"^restart\.(\d+)(\.npz)?$")


def restart_files(workdir: Path) -> list[tuple[int, Path]]:
    """Restart files of a run folder, oldest first."""
    d = Path(workdir) / "restart"
    if not d.is_dir():
        return []
    out = []
    for p in d.iterdir():
        m = _RESTART_RE.match(p.name)
        if m and p.is_file() and p.stat().st_size > 0:
            out.append((int(m.group(1)), p))
    return sorted(out)


def prune_restarts(workdir: Path, keep: int) -> None:
    files = restart_files(workdir)
    for _, p in files[:-keep] if keep > 0 else []:
        p.unlink(missing_ok=True)


class PeakRSS:
    """Peak resident memory (MB) of a session (``start_new_session`` child), summed over its processes whose command
    line contains ``name`` (all MPI ranks share the session), sampled with psutil every ``interval`` s.

    Each process keeps its largest RSS sample: a *sampled* peak, not the kernel's high-water mark (VmHWM of
    ``/proc/<pid>/status``, which psutil does not expose), so a spike shorter than ``interval`` can be missed.
    LAMMPS allocates at setup and then holds its memory; on a child that allocates 300 MB and holds it for 1 s
    the two agree within 1 MB (``tests/simulation/test_peak_rss.py``).

    ``ru_maxrss`` of the child is useless here: Linux carries the forking Python's high-water mark
    across ``exec``, so every child would report the size of the Python process.
    """

    def __init__(self, pgid: int, name: str = "lmp", interval: float = 0.2):
        import threading

        self.pgid, self.name, self.interval = pgid, name, interval
        self.peak: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def total_MB(self) -> float | None:
        return sum(self.peak.values()) if self.peak else None

    def _poll(self) -> None:
        import psutil

        for p in psutil.process_iter(["cmdline"]):
            try:
                if os.getsid(p.pid) != self.pgid or self.name not in " ".join(p.info["cmdline"] or ()):
                    continue
                mb = p.memory_info().rss / 2**20
            except (psutil.Error, OSError):
                continue
            self.peak[p.pid] = max(self.peak.get(p.pid, 0.0), mb)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poll()
            self._stop.wait(self.interval)


def wait_with_rusage(proc) -> tuple[int, float | None, float | None]:
    """Wait for a Popen child: (return code, max RSS in MB of it and its waited-for descendants,
    user + system CPU seconds of the child and its waited-for descendants)."""
    try:
        _, status, ru = os.wait4(proc.pid, 0)
    except ChildProcessError:
        return proc.wait(), None, None
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc
    return rc, ru.ru_maxrss / 1024.0, ru.ru_utime + ru.ru_stime
