"""Fixtures of the simulation tests: a tiny ACE potential (fitted once, cached), small interfaces, lmp."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ELEMENTS = ("Li", "P", "S")


def cache_dir() -> Path:
    """Where the demo potential is cached between test sessions ($SEILAB_TEST_CACHE or the temp dir)."""
    root = os.environ.get("SEILAB_TEST_CACHE") or os.path.join(tempfile.gettempdir(), "seilab-test-cache")
    return Path(root) / "simulation"


@pytest.fixture(scope="session")
def demo_pot():
    """A ~12-functions-per-element Li/P/S ACE potential (CHGNet labels, pacemaker via seilab.training)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from seilab.md.engine import Potential
    from fixtures.simulation import demo_potential

    pot = demo_potential(cache_dir(), functions_per_element=12, per_phase=5, interfaces=2, maxiter=30)
    return Potential.from_any(pot)


@pytest.fixture(scope="session")
def bulk():
    from seilab.simulation.interface import bulk_phases

    return bulk_phases(None)


@pytest.fixture(scope="session")
def small_interface(bulk):
    """~300-atom Li(100)/Li7P3S11(100) interface."""
    from seilab.simulation.interface import build_interface

    return build_interface(bulk["Li_bcc"], bulk["Li7P3S11"], 300, aspect_ratio=1.0,
                           anode_name="Li_bcc", electrolyte_name="Li7P3S11")


@pytest.fixture(scope="session")
def lmp():
    from seilab.md.lammps import find_lmp

    path = find_lmp()
    if path is None:
        pytest.skip("LAMMPS with ML-PACE not built (run `bash scripts/build_lammps.sh`, or set SEILAB_LMP)")
    return path
