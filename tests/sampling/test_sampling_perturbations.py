"""Perturbed copies: rattles and strains of the right size, close contacts dropped."""

import numpy as np
import pytest
from sampling_helpers import bundled_atoms, small_settings

from seilab import provenance
from seilab.geometry import min_distance
from seilab.sampling.common import make_supercell
from seilab.sampling.crystalline import generate_crystalline
from seilab.sampling.perturbations import generate_perturbations, perturb_bulk


def test_perturbations_have_the_asked_size():
    s = small_settings(rattle_copies=3, rattle_sigma_A=0.05, strain_volume_fractions=[-0.08, 0.04],
                       anisotropic_strain_copies=2, anisotropic_strain_max=0.03)
    base = make_supercell(bundled_atoms("Li2S"), 96)
    frames = perturb_bulk(base, "Li2S", s)
    kinds = [f.info["perturbation"] for f in frames]
    assert kinds == ["rattle"] * 3 + ["isotropic"] * 2 + ["anisotropic"] * 2
    for f in frames[:3]:
        d = f.positions - base.positions
        d -= np.round(d @ np.linalg.inv(base.cell)) @ base.cell  # undo wrapping
        assert np.std(d) == pytest.approx(0.05, rel=0.15)
        assert np.allclose(f.cell, base.cell)
    assert frames[3].get_volume() / base.get_volume() == pytest.approx(0.92)
    assert frames[4].get_volume() / base.get_volume() == pytest.approx(1.04)
    for f in frames[5:]:
        strain = np.linalg.solve(base.cell.array, f.cell.array) - np.eye(3)
        assert np.allclose(strain, strain.T, atol=1e-9)
        assert 0 < np.abs(strain).max() <= 0.03 + 1e-12
    assert all(f.info["kind"] == "perturbed" and f.info["phase"] == "Li2S" for f in frames)


def test_close_contacts_are_dropped(tmp_path):
    s = small_settings(rattle_copies=4, rattle_sigma_A=0.4, min_distance_A=1.9, strain_volume_fractions=[-0.3])
    xtal = generate_crystalline({"Li2S": bundled_atoms("Li2S")}, s, tmp_path)
    out = generate_perturbations(xtal, [], s, tmp_path)
    kept, rejected = out["counts"]["Li2S"]
    assert rejected >= 1
    if kept:
        assert all(min_distance(a) >= 1.9 for a in provenance.read_extxyz(out["files"][0]))
