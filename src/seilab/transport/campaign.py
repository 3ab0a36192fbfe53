"""Transport campaign: amorphous cells → NpT to ⟨P⟩ = 0 → NVT MD at each temperature → Onsager L per phase.

For every phase (a name and a starting structure, ASE Atoms) and every temperature of
:class:`~seilab.settings.transport.TransportSettings`:

1. **cell** — repeat the structure to about ``target_atoms`` atoms (near-cubic supercell),
   scale its volume by ``volume_scale``, rattle it and melt it with Langevin dynamics at
   ``melt_temperature_K`` for ``melt_steps`` steps (at the crystal's volume) →
   ``<out>/<phase>/cell.extxyz``;
2. **volume** — at T, from Maxwell–Boltzmann velocities: ``npt_steps`` of isotropic NpT at P = 0
   (:class:`ase.md.nptberendsen.NPTBerendsen`, barostat ``npt_taup_fs`` with the assumed
   ``npt_compressibility_per_GPa``, Berendsen thermostat ``npt_taut_fs``); the cell is rescaled
   isotropically to the mean volume of the second half of those steps, so production runs where
   ⟨P⟩ = 0 at T, not at the 0 K crystal volume. Then ``md.equilibration_steps`` of NVT at that volume under
   the production thermostat; their mean pressure (GPa, with std and block sem), the volumes (Å³)
   and the density ratio to the crystal go to ``<out>/<phase>/T0900K/equilibration.json``, the
   trajectory's provenance and the entry / summary;
3. **amorphisation check** — the equilibrated cell's Bragg order (:func:`bragg_order`: the
   crystal's 30 strongest reflections, 0 for random positions, 1 for the ideal crystal) must not
   exceed ``amorphous_max_order``. A cell that is still crystalline is not used: with
   ``on_error="raise"`` :class:`NotAmorphous` stops the campaign, with ``"record"`` the entry has
   ``status="not_amorphous"`` and the one-line reason (also in ``equilibration.json``); the verdict is
   re-evaluated on every rerun, so raising the limit (or switching it off with ``None``) continues
   from the stored equilibrated frame;
4. **MD** — production under ``md.thermostat``: by default the global Bussi / CSVR thermostat
   (:class:`ase.md.bussi.Bussi`, ``md.damp_fs``), which rescales all velocities by one
   factor and so does not damp the atoms' relative motion (the distinct correlations in L_ij);
   ``"langevin"`` (``md.friction_per_fs`` on every atom) and ``"nve"`` are options. The thermostat is
   stated in the trajectory's provenance and in every entry. Centre of mass fixed with
   :class:`ase.constraints.FixCom` unless ``fix_com`` is off. ``md.steps`` steps with one frame every
   ``md.sample_every`` steps (frame 0: the equilibrated state) appended (in chunks of ``flush_every``
   frames) to ``<out>/<phase>/T0900K/trajectory.part.extxyz``; positions are never wrapped, so the
   file is an unwrapped trajectory. When all frames are there it becomes ``trajectory.extxyz`` with
   its provenance sidecar;
5. **L** — the Onsager estimator on the trajectory → ``<out>/<phase>/T0900K/onsager.json``.

Cost per phase and temperature: ``npt_steps + md.equilibration_steps + md.steps`` MD steps after the melt
(the NpT steps need the stress, which ASE MLIP calculators return with the forces).

MD that blows up (non-finite energies or positions, or an atom moving more than half a cell vector
between two stored frames, which at a 1–2 fs step means the potential left its fitted range) stops
with :class:`BlowUp` (a :class:`~seilab.errors.SeilabError`) naming the phase, temperature and step. With
``on_error="record"`` that phase/temperature (or the whole phase, when its melt blew up) is written
to ``failed.json`` in its folder, returned as an entry with ``status="failed"`` and the campaign
goes on with the others; a rerun skips it as finished work (delete ``failed.json`` to try again).

Resumable: a cell, trajectory frames or a result already on disk are not recomputed. A killed
run continues from the last complete frame (positions, momenta and the production cell are stored
in every frame; a run killed before frame 0 redoes the NpT and NVT equilibration;
the thermostat's random stream restarts, so a resumed run is statistically but not bitwise
identical to an uninterrupted one). A finished phase/temperature is skipped on rerun; raising
``md.steps`` extends existing trajectories. Changing a setting that defines the MD
(timestep, sampling, thermostat and its coupling, friction, NpT stage, seed, melt) for an existing
folder is an error, and so is a folder made before a setting existed.

Works with any ASE calculator object (the MLIP is passed in by the pipeline). The same object
is attached to every Atoms in turn, so it must tolerate being reused for different systems.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from seilab.dynamics import (Observer, append_frames, count_complete_frames, npt_berendsen, nvt, run_dynamics,
                             thermalize)
from seilab.errors import SeilabError
from seilab.provenance import load_json, read_json

from .onsager import Onsager, OnsagerResult
from seilab.settings.base import settings_values
from seilab.settings.transport import TransportSettings

log = logging.getLogger("seilab.transport")

STAGE = "analysis.transport"

#: Settings that define an existing MD folder; changing them for that folder is an error.
#: (Dotted keys: ``md.timestep_fs`` is ``settings.md.timestep_fs``; read with ``settings_values``.)
_MD_KEYS = ("md.timestep_fs", "md.sample_every", "md.friction_per_fs", "seed", "md.equilibration_steps", "fix_com",
            "md.thermostat", "md.damp_fs", "npt_steps", "npt_taup_fs", "npt_taut_fs", "npt_compressibility_per_GPa")
_CELL_KEYS = ("target_atoms", "melt_temperature_K", "melt_steps", "volume_scale", "rattle_A", "seed", "fix_com",
              "md.timestep_fs", "md.friction_per_fs")


class BlowUp(SeilabError):
    """The MD of one phase left physical ground (non-finite numbers, atoms jumping across the cell)."""


class NotAmorphous(SeilabError):
    """The cell that would enter production is still crystalline (see :func:`bragg_order`)."""


@dataclass
class Phase:
    """A phase of the campaign: a name (folder name), its starting structure and composition.

    ``composition`` is a label (e.g. ``"Li3P"``); by default the reduced formula of ``atoms``.
    """

    name: str
    atoms: Any
    composition: str = ""

    def __post_init__(self):
        if not self.composition:
            self.composition = self.atoms.get_chemical_formula(mode="metal", empirical=True)
        if not self.name or any(c in self.name for c in "/\\ \t\n"):
            raise SeilabError(f"phase name: {self.name!r} is not usable as a folder name")


def as_phase(obj: Any) -> Phase:
    """Accept a :class:`Phase`, ``(name, atoms)``, ``{"name":…, "atoms":…}`` or bare Atoms."""
    from ase import Atoms

    if isinstance(obj, Phase):
        return obj
    if isinstance(obj, Atoms):
        return Phase(obj.get_chemical_formula(mode="metal", empirical=True), obj)
    if isinstance(obj, dict):
        if "atoms" not in obj:
            raise SeilabError("phases: each entry needs 'atoms'")
        atoms = obj["atoms"]
        return Phase(obj.get("name") or atoms.get_chemical_formula(mode="metal", empirical=True),
                     atoms, obj.get("composition", ""))
    if isinstance(obj, (tuple, list)) and len(obj) == 2 and isinstance(obj[1], Atoms):
        return Phase(str(obj[0]), obj[1])
    raise SeilabError(f"phases: cannot use {type(obj).__name__} as a phase (give name and ASE Atoms)")


@dataclass
class CampaignEntry:
    """One phase at one temperature.

    status: ``"computed"`` (MD ran in this call, fully or partly), ``"skipped"`` (everything
    was already on disk), ``"failed"`` (the MD blew up; ``result`` is None and ``error`` says
    why) or ``"not_amorphous"`` (the equilibrated cell is still crystalline, no production was run;
    ``result`` is None and ``error`` gives its Bragg order). ``md_steps`` counts the MD steps run in
    this call (melt excluded). ``equilibration``: the NpT / NVT equilibration's record (volumes Å³,
    pressures GPa, density ratio to the crystal, Bragg order; see :func:`_equilibrate`);
    ``thermostat``: the production thermostat (:func:`thermostat_info`).
    """

    phase: str
    composition: str
    temperature_K: float
    folder: Path
    trajectory: Path
    result_path: Path
    result: OnsagerResult | None
    status: str
    md_steps: int = 0
    error: str = ""
    equilibration: dict | None = None
    thermostat: dict | None = None

    def to_dict(self) -> dict:
        d = {"phase": self.phase, "composition": self.composition, "temperature_K": self.temperature_K,
             "trajectory": str(self.trajectory), "result": str(self.result_path), "status": self.status,
             "md_steps": self.md_steps, "thermostat": self.thermostat, "equilibration": self.equilibration}
        if self.result is None:
            return {**d, "error": self.error}
        return {**d, "species": list(self.result.species), "L": self.result.L.tolist(),
                "L_err": self.result.L_err.tolist()}


# --------------------------------------------------------------------------------------------
# Cell construction
# --------------------------------------------------------------------------------------------

def supercell_repeats(atoms, target_atoms: int) -> tuple[int, int, int]:
    """Repetitions (a, b, c) giving about ``target_atoms`` atoms in a near-cubic cell."""
    n0 = len(atoms)
    lengths = atoms.cell.lengths()
    kmax = max(1, min(12, math.ceil((target_atoms / n0) ** (1 / 3) * 3)))
    best, best_score = (1, 1, 1), float("inf")
    for a in range(1, kmax + 1):
        for b in range(1, kmax + 1):
            for c in range(1, kmax + 1):
                n = n0 * a * b * c
                L = lengths * (a, b, c)
                score = abs(n - target_atoms) / target_atoms + 0.1 * (L.max() / L.min() - 1)
                if score < best_score - 1e-12:
                    best, best_score = (a, b, c), score
    return best


def _langevin(atoms, T: float, settings: TransportSettings, rng):
    """ASE Langevin at T (``md.friction_per_fs``); centre of mass fixed with FixCom when ``settings.fix_com``."""
    return nvt(atoms, "langevin", temperature_K=T, timestep_fs=settings.md.timestep_fs, rng=rng,
               friction_per_fs=settings.md.friction_per_fs, fix_com=settings.fix_com)


def thermostat_info(settings: TransportSettings) -> dict:
    """The production (and NVT equilibration) thermostat, as stated in provenance and summaries."""
    md = settings.md
    if md.thermostat == "bussi":
        return {"name": "bussi", "class": "ase.md.bussi.Bussi", "scope": "global (one velocity scale factor)",
                "taut_fs": md.damp_fs}
    if md.thermostat == "langevin":
        return {"name": "langevin", "class": "ase.md.langevin.Langevin", "scope": "per atom",
                "friction_per_fs": md.friction_per_fs}
    return {"name": "nve", "class": "ase.md.verlet.VelocityVerlet", "scope": "none"}


def _thermostat(atoms, T: float, settings: TransportSettings, rng):
    """NVT equilibration / production dynamics at T under ``settings.md.thermostat`` (:func:`seilab.dynamics.nvt`).

    Bussi (CSVR) rescales all momenta by one stochastic factor per step, so it leaves the relative
    motion of the atoms (the distinct correlations of L_ij) undamped, unlike a per-atom Langevin
    friction. The centre of mass is fixed with FixCom when ``settings.fix_com``."""
    return nvt(atoms, temperature_K=T, rng=rng, fix_com=settings.fix_com, **settings.md.nvt_kwargs())


def _pressure_GPa(atoms) -> float:
    """Instantaneous pressure including the kinetic (ideal-gas) term, GPa."""
    from ase import units

    return float(-np.trace(atoms.get_stress(voigt=False, include_ideal_gas=True)) / 3 / units.GPa)


def _mean_sem(x, n_blocks: int = 5) -> dict:
    """Mean, standard deviation and the standard error of the mean from contiguous blocks."""
    x = np.asarray(x, float)
    out = {"mean": float(x.mean()), "std": float(x.std()), "n": int(x.size)}
    nb = min(n_blocks, x.size)
    out["sem"] = (float(np.std([b.mean() for b in np.array_split(x, nb)], ddof=1) / np.sqrt(nb))
                  if nb > 1 else float("nan"))
    return out


def crystal_supercell(atoms, settings: TransportSettings):
    """The relaxed crystal repeated as in :func:`build_cell` (no rattle, no melt, no volume scale)."""
    if atoms.cell.rank != 3:
        raise SeilabError("phase structure: needs a periodic 3D cell")
    reps = supercell_repeats(atoms, settings.target_atoms)
    cell = atoms.repeat(reps)
    cell.pbc = True
    return cell, reps


def _bragg_reflections(crystal, reps, n_reflections: int = 30, g_max_per_A: float = 4.0):
    """Miller indices (of the supercell) of the crystal's strongest reflections below ``g_max_per_A``, and
    the ideal supercell's summed intensity over them."""
    import itertools

    h = np.array([m for m in itertools.product(range(-4, 5), repeat=3) if any(m)])
    g = 2 * np.pi * np.linalg.norm(h @ np.linalg.inv(crystal.cell[:]).T, axis=1)
    h = h[g <= g_max_per_A]
    sc = crystal.repeat(reps)
    H = h * np.asarray(reps)
    I0 = _intensities(sc.get_scaled_positions(), sc.get_chemical_symbols(), H)
    keep = np.argsort(-I0, kind="stable")[:n_reflections]
    return H[keep], float(I0[keep].sum())


