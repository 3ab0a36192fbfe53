"""Settings of the training stage (one section of the campaign YAML).

Defaults follow the paper (section 2.6): an ACE potential fitted with pacemaker, cutoff 6.0 Å,
Finnis–Sinclair-shifted-scaled embedding with the parameters of Erhard et al. (ndensity 2,
``fs_parameters [1, 1, 1, 0.5]``), hierarchical ("ladder") growth of the basis by body order, two
force-weighted stages (κ = 0.99, then 0.90) and a 90/10 train/test split. The paper's basis has 350
functions per element; a demo campaign uses 20–60 (see ``examples/``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from seilab.settings.base import Settings


class TrainingSettings(Settings):
    """How the MLIP is fitted (pacemaker / ACE)."""

    backend: Literal["pacemaker", "linear-ace"] = Field(
        "pacemaker", description="MLIP fitting backend: 'pacemaker' (nonlinear ACE, iterative, the paper's) or "
                                 "'linear-ace' (linear ACE by weighted ridge least squares: seconds to minutes; "
                                 "ignores embedding, ndensity, fs_parameters, ladder, kappa_stages, maxiter, "
                                 "optimizer, warm_start)")
    cutoff_A: float = Field(6.0, gt=1.0, le=15.0, description="radial cutoff of the ACE basis (Å)")
    functions_per_element: int = Field(
        350, ge=1, description="ACE basis functions per element (paper: 350; demo: 20-60)")
    embedding: Literal["FinnisSinclairShiftedScaled", "FinnisSinclair"] = Field(
        "FinnisSinclairShiftedScaled", description="pacemaker embedding ('npot')")
    ndensity: int = Field(2, ge=1, le=8, description="number of densities of the embedding")
    fs_parameters: list[float] = Field(
        [1.0, 1.0, 1.0, 0.5], description="embedding parameters, two per density (Erhard et al.)")
    radial_basis: Literal["SBessel", "ChebExpCos", "ChebPow"] = "SBessel"
    ladder: bool = Field(True, description="hierarchical (ladder) fit: grow the basis by body order")
    ladder_step: list[float] = Field(
        [10, 0.2], min_length=1, max_length=2,
        description="functions added per ladder step and per element-combination block (pacemaker "
                    "grows every block separately): an integer, a fraction (0-1) of the block's current "
                    "size, or both (the larger wins)")
    ladder_type: Literal["body_order", "power_order"] = "body_order"
    kappa_stages: list[float | Literal["auto"]] = Field(
        [0.99, 0.90], min_length=1,
        description="force weight κ of each fitting stage (pacemaker loss: kappa; the energy weight is 1 - κ); "
                    "'auto' lets pacemaker set κ = σ_E² / (σ_E² + σ_F²) from the data")
    maxiter: list[int] = Field(
        [1500, 500], min_length=1,
        description="optimizer iterations per stage (per ladder step in a ladder stage); one value = all stages")
    optimizer: Literal["BFGS", "L-BFGS-B"] = "BFGS"
    l1_coeff: float = Field(1e-8, ge=0)
    l2_coeff: float = Field(1e-8, ge=0)
    repulsion: Literal["auto", "none"] = Field(
        "auto", description="'auto': ZBL core repulsion below the shortest distance seen in the data")
    energy_weight_by_kind: dict[str, float] = Field(
        {}, description="relative energy weight of the structures of a kind (sampling kinds: crystalline, "
                        "perturbed, hot_md, amorphous, interface, active_learning, ...; others 1), e.g. "
                        "{crystalline: 10, perturbed: 10}: the energies that decide the phase diagram count more")
    force_weight_by_kind: dict[str, float] = Field(
        {}, description="relative force weight per atom of the structures of a kind (others 1)")
    linear_energy_weight: float = Field(
        1000.0, gt=0, description="linear-ace: mean weight of a structure's per-atom energy residual (eV/atom) "
                                  "relative to one force component's (eV/Å); energy_weight_by_kind factors are "
                                  "taken relative to their mean over the training set; measured on the demo data: "
                                  "10 -> test E 56 meV/atom, 100 -> 43, 1000 -> 22 at the same force error")
    ridge_alpha: float = Field(1e-5, ge=0, description="linear-ace: ridge (L2) penalty on the coefficients")
    test_fraction: float = Field(0.1, ge=0.0, lt=0.9, description="share of structures held out as test set")
    seed: int = Field(42, description="seed of the train/test split and of pacemaker")
    reference_energies: Literal["isolated_atoms", "least_squares", "zero"] = Field(
        "isolated_atoms",
        description="energy_corrected = E - sum of per-element energies: 'isolated_atoms' (reference "
                    "calculator, cached in training/reference_energies.json), 'least_squares' (fitted to "
                    "the dataset) or 'zero' (raw energies)")
    warm_start: bool = Field(
        True, description="a new generation starts from the previous generation's potential")
    evaluator: Literal["tensorpot", "pyace"] = Field(
        "tensorpot", description="pacemaker backend: tensorpot (TensorFlow, fast) or pyace (no TF, ~6x slower)")
    batch_size: int = Field(100, ge=1)
    display_step: int = Field(50, ge=1, description="iterations between pacemaker's detailed log blocks")
    threads: int = Field(1, ge=1, description="TensorFlow / OpenMP threads of the fit")
    timeout_s: float | None = Field(None, gt=0, description="wall-clock limit per pacemaker run")
    activeset: bool = Field(True, description="compute the D-optimality active set (.asi) for γ")
    callbacks: list[str] = Field(
        [], description="advanced: importable functions pacemaker calls after every iteration "
                        "(fit: callbacks); monitoring only, not part of the fit's fingerprint")

    @field_validator("kappa_stages")
    @classmethod
    def _kappa(cls, v):
        for k in v:
            if k != "auto" and not 0.0 <= k <= 1.0:
                raise ValueError(f"every kappa must be within [0, 1], got {k}")
        return v

    @field_validator("maxiter")
    @classmethod
    def _maxiter(cls, v):
        if any(m < 1 for m in v):
            raise ValueError("maxiter values must be >= 1")
        return v

    @field_validator("energy_weight_by_kind", "force_weight_by_kind")
    @classmethod
    def _weights(cls, v):
        for kind, w in v.items():
            if not w >= 0:
                raise ValueError(f"weight of kind {kind!r} must be >= 0, got {w}")
        return {str(k): float(w) for k, w in v.items()}

    @field_validator("ladder_step")
    @classmethod
    def _ladder_step(cls, v):
        for p in v:
            if not (p >= 1 and float(p).is_integer()) and not 0 < p < 1:
                raise ValueError(f"ladder_step entries are integers >= 1 or fractions in (0, 1), got {p}")
        return v

    @model_validator(mode="after")
    def _shapes(self):
        if len(self.fs_parameters) != 2 * self.ndensity:
            raise ValueError(f"fs_parameters needs 2 x ndensity = {2 * self.ndensity} values, "
                             f"got {len(self.fs_parameters)}")
        if len(self.maxiter) not in (1, len(self.kappa_stages)):
            raise ValueError(f"maxiter needs 1 or {len(self.kappa_stages)} values (one per kappa stage)")
        return self

    def stage_maxiter(self, i: int) -> int:
        return self.maxiter[i] if len(self.maxiter) > 1 else self.maxiter[0]

    def pacemaker_ladder_step(self):
        """``ladder_step`` as pacemaker wants it (ints stay ints)."""
        vals = [int(p) if p >= 1 else float(p) for p in self.ladder_step]
        return vals[0] if len(vals) == 1 else vals
