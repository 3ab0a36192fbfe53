"""Settings of the learning stage (the ``learning:`` section of the campaign YAML).

Import-light on purpose (pydantic only). Units are in the names. Defaults are **demo scale** (two
generations, a few hundred MD steps per run, a 2,000-atom interface, 24 labels per generation; the demo
campaign explores in ASE at that size, and its production round in LAMMPS at 10,000 atoms
(``harvest_exploration``)); the
description of each knob gives the paper's value (section 2.5-2.6: three generations, 1 < γ < 2.5,
~100-atom subcells with 0.5 Å of vacuum cut from >100,000-atom interface frames, convergence when the
loss is below 0.2).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from seilab.settings.base import Settings, distinct_names, distinct_temperatures, format_validation_error
from seilab.settings.md import MDProtocol, move_flat_keys

Batch = Literal["bulk", "amorphous", "interface"]

#: fields read by the campaign runner, not by the stage (kept out of the stage's skip key)
RUNNER_FIELDS = ("production_rounds",)
ValidationGroup = Literal["metrics", "formation", "dimers", "eos", "rdf", "stability"]


class LearningMD(MDProtocol):
    """The exploration MD of active learning (``learning.md``): Langevin NVT with the model, per batch
    temperature (``bulk_temperatures_K``, ...); ASE's Langevin or LAMMPS ``fix langevin``."""

    unused: ClassVar[frozenset[str]] = frozenset({"equilibration_steps", "damp_fs"})

    timestep_fs: float = Field(1.0, gt=0, le=5.0, description="MD time step, fs")
    steps: int = Field(200, ge=1, description="MD steps per exploration run (demo: 200)")
    sample_every: int = Field(
        20, ge=1, description="steps between kept frames: ASE keeps a frame every n steps; LAMMPS computes γ "
                              "(pace/extrapolation) every n steps, keeps those frames whose max γ is above the lower "
                              "end of gamma_window, and checks gamma_halt then")
    thermostat: Literal["langevin"] = Field("langevin", description="Langevin only (both engines)")
    friction_per_fs: float = Field(
        0.02, gt=0, le=1, description="Langevin friction (1/fs; LAMMPS fix langevin damping = 1 / friction fs)")


#: flat keys before seilab.settings.md, moved into ``learning.md`` with a FutureWarning
_OLD_MD_KEYS = {"md_timestep_fs": "timestep_fs", "md_steps": "steps", "md_sample_every": "sample_every",
                "md_friction_per_fs": "friction_per_fs"}


class HarvestExploration(Settings):
    """How a generation that harvests a production trajectory explores (each field unset: as the loop's other
    generations; the loop's settings with these in place are validated as a whole). Such a generation (the
    production round, or ``seilab learn --harvest``) comes after a production run, so LAMMPS is there and the
    interfaces can be explored at the production run's scale."""

    batches: list[Batch] | None = Field(
        None, min_length=1, description="learning.batches of that generation (e.g. [interface]: only the interfaces)")
    engine: Literal["auto", "lammps", "ase"] | None = Field(None, description="learning.engine of that generation")
    interface_atoms: int | None = Field(
        None, ge=10, le=50_000_000, description="learning.interface_atoms of that generation (e.g. 10,000 or more)")
    interface_md_steps: int | None = Field(None, ge=1, description="learning.interface_md_steps of that generation")
    interface_temperatures_K: list[float] | None = Field(
        None, min_length=1, description="learning.interface_temperatures_K of that generation")
    mpi_ranks: int | None = Field(None, ge=1, le=4096, description="learning.mpi_ranks of that generation")

    @field_validator("interface_temperatures_K")
    @classmethod
    def _temperatures(cls, v):
        return None if v is None else distinct_temperatures(v)