def _intensities(frac, symbols, H):
    """Σ_species |Σ_j exp(2πi H·s_j)|² per reflection H (fractional coordinates s of the supercell)."""
    phase = np.exp(2j * np.pi * np.asarray(frac) @ H.T)
    sym = np.asarray(symbols)
    return sum(np.abs(phase[sym == s].sum(axis=0)) ** 2 for s in np.unique(sym))


def bragg_order(cell, crystal, reps) -> float:
    """Long-range crystalline order of ``cell`` (a supercell ``reps`` of ``crystal``, same atom order).

    The summed intensity of the crystal's 30 strongest reflections (|G| ≤ 4 Å⁻¹, species resolved),
    normalised so that uncorrelated positions give 0 (each reflection then has ⟨I⟩ = N) and the
    ideal crystal 1. A crystal at T keeps most of it (Debye–Waller factor), a melt none. It is
    computed in fractional coordinates, so an isotropic rescaling does not change it; a crystal that
    recrystallised in another orientation is not seen.

    Why not Steinhardt or the RDF (both available in seilab): measured on the demo's ten phases,
    ten Wolde solid-like bonds (freud, 12 neighbours) find no solid-like atom in six of the ideal
    crystals (Li7P3S11, Li3PS4, LiP, LiP7, Li3P7, Li4P2S6), and the RDF similarity to the crystal
    keeps the short-range order of P–P / P–S units (Li3P7 melted 0.91 vs the crystal with 0.12 Å
    rattle 0.94). Bragg order on the same set: rattled crystals 0.83–0.93 (0.45–0.81 at 0.2 Å),
    melted cells 0.01–0.12.
    """
    H, I0 = _bragg_reflections(crystal, reps)
    n = len(cell)
    k = H.shape[0]
    denom = I0 - k * n
    if not denom > 0:
        return float("nan")
    return float((_intensities(cell.get_scaled_positions(wrap=False), cell.get_chemical_symbols(), H).sum()
                  - k * n) / denom)


