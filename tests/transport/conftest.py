"""Synthetic trajectories with known transport for the transport tests."""

import numpy as np
import pytest

from seilab.transport.onsager import OnsagerResult


def _random_walkers(seed=0, n_frames=20000, counts=(("Li", 12), ("S", 8)), D=0.1, dt=0.01, box=17.0):
    """Independent Gaussian random walkers: per-atom diffusion coefficient D (Å²/ps)."""
    rng = np.random.default_rng(seed)
    species = [s for s, c in counts for _ in range(c)]
    steps = rng.normal(scale=np.sqrt(2 * D * dt), size=(n_frames, len(species), 3))
    steps[0] = 0.0
    pos = np.cumsum(steps, axis=0) + rng.uniform(0, box, size=(len(species), 3))
    return pos, species


def _correlated_walkers(seed=0, n_frames=4000, counts=(("Li", 6), ("P", 6), ("S", 3)), D=0.1, dt=0.01):
    """Every atom makes the same Gaussian step: all species move together."""
    rng = np.random.default_rng(seed)
    species = [s for s, c in counts for _ in range(c)]
    common = np.cumsum(rng.normal(scale=np.sqrt(2 * D * dt), size=(n_frames, 1, 3)), axis=0)
    pos = common + rng.uniform(0, 15, size=(1, len(species), 3))
    return pos, species


def _ou_walkers(seed=0, n_frames=20000, n_atoms=20, tau_frames=10.0, sigma_v=1.0, dt=0.01):
    """Walkers with Ornstein-Uhlenbeck velocities: ballistic below ~tau, diffusive above.

    Returns positions, species and the exact long-time D (Å²/ps) of the discrete process.
    """
    rng = np.random.default_rng(seed)
    a = np.exp(-1.0 / tau_frames)
    v = np.empty((n_frames, n_atoms, 3))
    v[0] = rng.normal(scale=sigma_v, size=(n_atoms, 3))
    noise = rng.normal(scale=sigma_v * np.sqrt(1 - a * a), size=(n_frames, n_atoms, 3))
    for k in range(1, n_frames):  # test-data generation only
        v[k] = a * v[k - 1] + noise[k]
    pos = np.cumsum(v * dt, axis=0)
    D = sigma_v ** 2 * dt * (1 + a) / (2 * (1 - a))
    return pos, ["Li"] * n_atoms, D


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
