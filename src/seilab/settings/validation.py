"""Settings of the validation stage (one section of the campaign YAML).

Six groups of checks (paper section 3.1, plus the chemistry), each against the campaign's reference
calculator: ``metrics`` (test-set RMSE, overall and on the crystalline + perturbed structures),
``formation`` (formation energies, hull and tie-line products, :mod:`seilab.validation.formation`),
``dimers`` (pairwise binding curves, Fig. 3), ``eos`` (Birch–Murnaghan equations of state of every crystalline phase, Fig. 4), ``rdf`` (300 K MD of crystalline and amorphous
phases, model vs reference, Fig. 5) and ``stability`` (NVT + NpT MD of interfaces and amorphous
phases with the model: voids, phase separation, NaN / exploding temperature). Every threshold below
decides one pass/fail line of ``report.json``; the report passes only when every line does, and a
potential whose report fails is refused by the simulation and transport stages (the *gate*, see
:mod:`seilab.validation.gate`). The metric, formation and EOS thresholds are the fidelity targets a
potential must reach before its production run (test E RMSE ≤ 25 meV/atom, ≤ 10 on crystalline and
perturbed structures, F RMSE ≤ 150 meV/Å, formation energies within 15 meV/atom, EOS V0 within 3 %,
B0 within 25 %); a campaign may make them stricter. Run lengths are demo scale; the paper ran 20 ps RDF
MD and 1 ns screening MD.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from seilab.settings.base import Settings
from seilab.settings.md import MDRun, move_flat_keys

CheckGroup = Literal["metrics", "formation", "dimers", "eos", "rdf", "stability"]

#: every check the stage writes, by the name before the ':' (``eos_v0:Li2S`` is ``eos_v0``)
CHECK_NAMES = ("test_energy_rmse", "test_force_rmse", "test_energy_rmse_crystalline", "formation_energy",
               "hull_stable_set", "tie_line_products", "dimer_rmse", "dimer_repulsive", "eos", "eos_v0", "eos_b0",
               "rdf", "rdf_total", "rdf_partial", "stable", "no_void", "no_phase_separation")


class RdfMD(MDRun):
    """The RDF comparison's MD (``validation.rdf_md``): model and reference run the same protocol (300 K and
    1 fs by default, :class:`~seilab.settings.md.MDRun`'s)."""

    equilibration_steps: int = Field(100, ge=0, description="NVT steps before g(r) is sampled")
    steps: int = Field(400, ge=1, description="production steps (model and reference MD)")
    sample_every: int = Field(10, ge=1, description="g(r) is accumulated every this many steps")
    friction_per_fs: float = Field(0.01, gt=0, le=1, description="Langevin friction, 1/fs")


class StabilityMD(MDRun):
    """The stability screening's MD (``validation.stability_md``; 300 K and 1 fs by default, as MDRun)."""

    equilibration_steps: int = Field(
        100, ge=0, description="NVT steps at temperature_K (fresh Maxwell-Boltzmann velocities) after the "
                               "minimisation and before the judged run; only blow-ups (non-finite numbers, atoms "
                               "closer than min_distance_A) fail here")
    steps: int = Field(1000, ge=1, description="steps of the judged run")
    sample_every: int = Field(50, ge=1, description="the run is checked (and a frame kept) every this many steps")
    friction_per_fs: float = Field(0.01, gt=0, le=1, description="Langevin friction, 1/fs")


#: flat keys before seilab.settings.md, moved into rdf_md / stability_md with a FutureWarning
_OLD_RDF_KEYS = {f"rdf_{k}": k for k in ("temperature_K", "timestep_fs", "equilibration_steps", "steps", "sample_every")}
_OLD_STABILITY_KEYS = {f"stability_{k}": k for k in ("temperature_K", "timestep_fs", "equilibration_steps", "steps",
                                                      "sample_every")}


