"""Settings of the sampling stage (the ``sampling:`` section of the campaign YAML).

Import-light on purpose: only pydantic. Every quantity has its unit in its name. The defaults are
**demo scale** (a first-generation set of a few hundred structures in minutes on two cores); the
description of each MD knob gives the paper's value (section 2.2-2.3: 20 ps of AIMD at 2 fs, every
50th frame, 4 ps EOS runs) for production campaigns; the paper gives no length for its AIMD of
the interface structures, so ``interface_md_steps`` quotes the bulk runs' 20 ps.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from seilab.settings.base import Settings, distinct_names, distinct_temperatures
from seilab.settings.md import MDScan, move_flat_keys

Miller = tuple[int, int, int]


def _check_miller(v: list[Miller], name: str) -> list[Miller]:
    if not v:
        raise ValueError(f"{name}: give at least one Miller index")
    for hkl in v:
        if all(i == 0 for i in hkl):
            raise ValueError(f"{name}: (0, 0, 0) is not a plane")
    if len(set(v)) != len(v):
        raise ValueError(f"{name}: repeated Miller index")
    return [tuple(int(i) for i in hkl) for hkl in v]


class SamplingMD(MDScan):
    """The reference MD of the sampling stage (``sampling.md``); defaults are demo scale."""

    unused: ClassVar[frozenset[str]] = frozenset({"equilibration_steps"})

    temperatures_K: list[float] = Field(
        default_factory=lambda: [300.0, 900.0, 1500.0], description="NVT temperatures (paper: 300, 900, 1500 K)")
    timestep_fs: float = Field(2.0, gt=0, le=10, description="MD time step (paper: 2 fs)")
    steps: int = Field(20, ge=1, description="steps per run (paper: 10,000 = 20 ps at 2 fs; demo: 20)")
    sample_every: int = Field(5, ge=1, description="keep every n-th frame (paper: 50; demo: 5)")
    thermostat: Literal["langevin", "bussi", "nose_hoover"] = Field(
        "langevin", description="NVT thermostat (paper: Nose-Hoover; Langevin thermalises short runs fastest)")
    friction_per_fs: float = Field(0.02, gt=0, le=1, description="Langevin friction, 1/fs")
    damp_fs: float = Field(50.0, gt=0, description="Bussi / Nose-Hoover time constant, fs")


#: the flat keys of sampling's MD before seilab.settings.md (moved into ``sampling.md`` with a FutureWarning)
_OLD_MD_KEYS = {"md_temperatures_K": "temperatures_K", "md_timestep_fs": "timestep_fs", "md_steps": "steps",
                "md_stride": "sample_every", "md_thermostat": "thermostat", "md_friction_per_fs": "friction_per_fs",
                "md_tdamp_fs": "damp_fs"}


class SamplingSettings(Settings):
    """Knobs of the configurational sampling (first-generation data set) and of its labelling."""

    # --- general ----------------------------------------------------------------------------
    phases: list[str] | None = Field(
        None, description="phases to sample (names from `phases`); None: every phase of the campaign")
    seed: int = Field(0, description="seed of packing, rattling, strains and MD velocities/thermostats")
    workers: int = Field(1, ge=1, le=256, description="processes for MD runs and for labelling")
    min_distance_A: float = Field(
        1.2, gt=0, le=3.0, description="floor: structures with two atoms closer than this are rejected")

    # --- crystalline ------------------------------------------------------------------------
    target_atoms: int = Field(100, ge=1, le=2000, description="aim crystalline supercells at about this size")

    # --- perturbations ----------------------------------------------------------------------
    rattle_sigma_A: float = Field(0.05, ge=0, le=0.5, description="std of Gaussian atomic displacements")
    rattle_copies: int = Field(2, ge=0, le=100, description="rattled copies per crystalline supercell")
    strain_volume_fractions: list[float] = Field(
        default_factory=lambda: [-0.08, 0.08],
        description="isotropic strains as relative volume changes (-0.08: 8% smaller)")
    anisotropic_strain_copies: int = Field(1, ge=0, le=100, description="random anisotropic strains per supercell")
    anisotropic_strain_max: float = Field(
        0.04, ge=0, le=0.2, description="largest |component| of a random symmetric strain tensor")
    interface_rattle_copies: int = Field(1, ge=0, le=100, description="rattled copies per interface")

    # --- reference MD (the paper's AIMD) ----------------------------------------------------
    md: SamplingMD = Field(
        default_factory=SamplingMD,
        description="NVT reference MD of the crystalline phases (one run per temperature), and the time step, "
                    "thermostat and sample interval of the amorphous production and of the interface runs")

    # --- amorphous (MPMorph-like) -----------------------------------------------------------
    amorphous_target_atoms: int = Field(100, ge=2, le=2000, description="atoms per amorphous cell (whole formula units)")
    amorphous_temperature_K: float = Field(1500.0, gt=0, le=10000, description="temperature of the EOS and production runs")
    amorphous_volume_scales: list[float] = Field(
        default_factory=lambda: [0.92, 1.0, 1.08, 1.16],
        description="volumes of the EOS runs, relative to the crystalline volume of the same atoms")
    amorphous_eos_steps: int = Field(10, ge=2, description="NVT steps per EOS volume (paper: 4 ps; demo: 10)")
    amorphous_production_steps: int = Field(20, ge=1, description="production steps at the fitted volume (paper: 20 ps)")
    amorphous_packer: Literal["auto", "packmol", "random"] = Field(
        "auto", description="'packmol' (PyPI packmol binary), 'random' (built-in), 'auto': packmol when it runs")
    amorphous_pack_tolerance_A: float = Field(2.0, gt=0, le=4.0, description="minimum distance asked of the packer")
    amorphous_max_density_deviation: float = Field(
        0.15, gt=0, lt=1, description="the fitted volume is kept within this relative density of the crystal")
    amorphous_volume_criterion: Literal["pressure", "energy"] = Field(
        "pressure", description="'pressure': the volume where the mean pressure (virial + kinetic) of the EOS runs "
                                "is zero at amorphous_temperature_K (MPMorph); 'energy': the minimum of the mean "
                                "potential energy (not the P = 0 volume at 900-1500 K)")

    # --- interfaces (pymatgen CoherentInterfaceBuilder) -------------------------------------
    interface_anode_millers: list[Miller] = Field(
        default_factory=lambda: [(1, 0, 0), (1, 1, 0)], description="anode (film) planes")
    interface_electrolyte_millers: list[Miller] = Field(
        default_factory=lambda: [(1, 0, 0), (1, 0, 1), (0, 1, 0)], description="electrolyte (substrate) planes")
    interface_max_area_A2: float = Field(400.0, gt=0, description="ZSL max_area (150 finds nothing for Li7P3S11)")
    interface_max_length_tol: float = Field(0.05, gt=0, lt=1, description="ZSL max_length_tol (strain)")
    interface_max_angle_tol: float = Field(0.05, gt=0, lt=1, description="ZSL max_angle_tol")
    interface_max_area_ratio_tol: float = Field(0.09, gt=0, lt=1, description="ZSL max_area_ratio_tol")
    interface_gap_A: float = Field(1.5, gt=0, le=10, description="gap between the two bulk regions (both sides)")
    interface_film_layers: int = Field(2, ge=1, le=20, description="anode slab thickness, unit planes")
    interface_substrate_layers: int = Field(1, ge=1, le=20, description="electrolyte slab thickness, unit planes")
    interface_min_atoms: int = Field(100, ge=2, description="smallest interface cell kept")
    max_atoms: int = Field(400, ge=2, description="largest interface cell kept")
    interfaces_per_termination: int = Field(
        1, ge=1, le=50, description="interfaces kept per termination (smallest matching cells first)")

    # --- reference MD of the interfaces (the paper's AIMD of the interface structures) -------
    interface_md_temperatures_K: list[float] = Field(
        default_factory=lambda: [300.0, 900.0],
        description="NVT temperatures of the interface runs, 300 K and above (the paper perturbs its interfaces "
                    "with AIMD without giving temperatures; 900 K speeds the reaction up); []: no interface MD")
    interface_md_steps: int = Field(
        20, ge=1, description="steps per interface run at md.timestep_fs (paper scale: 10,000 = 20 ps, as its bulk "
                              "AIMD; demo: 20)")
    interface_md_stride: int = Field(
        5, ge=1, description="keep every n-th frame of an interface run (paper: 50; demo: 5)")
    interface_md_max_structures: int = Field(
        2, ge=0, le=1000, description="interfaces that get MD: the smallest cell of each plane pair, in the order of "
                                      "the Miller lists, up to this many (0: none)")
    interface_md_max_atoms: int = Field(
        200, ge=2, description="interfaces with more atoms than this get no MD (reference cost grows with size)")

    @field_validator("interface_md_temperatures_K")
    @classmethod
    def _interface_temperatures(cls, v: list[float]) -> list[float]:
        return distinct_temperatures(v)  # may be empty: interface MD off

    @field_validator("strain_volume_fractions")
    @classmethod
    def _strains(cls, v: list[float]) -> list[float]:
        if any(not (-0.5 < f < 0.5) or f == 0 for f in v):
            raise ValueError(f"volume fractions must be non-zero and in (-0.5, 0.5), got {v}")
        return [float(f) for f in v]

    @field_validator("amorphous_volume_scales")
    @classmethod
    def _scales(cls, v: list[float]) -> list[float]:
        if len(v) < 4:
            raise ValueError("a Birch-Murnaghan fit needs at least 4 volumes")
        if any(not (0.5 < s < 2.0) for s in v) or len(set(v)) != len(v):
            raise ValueError(f"volume scales must be distinct and in (0.5, 2.0), got {v}")
        return sorted(float(s) for s in v)

    @field_validator("interface_anode_millers")
    @classmethod
    def _anode_millers(cls, v):
        return _check_miller(v, "interface_anode_millers")

    @field_validator("interface_electrolyte_millers")
    @classmethod
    def _electrolyte_millers(cls, v):
        return _check_miller(v, "interface_electrolyte_millers")

    @field_validator("phases")
    @classmethod
    def _phases(cls, v):
        return distinct_names(v)

    @model_validator(mode="before")
    @classmethod
    def _old_keys(cls, data):
        return move_flat_keys(data, "sampling", "md", _OLD_MD_KEYS)

    @model_validator(mode="after")
    def _consistent(self):
        if self.md.sample_every > self.amorphous_production_steps:
            raise ValueError(f"md.sample_every {self.md.sample_every} exceeds amorphous_production_steps "
                             f"{self.amorphous_production_steps}: no amorphous frame would be kept")
        if self.interface_md_stride > self.interface_md_steps:
            raise ValueError(f"interface_md_stride {self.interface_md_stride} exceeds interface_md_steps "
                             f"{self.interface_md_steps}: no interface MD frame would be kept")
        if self.interface_min_atoms > self.max_atoms:
            raise ValueError(f"interface_min_atoms {self.interface_min_atoms} exceeds max_atoms {self.max_atoms}")
        return self
