"""Candidates closer than the reference data ever went are not labelled (learning.min_pair_distance_fraction)."""

import numpy as np
from ase import Atoms

from seilab.geometry import pair_minima
from seilab.learning.select import make_candidates, too_close
from seilab.settings.learning import LearningSettings


def _frame(s_s_distance: float) -> Atoms:
    """A 20-atom Li/S cell whose one S–S pair is ``s_s_distance`` apart, γ 1.5 everywhere (in the window)."""
    rng = np.random.default_rng(0)
    grid = np.array([[i, j, k] for i in range(3) for j in range(3) for k in range(2)], dtype=float) * 4.0 + 1.0
    pos = grid + rng.normal(0, 0.05, grid.shape)
    symbols = ["Li"] * 16 + ["S", "S"]
    atoms = Atoms(symbols, positions=pos, cell=[12.0, 12.0, 8.0], pbc=True)
    atoms.positions[17] = atoms.positions[16] + [s_s_distance, 0, 0]
    atoms.arrays["gamma"] = np.full(len(atoms), 1.5)
    atoms.info.update(batch="bulk", phase="test", run="r", md_step=0)
    return atoms


def test_pair_minima_and_floors():
    minima = pair_minima([_frame(2.0)])
    assert abs(minima["S-S"] - 2.0) < 1e-9
    assert set(minima) == {"Li-S", "S-S"}  # Li–Li pairs are 4 Å apart: beyond the 3 Å search, no floor needed
    assert too_close(_frame(1.3), {"S-S": 1.5}).startswith("S-S 1.30")
    assert too_close(_frame(1.6), {"S-S": 1.5}) is None
    assert too_close(_frame(1.3), {}) is None


def test_a_frame_closer_than_the_floor_is_no_candidate():
    settings = LearningSettings()
    floors = {"S-S": 0.85 * 1.76}  # the demo's shortest S-S in the first-generation data: 1.76 Å
    kept, report = make_candidates([_frame(2.0), _frame(1.23)], settings, 5.0, ["Li", "S"], pair_floors=floors)
    assert len(kept) == 1 and report["whole_close_contact"] == 1
    # without floors only the absolute min_distance_A (1.2 Å) applies: both frames are candidates
    kept, report = make_candidates([_frame(2.0), _frame(1.23)], settings, 5.0, ["Li", "S"])
    assert len(kept) == 2 and report["whole_close_contact"] == 0
