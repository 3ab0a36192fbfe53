"""Interfacial ionic fluxes from Onsager coefficients (paper eq. 2) and their check against MD.

.. math::  J_i = -\\sum_j L_{ij} \\nabla\\tilde\\mu_j

Sign convention (as in the paper's Figures 7 and 8): the interface normal **z points from the
solid electrolyte to the metal**, so a positive flux is a flow of ions toward the metal anode
and a negative one toward the electrolyte. The driving force of species j is

    grad_mu[j] = (mu_j on the metal side - mu_j on the electrolyte side) / interface width

in eV/Å (:func:`driving_forces` builds it from the two chemical potentials and a width). For
Li, mu_Li is highest at the metal, grad_mu > 0 and J_Li < 0 (Li moves into the electrolyte);
for S, mu_S is lowest at the metal, grad_mu < 0 and J_S > 0 (S moves toward the metal).

Errors: J is a linear function of the whole matrix L, whose entries are strongly correlated
(in the barycentric frame Σ_j m_j L_ij = 0 in every block). So J_err is propagated from the
estimator's samples (blocks, runs or bootstrap replicates kept in ``OnsagerResult.L_samples``):
J_k = −L_k·∇μ for every sample k, J_err = std(J_k)/√n (blocks, runs; std for the bootstrap),
and ``J_ci`` = t_factor × J_err is the Student-t interval of the result (n − 1 degrees of
freedom). Only a result without samples falls back to independent L errors (``J_err_method``
says which).

Units: L in 1/(eV·Å·ps) × grad_mu in eV/Å → **J in 1/(Å²·ps)** (ions per Å² per ps).
Multiply by :data:`J_TO_SI` = 1e32 for 1/(m²·s) or :data:`J_TO_MOLAR_SI` ≈ 1.6605e8 for
mol/(m²·s).

:func:`compare_fluxes` (closing the loop) takes plain dicts so that it does not depend on the
interface-analysis code that measures fluxes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from seilab.errors import SeilabError

from .onsager import OnsagerResult

#: 1/(Å²·ps) → 1/(m²·s).
J_TO_SI = 1e20 * 1e12
#: 1/(Å²·ps) → mol/(m²·s).
J_TO_MOLAR_SI = J_TO_SI / 6.02214076e23
J_UNIT = "1/(Angstrom^2*ps)"
GRAD_MU_UNIT = "eV/Angstrom"


@dataclass
class FluxResult:
    """Predicted fluxes of one phase at one temperature.

    J, J_err : (n_species,) fluxes and 1σ standard errors in 1/(Å²·ps), positive toward the
    metal. The error comes from the spread of J_k = −L_k·∇μ over the estimator's samples
    (``J_err_method`` "samples"), or, for a result without samples, from L_err as if independent
    ("independent L errors"); grad_mu is taken as exact.
    J_samples : (n_samples, n_species) the J_k.
    J_ci : half-width of the Student-t interval (``confidence``, ``t_factor``).
    not_diffusive : species of the phase whose L rows are flagged "not diffusive".
    """

    species: tuple[str, ...]
    J: np.ndarray
    J_err: np.ndarray
    grad_mu: dict[str, float]
    temperature_K: float
    label: str = ""
    composition: dict[str, float] = field(default_factory=dict)
    system: str = ""
    J_err_method: str = "samples"
    J_samples: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    confidence: float = 0.95
    t_factor: float = float("nan")
    not_diffusive: list = field(default_factory=list)
    units: dict = field(default_factory=lambda: {
        "J": J_UNIT, "J_to_SI_factor": J_TO_SI, "J_SI": "1/(m^2*s)",
        "J_to_molar_SI_factor": J_TO_MOLAR_SI, "J_molar_SI": "mol/(m^2*s)",
        "grad_mu": GRAD_MU_UNIT, "sign": "positive toward the metal"})

    def as_dict(self) -> dict[str, float]:
        """species → J (1/(Å²·ps))."""
        return {s: float(j) for s, j in zip(self.species, self.J)}

    @property
    def J_ci(self) -> np.ndarray:
        """Half-width of the ``confidence`` Student-t interval of J: t_factor × J_err."""
        return self.t_factor * self.J_err

    def to_dict(self) -> dict[str, Any]:
        return {"species": list(self.species), "J": self.J.tolist(), "J_err": self.J_err.tolist(),
                "J_err_method": self.J_err_method, "J_ci": self.J_ci.tolist(), "confidence": self.confidence,
                "t_factor": self.t_factor, "not_diffusive": list(self.not_diffusive),
                "J_SI": (self.J * J_TO_SI).tolist(), "grad_mu": dict(self.grad_mu),
                "temperature_K": self.temperature_K, "label": self.label,
                "composition": dict(self.composition), "system": self.system, "units": dict(self.units)}


def driving_forces(mu_metal: Mapping[str, float], mu_electrolyte: Mapping[str, float],
                   width_A: float) -> dict[str, float]:
    """grad_mu (eV/Å) per species: (mu at the metal side - mu at the electrolyte side) / width.

    ``mu_*`` are chemical potentials in eV (e.g. from the chemical-potential diagram at the
    two reactants); ``width_A`` is the interface width in Å. Only species in both dicts are kept.
    """
    if not (isinstance(width_A, (int, float)) and math.isfinite(width_A) and width_A > 0):
        raise SeilabError(f"width_A: must be a positive number of Angstrom, got {width_A!r}")
    common = [s for s in mu_metal if s in mu_electrolyte]
    if not common:
        raise SeilabError("mu_metal/mu_electrolyte: no species in common")
    return {s: (float(mu_metal[s]) - float(mu_electrolyte[s])) / float(width_A) for s in common}


def predict_fluxes(result: OnsagerResult, grad_mu: Mapping[str, float]) -> FluxResult:
    """J_i = -Σ_j L_ij grad_mu_j for the species of ``result`` (eq. 2).

    ``grad_mu`` maps species → eV/Å (see module docstring for the sign). Species of the result
    that are absent from ``grad_mu`` are an error; extra species in ``grad_mu`` (not in this
    phase) are ignored.
    """
    missing = [s for s, c in zip(result.species, result.counts) if c > 0 and s not in grad_mu]
    if missing:
        raise SeilabError(f"grad_mu: no value for species {missing}")
    g = np.array([float(grad_mu.get(s, 0.0)) for s in result.species])
    if not np.all(np.isfinite(g)):
        raise SeilabError(f"grad_mu: values must be finite, got {dict(grad_mu)}")
    J = -result.L @ g
    S = np.asarray(result.L_samples, dtype=float)
    n = S.shape[0] if S.ndim == 3 and S.shape[1:] == result.L.shape else 0
    if n >= 2:
        Jk = -np.einsum("kij,j->ki", S, g)                      # J_k = -L_k grad_mu, every sample
        sd = Jk.std(axis=0, ddof=1)
        J_err = sd if result.error_method == "bootstrap" else sd / np.sqrt(n)
        how = "samples"
    else:
        Jk = np.zeros((0, g.size))
        J_err = np.sqrt((result.L_err ** 2) @ (g ** 2))
        how = "independent L errors"
    return FluxResult(species=tuple(result.species), J=J, J_err=J_err,
                      grad_mu={s: float(v) for s, v in zip(result.species, g)},
                      temperature_K=result.temperature_K, label=result.label,
                      composition=result.composition, system=result.system, J_err_method=how,
                      J_samples=Jk, confidence=result.confidence, t_factor=result.t_factor,
                      not_diffusive=list(result.not_diffusive))


def flux_table(results: Sequence[OnsagerResult], grad_mu: Mapping[str, float]) -> list[dict]:
    """One row per (result, species): label, system, temperature_K, composition, species, J, J_err."""
    rows = []
    for r in results:
        f = predict_fluxes(r, grad_mu)
        for s, j, e in zip(f.species, f.J, f.J_err):
            rows.append({"label": r.label, "system": r.system, "temperature_K": r.temperature_K,
                         "composition": r.composition, "species": s, "J": float(j), "J_err": float(e)})
    return rows


def _sign(x: float, zero: float) -> int:
    return 0 if abs(x) <= zero else (1 if x > 0 else -1)


def compare_fluxes(predicted: Mapping[str, float] | FluxResult, measured: Mapping[str, float],
                   decades: float = 1.0, zero_tolerance: float = 0.0,
                   measured_scale: float = 1.0) -> dict[str, Any]:
    """Compare predicted with measured fluxes per species: sign and order of magnitude.

    Parameters
    ----------
    predicted : species → flux (or a :class:`FluxResult`), 1/(Å²·ps), positive toward the metal.
    measured : species → flux measured at the simulated interface, same units and sign
        convention after multiplying by ``measured_scale``.
    decades : magnitudes agree when |log10(|predicted/measured|)| <= decades.
    zero_tolerance : |flux| at or below this counts as zero (sign 0).

    Returns
    -------
    ``{"species": {s: {predicted, measured, sign_predicted, sign_measured, sign_agrees, ratio,
    log10_ratio, magnitude_agrees}}, "n_compared", "n_sign_agree", "n_magnitude_agree",
    "all_signs_agree", "all_magnitudes_agree", "only_predicted", "only_measured", "decades",
    "units", "sign_convention"}``. ``ratio`` is predicted/measured (None when measured is 0).
    """
    if isinstance(predicted, FluxResult):
        predicted = predicted.as_dict()
    if not isinstance(predicted, Mapping) or not isinstance(measured, Mapping):
        raise SeilabError("fluxes: predicted and measured must map species to values")
    if not (decades > 0):
        raise SeilabError(f"decades: must be > 0, got {decades}")
    table: dict[str, dict] = {}
    for s in [s for s in predicted if s in measured]:
        try:
            p, m = float(predicted[s]), float(measured[s]) * float(measured_scale)
        except (TypeError, ValueError):
            raise SeilabError(f"fluxes: non-numeric value for species '{s}'") from None
        if not (math.isfinite(p) and math.isfinite(m)):
            raise SeilabError(f"fluxes: non-finite value for species '{s}'")
        sp, sm = _sign(p, zero_tolerance), _sign(m, zero_tolerance)
        ratio = p / m if m != 0 else None
        l10 = math.log10(abs(ratio)) if ratio not in (None, 0.0) else None
        table[s] = {"predicted": p, "measured": m, "sign_predicted": sp, "sign_measured": sm,
                    "sign_agrees": sp == sm, "ratio": ratio, "log10_ratio": l10,
                    "magnitude_agrees": bool(l10 is not None and abs(l10) <= decades)}
    n = len(table)
    return {
        "species": table,
        "n_compared": n,
        "n_sign_agree": sum(r["sign_agrees"] for r in table.values()),
        "n_magnitude_agree": sum(r["magnitude_agrees"] for r in table.values()),
        "all_signs_agree": bool(n) and all(r["sign_agrees"] for r in table.values()),
        "all_magnitudes_agree": bool(n) and all(r["magnitude_agrees"] for r in table.values()),
        "only_predicted": sorted(s for s in predicted if s not in measured),
        "only_measured": sorted(s for s in measured if s not in predicted),
        "decades": decades,
        "units": J_UNIT,
        "sign_convention": "positive toward the metal",
    }
