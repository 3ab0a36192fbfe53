"""seilab.geometry: the one neighbour list, shortest distances and g(r) histogram, against known answers."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list

from seilab.geometry import min_distance, neighbour_list, pair_minima, radial_distribution


def test_fcc_rdf_first_shell_at_a_over_sqrt2_with_12_neighbours():
    a = 3.6
    cu = bulk("Cu", "fcc", a=a, cubic=True)       # 4 atoms: r_max > L/2, every image counts
    d = neighbour_list("d", cu, 4.0)
    n, rho, dr = len(cu), len(cu) / cu.get_volume(), 0.01
    r, g = radial_distribution(d, n, rho, 4.0, dr)
    assert r[np.argmax(g)] == pytest.approx(a / np.sqrt(2), abs=dr)
    first = r < 0.5 * (a / np.sqrt(2) + a)      # between the first (2.55 Å) and second (3.6 Å) shells
    cn = np.sum(4 * np.pi * r[first] ** 2 * g[first] * rho * dr)
    assert cn == pytest.approx(12.0, rel=0.02)


def test_neighbour_list_matches_ase_on_a_triclinic_cell():
    atoms = bulk("NaCl", "rocksalt", a=5.64).repeat((2, 2, 2))   # primitive fcc: triclinic cell
    atoms.rattle(0.1, seed=3)
    ours = neighbour_list("ijd", atoms, 5.0)
    ref = neighbor_list("ijd", atoms, 5.0)
    key = lambda i, j, d: sorted(zip(i.tolist(), j.tolist(), np.round(d, 9).tolist()))
    assert key(*ours) == key(*ref)


def test_min_distance_and_pair_minima():
    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])   # no cell: ase's path
    assert min_distance(water) == pytest.approx(0.96, abs=1e-9)
    assert min_distance(Atoms("H")) == float("inf")
    li = bulk("Li", "bcc", a=3.49, cubic=True)
    assert min_distance(li) == pytest.approx(3.49 * np.sqrt(3) / 2)
    assert min_distance(li, cutoff=2.0) == float("inf")
    nacl = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    minima = pair_minima([nacl, li], cutoff=4.0)
    assert list(minima) == ["Cl-Cl", "Cl-Na", "Li-Li", "Na-Na"]
    assert minima["Cl-Na"] == pytest.approx(2.82) and minima["Na-Na"] == pytest.approx(5.64 / np.sqrt(2))
    assert minima["Li-Li"] == pytest.approx(3.49 * np.sqrt(3) / 2)
