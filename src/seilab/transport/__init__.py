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

The settings are :mod:`seilab.settings.transport` (re-exported here).
"""

from seilab.settings.transport import TransportSettings
from seilab.transport.campaign import build_cell, CampaignEntry, Phase, run_campaign
from seilab.transport.figures import p_coefficient_table, plot_correlations, plot_fluxes, plot_p_coefficients
from seilab.transport.fluxes import compare_fluxes, driving_forces, flux_table, FluxResult, J_TO_SI, predict_fluxes
from seilab.transport.onsager import (
    choose_fit_window, KB_EV_PER_K, L_TO_MOLAR_SI, L_TO_SI, L_UNIT, Onsager, onsager_coefficients,
    OnsagerResult,
)
from seilab.transport.trajectory import load_trajectory, Trajectory, unwrap_positions

__all__ = [
    'CampaignEntry', 'FluxResult', 'J_TO_SI', 'KB_EV_PER_K', 'L_TO_MOLAR_SI', 'L_TO_SI', 'L_UNIT', 'Onsager',
    'OnsagerResult', 'Phase', 'Trajectory', 'TransportSettings', 'build_cell', 'choose_fit_window',
    'compare_fluxes', 'driving_forces', 'flux_table', 'load_trajectory', 'onsager_coefficients',
    'p_coefficient_table', 'plot_correlations', 'plot_fluxes', 'plot_p_coefficients', 'predict_fluxes',
    'run_campaign', 'unwrap_positions',
]