def build_cell(atoms, settings: TransportSettings, calculator=None):
    """Supercell of ``atoms`` near ``target_atoms``, volume-scaled, rattled and melted.

    Melting runs ``melt_steps`` Langevin steps at ``melt_temperature_K`` with ``calculator``
    (skipped when ``melt_steps`` is 0). Returns new, wrapped Atoms without calculator.
    """
    cell, _ = crystal_supercell(atoms, settings)
    if settings.volume_scale != 1.0:
        cell.set_cell(cell.cell * settings.volume_scale ** (1 / 3), scale_atoms=True)
    rng = np.random.default_rng(settings.seed)
    if settings.rattle_A > 0:
        cell.positions += rng.normal(scale=settings.rattle_A, size=cell.positions.shape)
    if settings.melt_steps > 0:
        if calculator is None:
            raise SeilabError("calculator: needed to melt the cell (melt_steps > 0)")
        cell.calc = calculator
        thermalize(cell, settings.melt_temperature_K, rng)
        run_dynamics(_langevin(cell, settings.melt_temperature_K, settings, rng), settings.melt_steps)
        energy = cell.get_potential_energy()
        if not (np.isfinite(energy) and np.all(np.isfinite(cell.positions))):
            raise BlowUp(f"melt at {settings.melt_temperature_K:g} K blew up (non-finite energy or positions "
                         f"after {settings.melt_steps} steps)")
        cell.calc = None
        cell.set_constraint()
    cell.wrap()
    cell.set_momenta(np.zeros((len(cell), 3)))
    cell.info = {}
    return cell


