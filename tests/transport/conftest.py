"""Synthetic trajectories with known transport for the transport tests."""

import numpy as np
import pytest

from fixtures.walkers import correlated_walkers as _correlated_walkers
from fixtures.walkers import ou_walkers as _ou_walkers
from fixtures.walkers import random_walkers as _random_walkers

from seilab.transport.onsager import OnsagerResult


@pytest.fixture
def random_walkers():
    return _random_walkers


@pytest.fixture
def correlated_walkers():
    return _correlated_walkers


@pytest.fixture
def ou_walkers():
    return _ou_walkers


def make_result(L, species=("Li", "P", "S"), counts=(7, 3, 11), T=900.0, L_err=None, label="x", L_samples=None):
    L = np.asarray(L, dtype=float)
    n = len(species)
    return OnsagerResult(
        species=tuple(species), counts=tuple(counts), L=L,
        L_err=np.zeros_like(L) if L_err is None else np.asarray(L_err, dtype=float),
        L_self=np.diag(L).copy(), L_self_err=np.zeros(n), L_distinct=np.zeros(n),
        L_distinct_err=np.zeros(n), fit_window_ps=(1.0, 5.0), window_source="user", temperature_K=T,
        volume_A3=1000.0, timestep_ps=0.01, n_frames=100, n_runs=1, n_blocks=5, error_method="blocks",
        lags_ps=np.arange(10) * 0.01, msd=np.zeros((10, n, n)), msd_self=np.zeros((10, n)),
        L_samples=np.zeros((0, n, n)) if L_samples is None else np.asarray(L_samples, dtype=float), label=label)


@pytest.fixture
def result_factory():
    """Build an OnsagerResult with a given L (no trajectory needed)."""
    return make_result
