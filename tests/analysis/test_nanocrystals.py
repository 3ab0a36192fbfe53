"""fcc-like S sublattice classification (Li2S nanocrystals) and domain sizes, both backends."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from seilab.analysis.nanocrystals import Nanocrystals, freud_available
from seilab.analysis.trajectory import frame_from_atoms

from analysis_structures import li2s, to_frame

BACKENDS = ["numpy"] + (["freud"] if freud_available() else [])


@pytest.mark.parametrize("backend", BACKENDS)
def test_li2s_crystal_is_one_fcc_domain(backend):
    fr = to_frame(li2s(), (4, 4, 4))
    res = Nanocrystals(backend=backend).compute(fr)
    assert res.n_sublattice == 256
    np.testing.assert_allclose(res.q6bar, 0.5745, atol=1e-3)  # ideal fcc Q6
    np.testing.assert_allclose(res.q4bar, 0.1909, atol=1e-3)  # ideal fcc Q4
    assert res.crystalline.all()
    assert res.domain_sizes.tolist() == [256]


@pytest.mark.parametrize("backend", BACKENDS)
def test_hcp_and_bcc_sublattices_are_not_fcc_like(backend):
    rng = np.random.default_rng(1)
    for a in (
        bulk("S", "hcp", a=4.03, c=4.03 * 1.633, orthorhombic=True).repeat((5, 3, 3)),
        bulk("S", "bcc", a=4.03 * 2 / 3**0.5, cubic=True).repeat(6),
    ):
        a.positions += rng.normal(0, 0.15, a.positions.shape)
        assert Nanocrystals(backend=backend).compute(frame_from_atoms(a)).n_crystalline == 0


def _sphere_in_amorphous(radius=12.0, seed=0):
    a = bulk("S", "fcc", a=5.70, cubic=True).repeat(8)  # 45.6 Å box, 2048 S
    rng = np.random.default_rng(seed)
    c = a.cell.array.sum(axis=0) / 2
    a.positions += rng.normal(0, 0.1, a.positions.shape)
    out = np.linalg.norm(a.positions - c, axis=1) > radius
    # amorphous matrix of the same density: random sequential addition outside the sphere with a
    # 2.5 Å minimum distance (packing fraction ~0.18, far below RSA jamming), in vectorised batches
    from scipy.spatial import cKDTree

    box = np.diag(a.cell.array)
    need = int(out.sum())
    pts = a.positions[~out]
    n_fixed = pts.shape[0]
    while pts.shape[0] < n_fixed + need:
        cand = rng.random((4000, 3)) * box
        cand = cand[np.linalg.norm(cand - c, axis=1) > radius + 0.5]
        d, _ = cKDTree(pts, boxsize=box).query(cand)
        cand = cand[d > 2.5]
        # drop candidates too close to each other (keep the first of each close pair)
        pairs = cKDTree(cand, boxsize=box).query_pairs(2.5, output_type="ndarray")
        bad = np.zeros(cand.shape[0], bool)
        bad[pairs[:, 1]] = True
        pts = np.vstack([pts, cand[~bad][: n_fixed + need - pts.shape[0]]])
    pts = pts[n_fixed:]
    a.positions[out] = np.array(pts)
    return frame_from_atoms(a), (~out).sum()


@pytest.fixture(scope="module")
def sphere():
    return _sphere_in_amorphous()


@pytest.mark.parametrize("backend", BACKENDS)
def test_crystalline_sphere_in_amorphous_matrix(backend, sphere):
    fr, n_inside = sphere
    res = Nanocrystals(backend=backend).compute(fr)
    assert res.domain_sizes.size == 1
    size = res.domain_sizes[0]
    assert 0.5 * n_inside < size <= n_inside + 5  # core crystalline, rough surface shell lost
    # equivalent-sphere radius from Rg matches the radius of a sphere holding `size` fcc S atoms
    r_count = (3 * size / (4 * np.pi * 4 / 5.70**3)) ** (1 / 3)
    assert res.domain_radius_A[0] == pytest.approx(r_count, rel=0.08)
    assert 9.0 < res.domain_radius_A[0] < 13.0
    assert res.n_crystalline - size < 10  # (almost) nothing crystalline outside


@pytest.mark.skipif(not freud_available(), reason="freud-analysis not installed")
def test_freud_and_numpy_backends_agree(sphere):
    fr, _ = sphere
    a = Nanocrystals(backend="numpy").compute(fr)
    b = Nanocrystals(backend="freud").compute(fr)
    np.testing.assert_allclose(a.q6bar, b.q6bar, atol=1e-5)
    np.testing.assert_allclose(a.q4bar, b.q4bar, atol=1e-5)
    np.testing.assert_array_equal(a.solid_bonds, b.solid_bonds)
    np.testing.assert_array_equal(a.crystalline, b.crystalline)
    np.testing.assert_allclose(a.domain_radius_A, b.domain_radius_A, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rotated_triclinic_description_gives_same_answer(backend):
    """Rotate cell and atoms by an arbitrary rotation (cell no longer lower-triangular)."""
    from scipy.spatial.transform import Rotation

    from seilab.analysis.trajectory import Frame

    fr = to_frame(li2s(), (3, 3, 3))
    rng = np.random.default_rng(5)
    fr.positions = fr.positions + rng.normal(0, 0.12, fr.positions.shape)
    R = Rotation.from_euler("zyx", [23, -41, 67], degrees=True).as_matrix()
    rot = Frame(0, 0.0, fr.cell @ R.T, fr.origin @ R.T, fr.pbc, fr.ids, fr.symbols, fr.positions @ R.T, None)
    assert not rot.is_orthorhombic
    a = Nanocrystals(backend=backend).compute(fr)
    b = Nanocrystals(backend=backend).compute(rot)
    np.testing.assert_allclose(a.q6bar, b.q6bar, atol=1e-4)
    np.testing.assert_array_equal(a.crystalline, b.crystalline)
    np.testing.assert_allclose(a.domain_radius_A, b.domain_radius_A, rtol=1e-4)
