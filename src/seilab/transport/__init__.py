"""Onsager transport coefficients and interfacial fluxes (paper section 2.7, eqs. 1-2, Fig. 8, S9).

* :mod:`.onsager` — :class:`Onsager` estimator (FFT over all time origins, block/run errors) →
  :class:`OnsagerResult`; L in 1/(eV·Å·ps) (× 6.2415e40 → 1/(J·m·s); × 1.0364e17 → mol/(J·m·s));
* :mod:`.trajectory` — :func:`load_trajectory` from unwrapped extxyz / ASE ``.traj``;
* :mod:`.campaign` — :func:`run_campaign`: amorphous cells, NVT Langevin MD with any ASE
  calculator, resumable, L per phase and temperature;
* :mod:`.fluxes` — :func:`predict_fluxes` (J = -L ∇μ, positive toward the metal) and
  :func:`compare_fluxes` against measured fluxes;
* :mod:`.figures` — Figure 8 (:func:`plot_fluxes`), Figure S9 (:func:`plot_p_coefficients`),
  :func:`plot_correlations`;
* :mod:`.settings` — :class:`TransportSettings` (the ``transport:`` YAML section);
* the ``seilab transport`` command is :mod:`seilab.cli.transport`; the stage function :func:`.stage.run_transport`.

Exports are loaded lazily, so ``from seilab.transport.settings import
TransportSettings`` (the config loader) imports pydantic only, not numpy/ase/matplotlib.
"""

from __future__ import annotations


from seilab._lazy import lazy_getattr

_EXPORTS = {
    "TransportSettings": "settings",
    "Onsager": "onsager",
    "OnsagerResult": "onsager",
    "onsager_coefficients": "onsager",
    "choose_fit_window": "onsager",
    "KB_EV_PER_K": "onsager",
    "L_TO_SI": "onsager",
    "L_TO_MOLAR_SI": "onsager",
    "L_UNIT": "onsager",
    "Trajectory": "trajectory",
    "load_trajectory": "trajectory",
    "unwrap_positions": "trajectory",
    "Phase": "campaign",
    "CampaignEntry": "campaign",
    "build_cell": "campaign",
    "run_campaign": "campaign",
    "FluxResult": "fluxes",
    "predict_fluxes": "fluxes",
    "driving_forces": "fluxes",
    "flux_table": "fluxes",
    "compare_fluxes": "fluxes",
    "J_TO_SI": "fluxes",
    "plot_correlations": "figures",
    "plot_fluxes": "figures",
    "plot_p_coefficients": "figures",
    "p_coefficient_table": "figures",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals(), prefix=f"{__name__}.")


def __dir__():
    return sorted(list(globals()) + __all__)