class ValidationSettings(Settings):
    """What to validate and the pass/fail thresholds."""

    checks: list[CheckGroup] = Field(
        ["metrics", "formation", "dimers", "eos", "rdf", "stability"], description="check groups to run")
    threads: int = Field(1, ge=1, description="threads of the model and reference calculators")
    advisory_checks: list[str] = Field(
        ["dimer_rmse"],
        description="checks (names before the ':') that are computed, reported and drawn but do not decide the "
                    "gate. Default: the dimer RMSE, i.e. how well the model reproduces the well depth of an "
                    "isolated molecule, a configuration that is not in (and not meant for) the training data; "
                    "the paper (section 3.1) validates the binding curves for smoothness and repulsion in the "
                    "compressed regime and accepts well-depth differences. `dimer_repulsive` (wall, no spurious "
                    "well) always gates. Set [] to gate on every check")
    seed: int = 0

    # -- metrics (acceptance on the held-out test set; paper's final DFT model: 119.5 / 269.8) -------
    max_test_energy_rmse_meV_per_atom: float = Field(25.0, gt=0, description="test-set energy RMSE, all kinds")
    max_test_force_rmse_meV_per_A: float = Field(150.0, gt=0, description="test-set force RMSE, all kinds")
    max_test_energy_rmse_crystalline_meV_per_atom: float = Field(
        10.0, gt=0, description="test-set energy RMSE over the structures of `crystalline_kinds`")
    crystalline_kinds: list[str] = Field(
        ["crystalline", "perturbed"], min_length=1,
        description="structure kinds (sampling) pooled for the crystalline energy check")

    # -- formation energies, hull, tie line (needs the chemistry stage's reaction.json) ---------------
    max_formation_energy_error_meV_per_atom: float = Field(
        15.0, gt=0, description="|E_f(model) - E_f(reference)| of every phase, at the reference-relaxed structure")

    # -- dimers ---------------------------------------------------------------------------------------
    dimer_r_min_A: float = Field(0.8, gt=0.1, description="shortest separation (compressed regime)")
    dimer_r_max_A: float = Field(6.0, gt=0.5, description="largest separation; energies are relative to it")
    dimer_points: int = Field(40, ge=5)
    dimer_box_A: float = Field(20.0, ge=10.0, description="cubic box of the dimer (periodic, vacuum around)")
    dimer_window_eV: float = Field(
        5.0, gt=0, description="RMSE is taken where the reference is below this energy (eV above r_max)")
    max_dimer_rmse_eV: float = Field(
        1.0, gt=0, description="per pair, over the window (advisory by default, see `advisory_checks`)")
    min_dimer_repulsion_eV: float = Field(
        1.0, description="model E(r_min) - E(r_max) must exceed this (no collapse at short range)")
    dimer_max_spurious_well_eV: float = Field(
        0.5, ge=0, description="largest allowed rise-and-fall (spurious barrier/well) inside the compressed "
                               "region r < r(reference minimum)")

    # -- equations of state --------------------------------------------------------------------------
    eos_volume_min: float = Field(0.75, gt=0.3, lt=1.0, description="smallest V/V0")
    eos_volume_max: float = Field(1.25, gt=1.0, lt=2.5, description="largest V/V0")
    eos_points: int = Field(11, ge=5)
    eos_phases: list[str] | None = Field(None, description="phase names (default: every relaxed phase)")
    eos_max_atoms: int = Field(200, ge=1, description="skip phases with more atoms than this")
    max_eos_v0_rel_error: float = Field(0.03, gt=0, description="|V0 model/ref - 1|")
    max_eos_b0_rel_error: float = Field(0.25, gt=0, description="|B0 model/ref - 1|")

    # -- RDF ------------------------------------------------------------------------------------------
    rdf_md: RdfMD = Field(default_factory=RdfMD, description="NVT MD of the model and of the reference")
    rdf_r_max_A: float = Field(6.0, gt=1.0)
    rdf_bin_A: float = Field(0.05, gt=0)
    rdf_smearing_A: float = Field(0.1, ge=0, description="Gaussian smoothing of g(r) before comparing")
    rdf_min_atoms: int = Field(32, ge=1, description="crystal cells are repeated up to at least this many atoms")
    rdf_max_atoms: int = Field(200, ge=1, description="skip structures larger than this (reference MD cost)")
    rdf_phases: list[str] | None = Field(None, description="crystalline phases (default: every relaxed phase)")
    rdf_amorphous: bool = Field(True, description="also compare amorphous structures when available")
    min_rdf_similarity: float = Field(0.85, ge=0, le=1, description="total g(r) similarity (1 - L1/L1max)")
    min_partial_rdf_similarity: float = Field(0.7, ge=0, le=1, description="worst partial g_ab(r) similarity")

    # -- stability screening --------------------------------------------------------------------------
    stability_ensembles: list[Literal["nvt", "npt"]] = Field(["nvt", "npt"], min_length=1)
    stability_md: StabilityMD = Field(
        default_factory=StabilityMD, description="the stability runs (the NVT ones under its thermostat; NpT: "
                                                 "Berendsen, see stability_pressure_GPa)")
    stability_pressure_GPa: float = 0.0
    stability_minimize_steps: int = Field(
        100, ge=0, description="FIRE steps (at most) minimising the start structure with the model at fixed cell "
                               "before the stability run; 0 = no minimisation")
    stability_minimize_fmax_eV_per_A: float = Field(
        0.1, gt=0, description="the minimisation stops when the largest atomic force is below this")
    stability_bulk_modulus_GPa: float = Field(20.0, gt=0, description="barostat compressibility guess (NpT)")
    stability_max_atoms: int = Field(2000, ge=1)
    stability_max_structures: int = Field(6, ge=1, description="per kind (amorphous, interface)")
    void_grid_A: float = Field(0.5, gt=0.05, description="grid spacing of the distance transform")
    max_void_radius_A: float = Field(3.0, gt=0, description="largest empty sphere allowed at the end")
    max_void_growth_A: float = Field(0.75, ge=0, description="allowed growth of the largest empty sphere")
    phase_bin_A: float = Field(5.0, gt=1.0, description="edge of the spatial bins for composition")
    max_composition_std_increase: float = Field(
        0.08, ge=0, description="allowed increase of the std (across bins) of any element's atom fraction")
    max_temperature_factor: float = Field(
        3.0, gt=1.0, description="stability runs: T above factor x target = exploded (not applied to the RDF runs)")
    max_volume_change: float = Field(0.3, gt=0, description="|V/V_start - 1| above this = exploded/collapsed (NpT)")
    min_distance_A: float = Field(0.6, gt=0, description="closer atoms = collapse")

    @model_validator(mode="before")
    @classmethod
    def _old_keys(cls, data):
        data = move_flat_keys(data, "validation", "rdf_md", _OLD_RDF_KEYS)
        return move_flat_keys(data, "validation", "stability_md", _OLD_STABILITY_KEYS)

    @model_validator(mode="after")
    def _ranges(self):
        unknown = sorted(set(self.advisory_checks) - set(CHECK_NAMES))
        if unknown:
            raise ValueError(f"advisory_checks: unknown check {', '.join(unknown)} (known: {', '.join(CHECK_NAMES)})")
        if self.dimer_r_min_A >= self.dimer_r_max_A:
            raise ValueError("dimer_r_min_A must be smaller than dimer_r_max_A")
        if self.dimer_r_max_A >= self.dimer_box_A / 2:
            raise ValueError("dimer_box_A must be more than twice dimer_r_max_A")
        return self


class GateSettings(Settings):
    """The acceptance gate of the production stages (``gate:`` section; see :mod:`seilab.validation.gate`)."""

    allow_unvalidated: bool = Field(
        False, description="run the simulation and transport stages even when no potential passed validation; "
                           "their outputs and the report are then marked as computed on an unvalidated potential "
                           "(CLI: --allow-unvalidated)")
    newer_within_fraction: float = Field(
        0.10, ge=0, le=1.0,
        description="among accepted generations, a newer one whose fixed-test score is within this fraction of the "
                    "best score is handed on instead: it has learned from more configurations (e.g. a production "
                    "run's extrapolative frames, which the fixed test set cannot reward) and is no worse on the fixed "
                    "set beyond noise (the same 10 % as learning.max_fixed_test_regression); 0: strictly the best")