# --------------------------------------------------------------------------------------------
# extxyz chunk files
# --------------------------------------------------------------------------------------------

def _snapshot(atoms, step: int, time_ps: float):
    snap = atoms.copy()
    snap.calc = None
    snap.set_constraint()
    snap.info = {"step": int(step), "time_ps": float(time_ps),
                 "energy_eV": float(atoms.get_potential_energy()),
                 "temperature_K_inst": float(atoms.get_temperature())}
    return snap


# --------------------------------------------------------------------------------------------
# Campaign
# --------------------------------------------------------------------------------------------

def _check_same(path: Path, current: dict, what: str) -> None:
    if path.is_file():
        old = read_json(path)  # paths inside a campaign come back absolute
        # a key the old file lacks counts as changed: that folder was made by an older protocol
        diff = [k for k in current if k not in old or old[k] != current[k]]
        if diff:
            raise SeilabError(f"{path}: existing {what} made with different {', '.join(diff)}; "
                              f"delete {path.parent} or use another output folder")


def _temperature_dir(phase_dir: Path, T: float) -> Path:
    return phase_dir / (f"T{int(round(T)):04d}K" if abs(T - round(T)) < 1e-9 else f"T{T:g}K")


def run_campaign(phases: Iterable[Any], calculator, out_dir: str | os.PathLike,
                 settings: TransportSettings | None = None,
                 progress: Callable[[dict], None] | None = None,
                 on_error: str = "raise") -> list[CampaignEntry]:
    """Run (or resume) the transport campaign and return one entry per phase and temperature.

    Parameters
    ----------
    phases : :class:`Phase` objects, ``(name, atoms)`` pairs, dicts or bare ASE Atoms.
    calculator : any ASE calculator (attached to each system in turn).
    out_dir : output folder (created).
    settings : :class:`TransportSettings` (default: the defaults).
    progress : called after every chunk written with
        ``{"phase", "temperature_K", "frames_done", "frames_total"}``.
    on_error : ``"raise"`` (default) stops at the first phase whose melt or MD blows up;
        ``"record"`` writes ``failed.json`` for it, returns a ``"failed"`` entry and goes on.
    """
    from seilab.provenance import is_valid_artifact, record, write_json

    settings = settings or TransportSettings()
    if calculator is None:
        raise SeilabError("calculator: an ASE calculator is required")
    if on_error not in ("raise", "record"):
        raise SeilabError(f"on_error: {on_error!r}; use 'raise' or 'record'")
    if settings.error_method != "blocks":
        raise SeilabError(f"error_method: '{settings.error_method}' needs several runs; the campaign makes "
                          f"one per phase and temperature, use 'blocks'")
    phases = [as_phase(p) for p in phases]
    if not phases:
        raise SeilabError("phases: empty list")
    names = [p.name for p in phases]
    if len(set(names)) != len(names):
        raise SeilabError(f"phases: duplicated names {sorted({n for n in names if names.count(n) > 1})}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dump = settings.model_dump(mode="json")
    entries: list[CampaignEntry] = []

    for phase in phases:
        pdir = out / phase.name
        pdir.mkdir(exist_ok=True)
        cell_path = pdir / "cell.extxyz"
        cell_settings = settings_values(settings, _CELL_KEYS)
        _check_same(pdir / "cell.settings.json", cell_settings, "cell")
        failed = _recorded_failure(pdir, cell_settings)
        if failed is None and is_valid_artifact(cell_path):
            from seilab.provenance import read_extxyz

            cell = read_extxyz(cell_path, index=0)
        elif failed is None:
            log.info("%s: building and melting a cell", phase.name)
            try:
                cell = build_cell(phase.atoms, settings, calculator)
            except BlowUp as exc:
                failed = _record_failure(pdir, cell_settings, f"{phase.name}: {exc}", on_error)
            else:
                from seilab.provenance import write_extxyz

                write_extxyz(cell_path, [cell], record(STAGE, settings=dump, phase=phase.name,
                                                       composition=phase.composition, step="cell"))
                write_json(pdir / "cell.settings.json", cell_settings)
        for T in settings.md.temperatures_K:
            tdir = _temperature_dir(pdir, float(T))
            if failed is not None:
                entries.append(_failed_entry(phase, float(T), tdir, failed))
                continue
            entries.append(_run_temperature(phase, cell, cell_path, float(T), calculator, settings, tdir,
                                            progress, on_error))

    write_json(out / "transport_summary.json", {"entries": [e.to_dict() for e in entries]},
               record(STAGE, settings=dump))
    return entries


def _recorded_failure(folder: Path, settings: dict) -> str | None:
    """The reason stored in ``folder/failed.json`` when it was written with these settings."""
    path = folder / "failed.json"
    if not path.is_file():
        return None
    data = load_json(path)
    if data is None:
        return None
    return data.get("error") if data.get("settings") == json.loads(json.dumps(settings)) else None


def _record_failure(folder: Path, settings: dict, error: str, on_error: str) -> str:
    """Raise (``on_error="raise"``) or write ``failed.json`` and return the reason."""
    from seilab.provenance import record, write_json

    if on_error == "raise":
        raise BlowUp(error)
    log.warning("%s (recorded in %s; the campaign goes on)", error, folder / "failed.json")
    write_json(folder / "failed.json", {"error": error, "settings": settings}, record(STAGE, step="failed"))
    return error


def _failed_entry(phase: Phase, T: float, tdir: Path, error: str) -> CampaignEntry:
    return CampaignEntry(phase.name, phase.composition, T, tdir, tdir / "trajectory.extxyz",
                         tdir / "onsager.json", None, "failed", 0, error)


def _run_temperature(phase: Phase, cell, cell_path: Path, T: float, calculator,
                     settings: TransportSettings, tdir: Path, progress, on_error: str = "raise") -> CampaignEntry:
    from seilab.provenance import write_json

    tdir.mkdir(parents=True, exist_ok=True)
    md_settings = settings_values(settings, _MD_KEYS) | {"temperature_K": T}
    _check_same(tdir / "md.settings.json", md_settings, "trajectory")
    if not (tdir / "md.settings.json").is_file():
        write_json(tdir / "md.settings.json", md_settings)
    failed = _recorded_failure(tdir, md_settings)
    if failed is None:
        try:
            return _run_temperature_unguarded(phase, cell, cell_path, T, calculator, settings, tdir, progress)
        except BlowUp as exc:  # only blow-ups are results; bad input or files still stop the campaign
            failed = _record_failure(tdir, md_settings, str(exc), on_error)
        except NotAmorphous as exc:
            if on_error == "raise":
                raise
            log.warning("%s (recorded in %s; the campaign goes on)", exc, tdir / "equilibration.json")
            entry = _failed_entry(phase, T, tdir, str(exc))
            entry.status, entry.md_steps = "not_amorphous", exc.md_steps
            entry.equilibration, entry.thermostat = exc.equilibration, thermostat_info(settings)
            return entry
    return _failed_entry(phase, T, tdir, failed)


def _amorphous_check(eq: dict, settings: TransportSettings) -> dict:
    """``eq`` with the verdict of the amorphisation check under the current ``amorphous_max_order``."""
    lim, order = settings.amorphous_max_order, eq.get("bragg_order")
    out = {**{k: v for k, v in eq.items() if k != "provenance"}, "amorphous_max_order": lim}
    if lim is None or order is None or not np.isfinite(order):
        out["amorphous"], out["reason"] = None, "not checked" if lim is None else "Bragg order undefined"
    elif order > lim:
        out["amorphous"] = False
        out["reason"] = (f"still crystalline before production: Bragg order {order:.2f} > amorphous_max_order "
                         f"{lim:g} (0: random, 1: the crystal); raise melt_temperature_K or melt_steps")
    else:
        out["amorphous"], out["reason"] = True, f"Bragg order {order:.2f} <= {lim:g}"
    return out


def _raise_if_crystalline(phase: Phase, T: float, eq: dict, md_steps: int = 0) -> None:
    if eq.get("amorphous") is False:
        exc = NotAmorphous(f"{phase.name} {T:g} K: {eq['reason']}")
        exc.equilibration, exc.md_steps = eq, md_steps
        raise exc


def _run_temperature_unguarded(phase: Phase, cell, cell_path: Path, T: float, calculator,
                               settings: TransportSettings, tdir: Path, progress) -> CampaignEntry:
    from seilab.provenance import (is_valid_artifact, read_json, record, sha256_file, sidecar_path,
                                   write_json)

    dump = settings.model_dump(mode="json")
    final, part = tdir / "trajectory.extxyz", tdir / "trajectory.part.extxyz"
    result_path = tdir / "onsager.json"
    eq_path = tdir / "equilibration.json"
    n_total = settings.md.steps // settings.md.sample_every + 1
    est_settings = settings.estimator_kwargs()
    thermostat = thermostat_info(settings)
    eq = None
    if eq_path.is_file() and (final.is_file() or count_complete_frames(part) > 0):
        eq = _amorphous_check(read_json(eq_path), settings)
        _raise_if_crystalline(phase, T, eq)

    # a finished result for this trajectory and these estimator settings: skip everything
    if is_valid_artifact(final) and result_path.is_file():
        side = read_json(sidecar_path(final))
        res = read_json(result_path)
        prov = res.get("provenance", {})
        same_input = [i.get("sha256") for i in prov.get("inputs", [])] == [side.get("sha256")]
        if (side.get("n_frames") == n_total and same_input
                and prov.get("estimator") == json.loads(json.dumps(est_settings))):
            log.info("%s %g K: finished, skipping", phase.name, T)
            return CampaignEntry(phase.name, phase.composition, T, tdir, final, result_path,
                                 OnsagerResult.from_dict(res), "skipped", 0, equilibration=eq,
                                 thermostat=thermostat)

    # bring a finished-but-too-short (or sidecar-less) trajectory back into the part file
    if final.is_file():
        n_final = count_complete_frames(final)
        if not is_valid_artifact(final) or n_final < n_total:
            if part.is_file():
                part.unlink()
            os.replace(final, part)
            if sidecar_path(final).is_file():
                sidecar_path(final).unlink()

    md_steps = 0
    if not final.is_file():
        md_steps = _run_md(phase, cell, T, calculator, settings, part, n_total, progress, eq_path)
        os.replace(part, final)
        eq = _amorphous_check(read_json(eq_path), settings)
        prov = record(STAGE, inputs=[cell_path], settings=dump, phase=phase.name,
                      composition=phase.composition, temperature_K=T, step="md", thermostat=thermostat,
                      equilibration=eq)
        prov["sha256"] = sha256_file(final)
        prov["n_frames"] = count_complete_frames(final, truncate=False)
        write_json(sidecar_path(final), prov)

    from .trajectory import load_trajectory

    traj = load_trajectory(final, index=f":{n_total}")
    meta = {"phase": phase.name, "composition": phase.composition}
    result = Onsager(**est_settings).compute(traj.positions, traj.species, settings.timestep_ps,
                                             traj.volume_A3, T, masses=traj.masses,
                                             label=phase.name, meta=meta).result
    write_json(result_path, result.to_dict(),
               record(STAGE, inputs=[final], settings=dump, estimator=est_settings,
                      phase=phase.name, temperature_K=T, step="onsager"))
    return CampaignEntry(phase.name, phase.composition, T, tdir, final, result_path, result,
                         "computed", md_steps, equilibration=eq, thermostat=thermostat)


def _equilibrate(phase: Phase, cell, T: float, calculator, settings: TransportSettings, rng):
    """NpT at P = 0, rescale to ⟨V⟩, NVT at that volume, Bragg order: the state entering production.

    Returns (atoms with the calculator, the production dynamics, the record, MD steps run). The record
    (``equilibration.json``): crystal, start and production volumes (Å³), density ratio to the
    crystal, the NpT stage's ⟨V⟩ and ⟨P⟩ (mean, std, block sem) over its second half, ⟨P⟩ (GPa) at
    the production volume over the NVT equilibration, and the Bragg order (:func:`bragg_order`)."""
    from ase.calculators.calculator import PropertyNotImplementedError

    what = f"{phase.name} {T:g} K"
    crystal, reps = crystal_supercell(phase.atoms, settings)
    atoms = cell.copy()
    atoms.set_constraint()
    atoms.calc = calculator
    thermalize(atoms, T, rng)
    v0 = atoms.get_volume()
    eq: dict = {"volume_A3_crystal": float(crystal.get_volume()), "volume_A3_start": float(v0),
                "npt_steps": settings.npt_steps, "n_equil_steps": settings.md.equilibration_steps}
    steps = 0
    if settings.npt_steps:
        try:
            atoms.get_stress()
        except PropertyNotImplementedError:
            raise SeilabError("npt_steps: the calculator gives no stress, so the cell cannot be equilibrated at "
                              "P = 0; set npt_steps: 0") from None
        # Berendsen: first-order relaxation of V towards P = 0, robust within a few hundred steps on
        # ~100 atoms; it does not sample volume fluctuations, which are not used here (only ⟨V⟩).
        dyn = npt_berendsen(atoms, temperature_K=T, timestep_fs=settings.md.timestep_fs, pressure_GPa=0.0,
                            taut_fs=settings.npt_taut_fs, taup_fs=settings.npt_taup_fs,
                            compressibility_per_GPa=settings.npt_compressibility_per_GPa)
        vols, press = [], []

        def observe(step: int):
            vols.append(atoms.get_volume())
            press.append(_pressure_GPa(atoms))
            if not (np.isfinite(vols[-1]) and np.isfinite(press[-1]) and v0 / 4 < vols[-1] < 4 * v0):
                raise BlowUp(f"{what}: NpT blew up at step {len(vols) - 1} (volume {vols[-1]:.4g} Å³, started "
                             f"at {v0:.4g} Å³)")

        log.info("%s: NpT %d steps at P = 0", what, settings.npt_steps)
        run_dynamics(dyn, settings.npt_steps, [Observer(observe, 1)], at_start=True)
        steps += settings.npt_steps
        half = len(vols) // 2
        v_mean = float(np.mean(vols[half:]))
        atoms.set_cell(atoms.cell[:] * (v_mean / atoms.get_volume()) ** (1 / 3), scale_atoms=True)
        eq["npt"] = {"barostat": "ase.md.nptberendsen.NPTBerendsen (isotropic, P = 0, Berendsen thermostat)",
                     "taup_fs": settings.npt_taup_fs, "taut_fs": settings.npt_taut_fs,
                     "compressibility_per_GPa": settings.npt_compressibility_per_GPa,
                     "averaged_steps": len(vols) - half, "volume_A3": _mean_sem(vols[half:]),
                     "pressure_GPa": _mean_sem(press[half:])}
    dyn = _thermostat(atoms, T, settings, rng)
    press = []

    def observe_p(step: int = 0):
        try:
            press.append(_pressure_GPa(atoms))
        except PropertyNotImplementedError:
            pass

    n_equil = settings.md.equilibration_steps
    if n_equil:
        log.info("%s: NVT %d steps at %.1f Å³", what, n_equil, atoms.get_volume())
        run_dynamics(dyn, n_equil, [Observer(observe_p, 1)], at_start=True)
        steps += n_equil
    else:
        observe_p()
    if not (np.isfinite(atoms.get_potential_energy()) and np.all(np.isfinite(atoms.positions))):
        raise BlowUp(f"{what}: equilibration blew up (non-finite energy or positions)")
    v = float(atoms.get_volume())
    eq.update({"volume_A3": v, "density_ratio_to_crystal": eq["volume_A3_crystal"] / v,
               "pressure_GPa": _mean_sem(press) if press else None,
               "pressure_note": "instantaneous pressure incl. the kinetic term, over the NVT equilibration at the "
                                "production volume",
               "bragg_order": bragg_order(atoms, phase.atoms, reps)})
    return atoms, dyn, eq, steps


def _check_blow_up(snap, previous: np.ndarray, inv_cell: np.ndarray, what: str) -> None:
    """Raise :class:`BlowUp` on non-finite numbers or an atom moving > half a cell vector since the last frame."""
    if not (np.isfinite(snap.info["energy_eV"]) and np.all(np.isfinite(snap.positions))):
        raise BlowUp(f"{what} (non-finite energy or positions)")
    jump = float(np.abs((snap.positions - previous) @ inv_cell).max(initial=0.0))
    if jump > 0.5:
        raise BlowUp(f"{what} (an atom moved {jump:.2f} of a cell vector between two frames)")


def _run_md(phase: Phase, cell, T: float, calculator, settings: TransportSettings, part: Path,
            n_total: int, progress, eq_path: Path) -> int:
    """Append frames to ``part`` until it holds ``n_total``; return the MD steps run.

    A fresh start equilibrates (:func:`_equilibrate`), writes ``eq_path`` and then frame 0; a
    resumed one continues from the last complete frame (its positions, momenta and cell)."""
    from ase.io import read

    from seilab.provenance import record, write_json

    done = count_complete_frames(part)
    rng = np.random.default_rng([settings.seed, int(round(T * 1000)), done])
    steps = 0
    if done == 0:
        atoms, dyn, eq, steps = _equilibrate(phase, cell, T, calculator, settings, rng)
        eq = _amorphous_check(eq, settings)
        write_json(eq_path, eq, record(STAGE, phase=phase.name, temperature_K=T, step="equilibration"))
        append_frames(part, [_snapshot(atoms, 0, 0.0)])
        done = 1
        if eq["amorphous"] is False:
            atoms.calc = None
            _raise_if_crystalline(phase, T, eq, steps)
    else:
        last = read(part, index=done - 1, format="extxyz")
        if len(last) != len(cell) or last.get_chemical_symbols() != cell.get_chemical_symbols():
            raise SeilabError(f"{part}: frames do not match {phase.name}'s cell; delete the folder")
        if not eq_path.is_file():
            raise SeilabError(f"{part}: frames without {eq_path.name} (an older protocol); delete {part.parent}")
        atoms = cell.copy()
        atoms.set_cell(last.cell)  # the production cell (rescaled to the NpT volume)
        atoms.positions = last.positions
        atoms.set_momenta(last.get_momenta())
        atoms.calc = calculator
        dyn = _thermostat(atoms, T, settings, rng)
        log.info("%s %g K: resuming at frame %d of %d", phase.name, T, done, n_total)

    dt_frame_ps = settings.timestep_ps
    buf: list = []
    inv_cell = np.linalg.inv(atoms.cell[:])
    previous = atoms.get_positions()

    def frame(step: int) -> None:
        """Frame ``k`` (step ``k * sample_every``), checked for a blow-up; flushed every ``flush_every``."""
        nonlocal done, buf, previous
        k = done + len(buf)
        snap = _snapshot(atoms, k * settings.md.sample_every, k * dt_frame_ps)
        _check_blow_up(snap, previous, inv_cell, f"{phase.name} {T:g} K: MD blew up at step "
                                                 f"{k * settings.md.sample_every}")
        previous = snap.positions
        buf.append(snap)
        if len(buf) >= settings.flush_every or done + len(buf) == n_total:
            append_frames(part, buf)
            done += len(buf)
            buf = []
            log.info("%s %g K: %d/%d frames", phase.name, T, done, n_total)
            if progress is not None:
                progress({"phase": phase.name, "temperature_K": T, "frames_done": done,
                          "frames_total": n_total})

    n_steps = max(n_total - done, 0) * settings.md.sample_every
    run_dynamics(dyn, n_steps, [Observer(frame, settings.md.sample_every)])
    steps += n_steps
    atoms.calc = None
    atoms.set_constraint()
    return steps
