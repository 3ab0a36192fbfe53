"""Settings of the Onsager-transport analysis (the ``transport:`` section of the campaign YAML).

Import-light on purpose: only pydantic. Every knob has a unit in its name or its docstring.
"""

from __future__ import annotations

from typing import Literal, Optional, Tuple

from pydantic import Field, field_validator, model_validator

from seilab.settings.base import Settings
from seilab.settings.md import MDScan, move_flat_keys

#: fewest frames of a run the Onsager estimator accepts (with error_method 'blocks' also >= 4 per block)
MIN_FRAMES = 8


class TransportMD(MDScan):
    """The Onsager runs' MD (``transport.md``): per temperature, ``equilibration_steps`` of NVT at the
    production volume (not written; their mean pressure is the one reported), then ``steps`` of production
    keeping every ``sample_every``-th frame, both under ``thermostat``. ``friction_per_fs`` is also the melt's."""

    temperatures_K: list[float] = Field(default_factory=lambda: [900.0, 1200.0],
                                        description="run temperatures, K (paper: 900 and 1200 K)")
    timestep_fs: float = Field(1.0, gt=0, le=10, description="MD time step, fs")
    steps: int = Field(20000, ge=1, description="production steps per phase and temperature")
    sample_every: int = Field(10, ge=1, description="keep one frame every this many steps")
    equilibration_steps: int = Field(2000, ge=0, description="NVT steps at the production volume before production")
    thermostat: Literal["bussi", "langevin", "nve"] = Field(
        "bussi", description="thermostat of the NVT equilibration and the production: 'bussi' (global stochastic "
                             "velocity rescaling, ase.md.bussi.Bussi, coupling time damp_fs; does not damp the atoms' "
                             "relative motion, so the distinct correlations of L_ij are kept), 'langevin' "
                             "(friction_per_fs on every atom) or 'nve' (velocity Verlet)")
    damp_fs: float = Field(100.0, gt=0, description="coupling time of the Bussi thermostat, fs")
    friction_per_fs: float = Field(0.01, gt=0, le=1, description="Langevin friction of the melt (and of equilibration "
                                                                 "and production with thermostat 'langevin'), 1/fs")

    @field_validator("temperatures_K")
    @classmethod
    def _temperatures(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("give at least one temperature")
        bad = [t for t in v if not (t > 0 and t < 1e5)]
        if bad:
            raise ValueError(f"temperatures must be in (0, 1e5) K, got {bad}")
        if len(set(v)) != len(v):
            raise ValueError("duplicated temperature")
        return [float(t) for t in v]


#: flat keys before seilab.settings.md, moved into ``transport.md`` with a FutureWarning
_OLD_MD_KEYS = {"temperatures_K": "temperatures_K", "timestep_fs": "timestep_fs", "n_steps": "steps",
                "sample_every": "sample_every", "n_equil_steps": "equilibration_steps", "thermostat": "thermostat",
                "thermostat_taut_fs": "damp_fs", "friction_per_fs": "friction_per_fs"}


class TransportSettings(Settings):
    """Knobs of the transport campaign (MD) and of the Onsager estimator.

    MD: every phase is made into a ~``target_atoms`` supercell and melted (Langevin) at
    ``melt_temperature_K`` for ``melt_steps`` steps; then, for each temperature in
    ``md.temperatures_K``: ``npt_steps`` of isotropic NpT at P = 0 (Berendsen barostat), the cell
    rescaled to the mean volume of the second half of them, ``md.equilibration_steps`` of NVT at that
    volume, an amorphisation check (``amorphous_max_order``), and ``md.steps`` production steps of
    ``md.timestep_fs`` under ``md.thermostat`` (global Bussi CSVR by default), keeping every
    ``md.sample_every``-th frame.

    Estimator: ``fit_window`` (lag times in ps) fixes the range over which the slope of the
    displacement correlations is fitted; ``None`` lets the estimator pick the diffusive window on
    the slowest species that is diffusive (|d ln MSD/d ln t − 1| < ``slope_tolerance``, checked
    per species; a species that is not is flagged "not diffusive" and the result's warnings say
    how long a run would need to be). Error bars are 1σ standard errors from ``n_blocks``
    contiguous time blocks per trajectory, with Student-t intervals (n_blocks − 1 degrees of
    freedom) at ``confidence_level``; fluxes take their errors from the same blocks.
    """

    # --- campaign (used by `seilab run`) --------------------------------------------------
    phases: Literal["tie_line", "stable", "all"] = Field(
        "tie_line", description="which phases get an Onsager run: the products on the reactants' tie line "
                                "(and the reactants), every phase on the hull, or every phase of the campaign")
    interface_width_A: float = Field(
        10.0, gt=0, description="width over which the reactants' chemical-potential difference drops, Å: "
                                "grad_mu = delta_mu / width (eV/Å); scales |J|, not its sign. The campaign's "
                                "transport stage uses the analysis stage's measured interphase thickness when there "
                                "is one and this value only as the fallback (fluxes.json says which)")

    # --- MD -----------------------------------------------------------------------------
    md: TransportMD = Field(default_factory=TransportMD,
                            description="temperatures, time step, NVT equilibration and production of the Onsager runs")
    npt_steps: int = Field(
        2000, description="NpT steps at P = 0 and the run temperature before the NVT equilibration (isotropic "
                          "Berendsen barostat, ase.md.nptberendsen.NPTBerendsen); the production cell is rescaled "
                          "isotropically to the mean volume of their second half. 0: keep the melted cell's volume "
                          "(the crystal's, times volume_scale)")
    npt_taup_fs: float = Field(100.0, description="Berendsen barostat coupling time of the NpT stage, fs")
    npt_taut_fs: float = Field(
        20.0, description="Berendsen thermostat coupling time of the NpT stage, fs (short: a cell thermalised at T "
                          "from rest loses half its kinetic energy to the potential within ~100 fs, and ⟨V⟩ is only "
                          "right once T is)")
    npt_compressibility_per_GPa: float = Field(
        0.05, description="compressibility the Berendsen barostat assumes, 1/GPa (0.05: bulk modulus 20 GPa; the "
                          "volume relaxes in about npt_taup_fs * true / assumed compressibility, the end point does "
                          "not depend on it)")
    target_atoms: int = Field(100, description="aim for supercells of about this many atoms")
    melt_temperature_K: float = Field(2000.0, description="melting temperature that amorphises the supercell, K")
    melt_steps: int = Field(2000, description="melting steps (Langevin, md.friction_per_fs; 0: keep the crystal)")
    amorphous_max_order: Optional[float] = Field(
        0.3, description="the cell entering production counts as still crystalline when its Bragg order (summed "
                         "intensity of the crystal's strongest reflections, 0: random positions, 1: the ideal "
                         "crystal; dimensionless) is above this; it is then not used (status 'not_amorphous'). "
                         "None: no check")
    fix_com: bool = Field(True, description="keep the centre of mass fixed (ase.constraints.FixCom)")
    volume_scale: float = Field(1.0, description="scale the supercell volume by this factor before MD")
    rattle_A: float = Field(0.05, description="random displacement std before melting, Angstrom")
    seed: int = Field(0, description="random seed of velocities, rattling and the thermostat")
    flush_every: int = Field(50, description="append frames to disk in chunks of this many frames")

    # --- estimator ----------------------------------------------------------------------
    n_blocks: int = Field(5, description="time blocks per trajectory for the error bars (1: none); the results "
                                         "quote Student-t intervals with n_blocks - 1 degrees of freedom")
    fit_window: Optional[Tuple[float, float]] = Field(
        None, description="(start, end) lag time of the slope fit, ps; None: chosen automatically")
    slope_tolerance: float = Field(0.15, description="|dlnMSD/dlnt - 1| accepted as diffusive (auto window and "
                                                     "the per-species check), dimensionless")
    confidence_level: float = Field(0.95, description="level of the Student-t intervals of L and J (L_ci, J_ci), "
                                                      "a fraction in (0, 1)")
    max_lag_fraction: float = Field(0.6, description="ignore lags beyond this fraction of a block (noisy tail)")
    default_window_fraction: Tuple[float, float] = Field(
        (0.1, 0.6), description="fallback window as fractions of a block's lag range")
    error_method: Literal["blocks", "runs", "bootstrap"] = Field(
        "blocks", description="how error bars are estimated ('runs'/'bootstrap' need several "
                              "independent runs; the campaign makes one per phase and temperature)")
    remove_drift: bool = Field(
        True, description="subtract the centre-of-mass drift of the whole cell (barycentric frame); a drifting "
                          "centre of mass adds N_i N_j <dR_cm^2> to every L_ij, and the result warns when that "
                          "exceeds 2 sigma either way")

    @model_validator(mode="before")
    @classmethod
    def _old_keys(cls, data):
        return move_flat_keys(data, "transport", "md", _OLD_MD_KEYS)

    @field_validator("target_atoms", "n_blocks", "flush_every")
    @classmethod
    def _positive_int(cls, v: int, info) -> int:
        if v < 1:
            raise ValueError(f"{info.field_name}: must be >= 1, got {v}")
        return v

    @field_validator("melt_steps", "npt_steps")
    @classmethod
    def _non_negative_int(cls, v: int, info) -> int:
        if v < 0:
            raise ValueError(f"{info.field_name}: must be >= 0, got {v}")
        return v

    @field_validator("melt_temperature_K", "volume_scale", "npt_taup_fs", "npt_compressibility_per_GPa", "npt_taut_fs")
    @classmethod
    def _positive_float(cls, v: float, info) -> float:
        if not v > 0:
            raise ValueError(f"{info.field_name}: must be > 0, got {v}")
        return v

    @field_validator("amorphous_max_order")
    @classmethod
    def _order(cls, v):
        if v is not None and not 0 < v < 1:
            raise ValueError(f"amorphous_max_order: must be in (0, 1) (or null: no check), got {v}")
        return v

    @field_validator("rattle_A")
    @classmethod
    def _rattle(cls, v: float) -> float:
        if not 0 <= v < 1:
            raise ValueError(f"rattle_A: must be in [0, 1) Angstrom, got {v}")
        return v

    @field_validator("fit_window")
    @classmethod
    def _window(cls, v):
        if v is not None and not (0 <= v[0] < v[1]):
            raise ValueError(f"fit_window: need 0 <= start < end (ps), got {tuple(v)}")
        return v

    @field_validator("default_window_fraction")
    @classmethod
    def _fraction_window(cls, v):
        if not (0 <= v[0] < v[1] <= 1):
            raise ValueError(f"default_window_fraction: need 0 <= start < end <= 1, got {tuple(v)}")
        return v

    @field_validator("slope_tolerance", "confidence_level")
    @classmethod
    def _open_unit(cls, v: float, info) -> float:
        if not 0 < v < 1:
            raise ValueError(f"{info.field_name}: must be in (0, 1), got {v}")
        return v

    @field_validator("max_lag_fraction")
    @classmethod
    def _max_lag(cls, v: float) -> float:
        if not 0 < v <= 1:
            raise ValueError(f"max_lag_fraction: must be in (0, 1], got {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        md = self.md
        for name, value in (("npt_taup_fs", self.npt_taup_fs), ("npt_taut_fs", self.npt_taut_fs),
                            ("md.damp_fs", md.damp_fs)):
            if value < md.timestep_fs:
                raise ValueError(f"{name}: {value} fs is shorter than one time step ({md.timestep_fs} fs)")
        if 0 < self.npt_steps < 20:
            raise ValueError(f"npt_steps: {self.npt_steps} is too few to average the volume over (use 0 or >= 20)")
        n_frames = md.steps // md.sample_every + 1
        if n_frames < 4 * self.n_blocks:
            raise ValueError(f"n_blocks: {self.n_blocks} blocks need at least {4 * self.n_blocks} frames, "
                             f"md.steps/md.sample_every gives {n_frames}")
        if n_frames < MIN_FRAMES:  # the estimator's minimum, checked before any MD is run
            raise ValueError(f"md.steps: md.steps/md.sample_every + 1 gives {n_frames} frames, the Onsager "
                             f"estimator needs at least {MIN_FRAMES}")
        return self

    @property
    def timestep_ps(self) -> float:
        """Time between stored frames, ps."""
        return self.md.sample_interval_fs * 1e-3

    def estimator_kwargs(self) -> dict:
        """Keyword arguments for :class:`~seilab.transport.onsager.Onsager`."""
        return dict(n_blocks=self.n_blocks, fit_window=self.fit_window,
                    slope_tolerance=self.slope_tolerance, max_lag_fraction=self.max_lag_fraction,
                    default_window_fraction=self.default_window_fraction,
                    error_method=self.error_method, remove_drift=self.remove_drift,
                    confidence=self.confidence_level)
