"""Crystalline supercells: near the target size, cube-like, clean, written once."""

import numpy as np
import pytest
from sampling_helpers import bundled_atoms, small_settings

from seilab import provenance
from seilab.chemistry.library import bundled_library
from seilab.errors import SeilabError
from seilab.geometry import min_distance
from seilab.sampling.common import best_repeats, cell_heights, make_supercell
from seilab.sampling.crystalline import generate_crystalline


def test_best_repeats_prefers_cubes():
    cell = np.diag([3.0, 3.0, 6.0])
    reps, _ = best_repeats(cell, 2, 100)
    h = cell_heights(cell) * np.array(reps)
    assert h.max() / h.min() < 1.01
    assert 60 <= 2 * np.prod(reps) <= 160


@pytest.mark.parametrize("name", sorted(bundled_library()))
def test_supercells_of_every_bundled_phase(name):
    atoms = bundled_atoms(name)
    sc = make_supercell(atoms, 100)
    assert 60 <= len(sc) <= 160
    h = cell_heights(sc.cell)
    assert h.max() / h.min() < 2.05
    assert min_distance(sc) >= 1.2
    # same composition and density as the unit cell
    assert sc.get_volume() / len(sc) == pytest.approx(atoms.get_volume() / len(atoms), rel=1e-6)
    ratio = {k: v / len(sc) for k, v in sc.symbols.formula.count().items()}
    assert ratio == pytest.approx({k: v / len(atoms) for k, v in atoms.symbols.formula.count().items()})


def test_generate_writes_once_and_refuses_close_contacts(tmp_path):
    s = small_settings(target_atoms=50)
    files = generate_crystalline({"Li2S": bundled_atoms("Li2S")}, s, tmp_path)
    path = files["Li2S"]
    assert provenance.is_valid_artifact(path)
    (frame,) = provenance.read_extxyz(path)
    assert frame.info["kind"] == "crystalline" and frame.info["phase"] == "Li2S"
    mtime = path.stat().st_mtime_ns
    generate_crystalline({"Li2S": bundled_atoms("Li2S")}, s, tmp_path)
    assert path.stat().st_mtime_ns == mtime
    bad = bundled_atoms("Li2S")
    bad.positions[1] = bad.positions[0] + [0.5, 0, 0]
    with pytest.raises(SeilabError, match="phase Bad.*min_distance_A"):
        generate_crystalline({"Bad": bad}, s, tmp_path)