class LearningSettings(Settings):
    """Active learning: explore with the model, grade with γ, cut subcells, select, label, refit."""

    # --- loop -------------------------------------------------------------------------------
    max_generations: int = Field(
        2, ge=1, le=100, description="active-learning generations at most (paper: 3; demo: 2)")
    min_generations: int = Field(
        1, ge=0, description="generations that run before the convergence test may stop the loop")
    seed: int = Field(0, description="seed of MD velocities/thermostats and of the random parts of selection")
    threads: int = Field(1, ge=1, description="threads of the model calculator (OpenMP/BLAS)")

    # --- extrapolation grade γ (D-optimality) -----------------------------------------------
    gamma_window: tuple[float, float] = Field(
        (1.0, 2.5), description="candidates are kept when lower < max γ < upper (paper: 1 < γ < 2.5)")
    gamma_halt: float = Field(25.0, gt=0, description="an exploration MD stops when max γ exceeds this")

    # --- exploration batches (paper 2.5: bulk, amorphous, interface) --------------------------
    batches: list[Batch] = Field(
        ["bulk", "amorphous", "interface"], min_length=1, description="exploration batches to run")
    phases: list[str] | None = Field(
        None, description="phases explored in the bulk/amorphous batches (default: sampling.phases or all)")
    bulk_temperatures_K: list[float] = Field(
        [600.0, 1200.0], min_length=1, description="elevated temperatures of the bulk-crystal MD")
    bulk_lattice_scales: list[float] = Field(
        [0.97, 1.03], min_length=1,
        description="isotropic lattice rescaling factors (linear) of the bulk crystals (1.0 = relaxed)")
    bulk_target_atoms: int = Field(100, ge=2, le=100_000, description="bulk supercells are built near this size")
    amorphous_temperatures_K: list[float] = Field(
        [900.0], min_length=1, description="temperatures of the amorphous-phase MD")
    interface_temperatures_K: list[float] = Field(
        [600.0], min_length=1, description="temperatures of the interface MD")
    interface_atoms: int = Field(
        2000, ge=10, le=50_000_000,
        description="sampled interfaces are replicated in-plane to about this many atoms (paper: >100,000)")
    interface_max_structures: int = Field(2, ge=1, description="sampled interfaces explored per generation")
    engine: Literal["auto", "lammps", "ase"] = Field(
        "auto", description="MD engine of the exploration runs (seilab.md): 'lammps' (ML-PACE, pace/extrapolation γ "
                            "every md.sample_every steps, MPI ranks from mpi_ranks), 'ase' (in-process, pyace γ every "
                            "step; small systems only: its neighbour list grows faster than the atom count), 'auto' "
                            "(lammps when a LAMMPS binary with ML-PACE is found, else ase); the run record says which ran")
    mpi_ranks: int = Field(
        1, ge=1, le=4096, description="MPI ranks of each LAMMPS exploration run (mpirun -np; as "
                                           "simulation.mpi_ranks); the ASE engine runs in this process")
    md: LearningMD = Field(default_factory=LearningMD, description="the exploration MD (Langevin NVT)")
    interface_md_steps: int | None = Field(
        None, ge=1, description="MD steps of interface runs (default: md.steps)")
    halt_keep_frames: int = Field(
        2, ge=0, le=50, description="ASE: on a γ halt, also keep this many frames from just before the halt (taken "
                                    "every md.sample_every/4 steps); LAMMPS keeps every graded frame above the window "
                                    "anyway, so it needs no buffer")

    # --- subcells (interface frames) --------------------------------------------------------
    subcell_atoms: int = Field(100, ge=8, description="target atoms per subcell (paper: ~100)")
    subcell_vacuum_A: float = Field(0.5, ge=0, le=10, description="vacuum added on each side (paper: 0.5 Å)")
    subcell_cutoff_A: float | None = Field(
        None, gt=0, description="every atom within this of the centre atom is inside the subcell "
                                "(default: the potential's cutoff)")
    subcells_per_frame: int = Field(6, ge=1, description="subcells cut from one interface frame at most")
    subcell_min_gamma: float | None = Field(
        None, ge=0, description="centre atoms need γ above this (default: the lower end of gamma_window)")
    subcell_duplicate_tol_A: float = Field(
        0.05, ge=0, le=1.0,
        description="subcells whose centre atoms have the same neighbours (per element, within the cutoff) at "
                    "sorted distances differing by at most this are duplicates")
    min_distance_A: float = Field(
        1.2, gt=0, le=3.0, description="candidates with two atoms closer than this are rejected")
    subcell_boundary_A: float = Field(
        2.0, ge=0, le=10,
        description="subcell atoms within this of the subcell's vacuum margin get zero force weight in the fit and "
                    "the metrics (their neighbours across the artificial periodic seam are not the frame's). "
                    "Measured on the demo (two generations of 10-12 interface subcells each): fixed-test force RMSE "
                    "after the refits 145, 143 meV/A without (both worse than gen000's 128), 128.5, 128.2 with. "
                    "0: every atom counts")
    min_pair_distance_fraction: float = Field(
        0.85, ge=0, lt=1.0,
        description="candidates with a pair of elements closer than this fraction of that pair's shortest distance "
                    "in the first generation's training data (reference MD up to 1500 K) are rejected: the model's MD "
                    "went where the reference never did (measured on the demo: an S-S pair at 1.23 A, reference "
                    "forces of 82 eV/A; that one structure in the fixed test set made its force RMSE 2.4 eV/A). "
                    "0: only min_distance_A")

    # --- harvest of the production run (seilab.learning.harvest) ----------------------------
    harvest_production: bool = Field(
        True, description="when the campaign's latest production run (simulation/latest.json) halted on γ and its "
                          "extrapolative frames were not harvested yet, run_learning cuts subcells from them: they "
                          "join the next generation, or one extra generation after a stopped loop")
    production_rounds: int = Field(
        0, ge=0, le=20,
        description="`seilab run`: after a production run that halted on γ, run this stage again (harvesting that "
                    "run into one extra generation) and then the simulation with the potential the gate then hands on, "
                    "at most this many times (0: the campaign ends with the halted run; the paper's loop goes on "
                    "until the production run no longer extrapolates)")
    harvest_budget: int | None = Field(
        None, ge=1, description="structures labelled by a generation that harvests production frames (default: "
                                "budget_per_generation); labels are cheap next to that generation's refit and "
                                "validation (demo: 0.3 s a label against ~60 s + 90 s)")
    harvest_max_frames: int = Field(
        50, ge=1, description="frames read from one harvest source at most (evenly spread, always the last)")
    harvest_exploration: HarvestExploration = Field(
        default_factory=HarvestExploration,
        description="how a harvest generation explores: batches, engine, interface_atoms, interface_md_steps, "
                    "interface_temperatures_K, mpi_ranks (unset: as every generation)")

    # --- selection and labelling ------------------------------------------------------------
    selection: Literal["d-optimal", "random"] = Field(
        "d-optimal", description="'d-optimal': pacemaker's pace_select (MaxVol); 'random': baseline")
    budget_per_generation: int = Field(24, ge=1, description="structures labelled per generation at most")
    max_candidates: int = Field(
        2000, ge=1, description="candidates handed to pace_select at most (highest γ first)")
    workers: int = Field(1, ge=1, le=256, description="labelling processes")

    # --- refit, validation, convergence ------------------------------------------------------
    refit: dict[str, Any] = Field(
        {}, description="training settings that differ for the loop's warm-started refits, e.g. "
                        "{maxiter: [60, 30]} (default: the training section as is); checked against "
                        "the training settings when the campaign is loaded")
    validation: bool = Field(True, description="run the validation suite after each refit")
    validation_checks: list[ValidationGroup] | None = Field(
        None, description="validation groups run after a refit (default: validation.checks)")
    loss_threshold: float | None = Field(
        0.2, gt=0, description="converged when the fit's final loss is below this (paper: 0.2)")
    force_rmse_threshold_meV_per_A: float | None = Field(
        None, gt=0, description="also require the test force RMSE below this (None: not used)")
    require_validation_pass: bool = Field(
        True, description="convergence also needs the validation report to pass (paper: a failed model "
                          "starts another generation)")
    max_fixed_test_regression: float = Field(
        0.10, ge=0, description="a refit whose energy or force RMSE on the fixed test set is more than this "
                                "fraction above its starting potential's has regressed: it is not converged, and "
                                "the next generation starts again from the better potential")
    reassess: bool = Field(
        True, description="after a refit, grade the generation's exploration frames again with the new model")

    @field_validator("gamma_window")
    @classmethod
    def _window(cls, v):
        lo, hi = float(v[0]), float(v[1])
        if not 0 <= lo < hi:
            raise ValueError(f"gamma_window needs 0 <= lower < upper, got ({lo}, {hi})")
        return (lo, hi)

    @field_validator("bulk_temperatures_K", "amorphous_temperatures_K", "interface_temperatures_K")
    @classmethod
    def _temperatures(cls, v):
        return distinct_temperatures(v)

    @field_validator("bulk_lattice_scales")
    @classmethod
    def _scales(cls, v):
        if any(not (0.7 <= s <= 1.3) for s in v):
            raise ValueError(f"lattice scales are linear factors within [0.7, 1.3], got {v}")
        if len(set(v)) != len(v):
            raise ValueError("repeated lattice scale")
        return [float(s) for s in v]

    @field_validator("batches")
    @classmethod
    def _batches(cls, v):
        if len(set(v)) != len(v):
            raise ValueError("repeated batch")
        return v

    @field_validator("phases")
    @classmethod
    def _phases(cls, v):
        return distinct_names(v)

    @model_validator(mode="before")
    @classmethod
    def _old_keys(cls, data):
        return move_flat_keys(data, "learning", "md", _OLD_MD_KEYS)

    @model_validator(mode="after")
    def _consistent(self):
        if self.gamma_halt <= self.gamma_window[1]:
            raise ValueError(f"gamma_halt {self.gamma_halt} must exceed the upper end of gamma_window "
                             f"{self.gamma_window[1]}")
        if self.min_generations > self.max_generations:
            raise ValueError(f"min_generations {self.min_generations} exceeds max_generations {self.max_generations}")
        if self.interface_md_steps and self.md.sample_every > self.interface_md_steps:
            raise ValueError(f"md.sample_every {self.md.sample_every} exceeds interface_md_steps "
                             f"{self.interface_md_steps}: no frame would be kept")
        if self.harvest_exploration.model_dump(exclude_none=True):  # a harvest generation's settings, checked now
            try:
                self.for_harvest()
            except ValidationError as exc:
                raise ValueError(format_validation_error(exc, section="harvest_exploration")) from None
        return self

    def for_harvest(self) -> "LearningSettings":
        """These settings with :attr:`harvest_exploration`'s fields in place of the loop's own (validated again:
        e.g. md.sample_every against the harvest generation's interface_md_steps)."""
        over = self.harvest_exploration.model_dump(exclude_none=True)
        if not over:
            return self
        return type(self).model_validate({**self.model_dump(), **over, "harvest_exploration": {}})

    @property
    def centre_gamma(self) -> float:
        """γ a subcell's centre atom needs (``subcell_min_gamma`` or the window's lower end)."""
        return self.gamma_window[0] if self.subcell_min_gamma is None else self.subcell_min_gamma
