"""Settings of the simulation stage (the ``simulation:`` section of the campaign YAML).

Import-light on purpose (pydantic only). Units are in the names. Defaults are **demo scale** (a
1,000-atom interface, 1,000 steps = 1 ps); the paper's production run (section 2.4, 3.2) is a
500,000-atom Li(100)/Li7P3S11(100) interface, NpT with a Langevin thermostat at 300 K, 1 fs, 10 ns:
``n_atoms: 500000, steps: 10000000``.
"""

from __future__ import annotations

import warnings
from typing import Literal

from pydantic import Field, field_validator, model_validator

from seilab.settings.base import Settings

Miller = tuple[int, int, int]


class SimulationSettings(Settings):
    """Large-scale interface MD: engine, system size, ensemble, output and γ-monitoring intervals."""

    # --- engine -----------------------------------------------------------------------------
    engine: Literal["lammps", "ase"] = Field(
        "lammps", description="'lammps' (ML-PACE, MPI; scripts/build_lammps.sh) or 'ase' (small systems)")
    lmp: str | None = Field(
        None, description="LAMMPS binary; default: $SEILAB_LMP, then the newest build of scripts/build_lammps.sh")
    mpi_ranks: int = Field(1, ge=1, le=4096, description="MPI ranks (mpirun -np N; needs an MPI build)")
    omp_threads: int = Field(1, ge=1, le=256, description="OpenMP threads per rank (-sf omp): needs a LAMMPS "
                             "with the OPENMP package, which scripts/build_lammps.sh leaves out")

    # --- system -----------------------------------------------------------------------------
    n_atoms: int = Field(1000, ge=50, le=50_000_000,
                         description="interface size to aim for (paper: 500,000; the builder gets within a few %)")
    anode_miller: Miller = Field((1, 0, 0), description="plane of the anode (paper: Li (100))")
    electrolyte_miller: Miller = Field((1, 0, 0), description="plane of the electrolyte (paper: Li7P3S11 (100))")
    anode_fraction: float = Field(0.5, gt=0.05, lt=0.95, description="share of the atoms in the anode slab")
    aspect_ratio: float = Field(
        2.0, gt=0.1, le=50, description="cell length along the interface normal / lateral size (approx.)")
    gap_A: float | Literal["auto"] = Field(
        "auto", description="spacing between the two slabs at both interfaces (Å; paper: 1.5), or 'auto': at each "
                            "interface the smallest gap at which no pair across it is closer than that element pair's "
                            "shortest distance in the two bulk reactants (demo: 2.30 and 2.36 Å, closest S-Li 2.39 Å; "
                            "1.5 Å gives S-Li 1.55 Å and 9 pairs below 2 Å)")
    max_strain: float = Field(0.05, gt=0, le=0.2, description="largest in-plane strain of the lattice match")
    max_match_area_A2: float = Field(400.0, gt=10, description="largest in-plane cell the match search tries")
    use_sampling_interfaces: bool = Field(
        True, description="take the lattice match of the lowest-energy sampling interface when one exists")

    # --- dynamics (paper 2.4: Langevin, 1 fs, NpT at 300 K) ---------------------------------
    ensemble: Literal["npt", "nvt", "nve"] = Field("npt", description="npt: Langevin + barostat; nvt: Langevin")
    temperature_K: float = Field(300.0, gt=0, le=10000)
    pressure_bar: float = Field(1.0, ge=-1e5, le=1e6)
    barostat: Literal["aniso", "iso", "z"] = Field(
        "aniso", description="cell degrees of freedom under NpT: x, y, z independently (aniso), isotropic, "
                             "or z only (the interface normal)")
    timestep_fs: float = Field(1.0, gt=0, le=10, description="paper: 1 fs; a warning is issued above 1 fs")
    thermostat_damp_fs: float = Field(
        1000.0, gt=0, description="Langevin damping time of every atom (1 ps: weak, so the thermostat does not slow "
                                  "the diffusion and reaction kinetics the run measures; 0.1 ps damps them)")
    barostat_damp_fs: float = Field(1000.0, gt=0, description="barostat damping time (1000 time steps)")
    steps: int = Field(1000, ge=1, description="MD steps (paper: 10 ns = 10,000,000 steps at 1 fs; demo: 1 ps)")
    seed: int = Field(12345, ge=1, lt=900_000_000, description="velocities and Langevin noise")
    # the built sandwich has close contacts across its gaps (demo: S-Li 1.55 A, bulk >= 2.39 A); production
    # starts from a minimised, thermalised state instead of a repulsive shock
    minimize_steps: int = Field(
        200, ge=0, description="FIRE steps (at most) minimising the built interface at fixed box before the run; 0: none")
    minimize_fmax_eV_per_A: float = Field(0.05, gt=0, description="the minimisation stops below this largest force")
    equilibration_steps: int = Field(
        200, ge=0, description="NVT steps after the minimisation, before production step 0 (not dumped): ramping "
                               "from equilibration_start_K to temperature_K, then holding it; 0: none")
    equilibration_start_K: float = Field(50.0, gt=0, description="start temperature of the equilibration ramp")
    equilibration_damp_fs: float = Field(
        50.0, gt=0, description="Langevin damping of the equilibration (ramp over its first half, hold temperature_K "
                                "over the second; strong, so it arrives: with the production's 1 ps damp, the demo's "
                                "200-step ramp ended at 87 K)")

    # --- output -----------------------------------------------------------------------------
    thermo_every: int = Field(10, ge=1, description="steps between thermo rows (thermo.csv)")
    dump_every: int = Field(100, ge=1, description="steps between trajectory frames (dump.lammpstrj)")
    restart_every: int = Field(500, ge=1, description="steps between restart files (resume after a kill)")
    keep_restarts: int = Field(2, ge=1, description="newest restart files kept after a run")
    write_extxyz: bool = Field(False, description="also write trajectory.extxyz (small systems)")

    # --- extrapolation grade γ (paper 2.5) --------------------------------------------------
    gamma_every: int = Field(
        20, ge=0, description="steps between γ evaluations (0: off; needs the potential's .asi active set)")
    gamma_dump_threshold: float = Field(
        1.5, gt=0, description="frames with max γ above this go to extrapolative.dump (paper selects 1 < γ < 2.5)")
    gamma_halt: float = Field(25.0, gt=0, description="stop the run when max γ exceeds this")

    # --- audit of the potential on the production trajectory (seilab.simulation.audit) -------
    audit: bool = Field(
        True, description="after the MD, cut subcells from frames of the run, label them with the reference "
                          "and report the model's energy/force errors per region (metal, interphase, "
                          "electrolyte) beside its test-set errors, plus a γ profile along z")
    audit_frames: int = Field(
        4, ge=1, le=1000, description="frames audited, evenly spread over the run (the last one always)")
    audit_top_gamma: int = Field(
        2, ge=0, le=100, description="subcells per audited frame centred on its highest-γ atoms (non-overlapping)")
    audit_random: int = Field(
        2, ge=0, le=100, description="subcells per audited frame and region centred on random atoms (seeded by "
                                     "simulation.seed and the frame's step)")
    audit_interphase_half_width_A: float = Field(
        5.0, gt=0, le=1000, description="atoms within this z distance (minimum image) of either interface plane "
                                        "of the built sandwich are the 'interphase' region; the others are "
                                        "'metal' or 'electrolyte' by the side they started on")
    audit_z_bin_A: float = Field(2.0, gt=0, le=100, description="z bin of the γ profile (max and mean γ per bin)")
    audit_warn_factor: float = Field(
        2.0, ge=1.0, le=1000, description="warn when an audit RMSE (energy or force, per region or overall) "
                                          "exceeds this many times the potential's test-set RMSE")

    @field_validator("anode_miller", "electrolyte_miller")
    @classmethod
    def _miller(cls, v):
        if all(i == 0 for i in v):
            raise ValueError("(0, 0, 0) is not a plane")
        return tuple(int(i) for i in v)

    @field_validator("gap_A")
    @classmethod
    def _gap(cls, v):
        if v != "auto" and not 0.5 <= float(v) <= 5.0:
            raise ValueError(f"a gap between 0.5 and 5 Å, or 'auto'; got {v}")
        return v

    @field_validator("timestep_fs")
    @classmethod
    def _timestep(cls, v):
        if v > 1.0:
            warnings.warn(f"simulation.timestep_fs = {v}: the paper does not recommend time steps above 1 fs "
                          "(unstable at 2 fs and 1500 K)", stacklevel=2)
        return v

    @model_validator(mode="after")
    def _consistency(self):
        if self.gamma_every and self.gamma_halt <= self.gamma_dump_threshold:
            raise ValueError(f"gamma_halt ({self.gamma_halt}) must be larger than gamma_dump_threshold "
                             f"({self.gamma_dump_threshold})")
        if self.barostat_damp_fs < 10 * self.timestep_fs:
            raise ValueError(f"barostat_damp_fs ({self.barostat_damp_fs}) should be at least 10 time steps")
        if self.audit and self.audit_top_gamma == 0 and self.audit_random == 0:
            raise ValueError("audit_top_gamma and audit_random are both 0: the audit would label no subcell "
                             "(set audit: false to skip it)")
        if self.thermostat_damp_fs < self.timestep_fs:
            raise ValueError(f"thermostat_damp_fs ({self.thermostat_damp_fs}) is shorter than one time step")
        if self.equilibration_start_K > self.temperature_K:
            raise ValueError(f"equilibration_start_K ({self.equilibration_start_K}) is above temperature_K "
                             f"({self.temperature_K})")
        return self
