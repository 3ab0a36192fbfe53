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

Reference frame. With the centre-of-mass drift removed (the estimator's default) L, and so J, are
in the **barycentric frame, Σ_i m_i J_i = 0**: in a binary the two fluxes have opposite signs
whatever the physics, so their signs say one thing, not two. For statements about direction,
:meth:`FluxResult.in_host_frame` gives the fluxes relative to a host sublattice (e.g. S):

.. math::  J_i' = J_i - \frac{c_i}{c_h} J_h

with c the number densities of the phase (c_i/c_h = N_i/N_h), so J_h' = 0 and a species moves
"toward the metal" relative to the host framework. Its errors come from the same samples.

Signs: :func:`sign_label` gives "+" or "-" only when |J| > 2σ, else "not resolved".

:func:`compare_fluxes` (closing the loop) takes plain dicts so that it does not depend on the
interface-analysis code that measures fluxes. It compares signs only (where resolved), no
magnitudes: a predicted flux depends on the assumed width of the interphase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from seilab.errors import SeilabError

from .onsager import _AVOGADRO, OnsagerResult

#: 1/(Å²·ps) → 1/(m²·s).
J_TO_SI = 1e20 * 1e12
#: 1/(Å²·ps) → mol/(m²·s).
J_TO_MOLAR_SI = J_TO_SI / _AVOGADRO
J_UNIT = "1/(Angstrom^2*ps)"
BARYCENTRIC = "barycentric (sum_i m_i J_i = 0)"
LAB = "lab (centre-of-mass drift kept)"
#: a sign is reported only when |J| exceeds this many standard errors
SIGN_SIGMAS = 2.0


def sign_label(J: float, J_err: float, sigmas: float = SIGN_SIGMAS) -> str:
    """"+" or "-" when |J| > ``sigmas`` × J_err, else "not resolved" (also for a NaN error)."""
    if not (math.isfinite(J) and math.isfinite(J_err)) or abs(J) <= sigmas * J_err:
        return "not resolved"
    return "+" if J > 0 else "-"


def host_frame_label(host: str) -> str:
    return f"host-fixed ({host} sublattice at rest: J_i' = J_i - (c_i/c_{host}) J_{host})"
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
    counts: tuple = ()
    frame: str = BARYCENTRIC
    error_method: str = "blocks"
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

    def signs(self, sigmas: float = SIGN_SIGMAS) -> dict[str, str]:
        """species → "+", "-" (|J| > 2σ) or "not resolved"."""
        return {s: sign_label(float(j), float(e), sigmas) for s, j, e in zip(self.species, self.J, self.J_err)}

    def in_host_frame(self, host: str = "S") -> "FluxResult":
        """The fluxes relative to the ``host`` sublattice: J_i' = J_i - (c_i/c_host) J_host (c: number
        densities of this phase), errors from the same samples. The host must be present."""
        if host not in self.species:
            raise SeilabError(f"host: '{host}' not in {list(self.species)}")
        h = self.species.index(host)
        n = np.asarray(self.counts, dtype=float)
        if n.size != len(self.species) or n[h] <= 0:
            raise SeilabError(f"host: no {host} atoms in this phase")
        ratio = n / n[h]
        J = self.J - ratio * self.J[h]
        Jk = self.J_samples
        if Jk.ndim == 2 and Jk.shape[0] >= 2:
            Jk = Jk - ratio[None, :] * Jk[:, h:h + 1]
            sd = Jk.std(axis=0, ddof=1)
            J_err = sd if self.error_method == "bootstrap" else sd / np.sqrt(Jk.shape[0])
        else:
            J_err = np.sqrt(self.J_err ** 2 + (ratio * self.J_err[h]) ** 2)
            J_err[h] = 0.0
        return FluxResult(species=self.species, J=J, J_err=J_err, grad_mu=dict(self.grad_mu),
                          temperature_K=self.temperature_K, label=self.label, composition=dict(self.composition),
                          system=self.system, J_err_method=self.J_err_method, J_samples=Jk,
                          confidence=self.confidence, t_factor=self.t_factor, not_diffusive=list(self.not_diffusive),
                          counts=tuple(self.counts), frame=host_frame_label(host), error_method=self.error_method)

    def to_dict(self) -> dict[str, Any]:
        return {"species": list(self.species), "J": self.J.tolist(), "J_err": self.J_err.tolist(),
                "frame": self.frame, "signs": self.signs(),
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
                      not_diffusive=list(result.not_diffusive), counts=tuple(result.counts),
                      frame=LAB if result.drift.get("removed") is False else BARYCENTRIC,
                      error_method=result.error_method)


def flux_table(results: Sequence[OnsagerResult], grad_mu: Mapping[str, float]) -> list[dict]:
    """One row per (result, species): label, system, temperature_K, composition, species, J, J_err."""
    rows = []
    for r in results:
        f = predict_fluxes(r, grad_mu)
        for s, j, e in zip(f.species, f.J, f.J_err):
            rows.append({"label": r.label, "system": r.system, "temperature_K": r.temperature_K,
                         "composition": r.composition, "species": s, "J": float(j), "J_err": float(e)})
    return rows


def compare_fluxes(predicted: Mapping[str, float] | FluxResult, measured: Mapping[str, float],
                   predicted_err: Mapping[str, float] | None = None,
                   measured_err: Mapping[str, float] | None = None, sigmas: float = SIGN_SIGMAS,
                   measured_scale: float = 1.0, frame: str | None = None) -> dict[str, Any]:
    """Compare the signs of predicted and measured fluxes per species, where they are resolved.

    Parameters
    ----------
    predicted : species → flux, 1/(Å²·ps), positive toward the metal, or a :class:`FluxResult`
        (its J_err and frame are used).
    measured : species → flux measured at the simulated interface, same units and sign
        convention after multiplying by ``measured_scale``.
    predicted_err, measured_err : species → 1σ error (same units). A sign counts only when
        |J| > ``sigmas`` × error ("not resolved" otherwise); a measured flux without an error
        keeps its sign, a predicted one without an error is "not resolved".
    frame : the frame of the predicted fluxes (default: the FluxResult's, else barycentric).

    Returns
    -------
    ``{"species": {s: {predicted, predicted_err, measured, measured_err, sign_predicted,
    sign_measured, sign_agrees, ratio}}, "n_compared", "n_resolved", "n_sign_agree",
    "all_resolved_signs_agree", "only_predicted", "only_measured", "sign_rule", "frame", "notes",
    "units", "sign_convention"}``. ``sign_agrees`` is None where either sign is not resolved;
    ``ratio`` (predicted/measured) is informational: the predicted magnitude scales with the
    assumed interphase width, so no magnitude verdict is given.
    """
    n_species = None
    if isinstance(predicted, FluxResult):
        frame = frame or predicted.frame
        n_species = sum(1 for c in predicted.counts if c > 0) if predicted.counts else len(predicted.species)
        predicted_err = {s: float(e) for s, e in zip(predicted.species, predicted.J_err)} \
            if predicted_err is None else predicted_err
        predicted = predicted.as_dict()
    if not isinstance(predicted, Mapping) or not isinstance(measured, Mapping):
        raise SeilabError("fluxes: predicted and measured must map species to values")
    if not (sigmas > 0):
        raise SeilabError(f"sigmas: must be > 0, got {sigmas}")
    frame = frame or BARYCENTRIC
    table: dict[str, dict] = {}
    for s in [s for s in predicted if s in measured]:
        try:
            p, m = float(predicted[s]), float(measured[s]) * float(measured_scale)
            pe = float(predicted_err[s]) if predicted_err and predicted_err.get(s) is not None else float("nan")
            me = (float(measured_err[s]) * float(measured_scale)
                  if measured_err and measured_err.get(s) is not None else None)
        except (TypeError, ValueError):
            raise SeilabError(f"fluxes: non-numeric value for species '{s}'") from None
        if not (math.isfinite(p) and math.isfinite(m)):
            raise SeilabError(f"fluxes: non-finite value for species '{s}'")
        sp = sign_label(p, pe, sigmas)
        sm = sign_label(m, me, sigmas) if me is not None else ("+" if m > 0 else "-" if m < 0 else "0")
        resolved = sp in "+-" and sm in "+-"
        table[s] = {"predicted": p, "predicted_err": pe if math.isfinite(pe) else None, "measured": m,
                    "measured_err": me, "sign_predicted": sp, "sign_measured": sm,
                    "sign_agrees": (sp == sm) if resolved else None, "ratio": p / m if m != 0 else None}
    resolved = [r for r in table.values() if r["sign_agrees"] is not None]
    notes = []
    if frame.startswith("barycentric") and (n_species == 2 or (n_species is None and len(predicted) == 2)):
        notes.append("binary phase in the barycentric frame: sum_i m_i J_i = 0 forces the two fluxes to opposite "
                     "signs, so the two sign agreements are one; use the host-fixed frame for directions")
    if measured_err is None:
        notes.append("the measured fluxes carry no error bar: their signs are taken as they are")
    return {
        "species": table,
        "n_compared": len(table),
        "n_resolved": len(resolved),
        "n_sign_agree": sum(bool(r["sign_agrees"]) for r in resolved),
        "all_resolved_signs_agree": bool(resolved) and all(r["sign_agrees"] for r in resolved),
        "only_predicted": sorted(s for s in predicted if s not in measured),
        "only_measured": sorted(s for s in measured if s not in predicted),
        "sign_rule": f"a sign is reported only when |J| > {sigmas:g} sigma, else 'not resolved'",
        "frame": frame,
        "notes": notes,
        "units": J_UNIT,
        "sign_convention": "positive toward the metal",
    }
