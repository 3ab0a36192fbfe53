"""Figures 8 and S9 and the correlation plot write non-empty PNGs."""

import numpy as np
import pytest

from seilab.transport.figures import (p_coefficient_table, plot_correlations, plot_fluxes,
                                               plot_p_coefficients)
from seilab.transport.onsager import onsager_coefficients
from seilab.errors import SeilabError


def _results(result_factory):
    out = []
    for T in (900.0, 1200.0):
        out.append(result_factory([[4.0, -1.0, 0.5], [-1.0, 2.0, 0.3], [0.5, 0.3, 3.0]], T=T, label="Li7P3S11"))
        out.append(result_factory([[3.0, -2.0, 0.0], [-2.0, 1.0, 0.0], [0.0, 0.0, 0.0]], counts=(3, 1, 0),
                               T=T, label="Li3P"))
        out.append(result_factory([[5.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 2.0]], counts=(2, 0, 1),
                               T=T, label="Li2S"))
    return out


def test_figure8_and_s9(tmp_path, result_factory):
    res = _results(result_factory)
    fig = plot_fluxes(res, {"Li": 0.2, "P": -0.1, "S": -0.3}, tmp_path / "fig8.png")
    assert (tmp_path / "fig8.png").stat().st_size > 1000
    assert [ax.get_title().split()[0] for ax in fig.axes] == ["Li", "S", "P"]
    fig = plot_p_coefficients(res, tmp_path / "figS9.png")
    assert (tmp_path / "figS9.png").stat().st_size > 1000
    table = p_coefficient_table(res)
    assert table["Li-P"]["Li"] == (2.0, 0.0, 1) and table["Li-P-S"]["P"][0] == 2.0
    assert table["Li-S"] == {}  # no P there
    with pytest.raises(SeilabError, match="temperature_K"):
        plot_p_coefficients(res, temperature_K=300.0)


def test_correlation_plot(tmp_path):
    rng = np.random.default_rng(0)
    pos = np.cumsum(rng.normal(scale=0.05, size=(400, 6, 3)), axis=0)
    r = onsager_coefficients(pos, ["Li"] * 3 + ["S"] * 3, 0.01, 500.0, 900.0, n_blocks=4)
    plot_correlations(r, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
