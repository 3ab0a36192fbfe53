"""Subcell atoms at the cut get zero force weight, and the weight travels store → training pickle → metrics."""

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from ase.calculators.calculator import Calculator, all_changes

from seilab.learning.subcells import cut_subcells


def _subcell(boundary):
    frame = bulk("Li", "bcc", a=3.44, cubic=True).repeat((8, 8, 8))
    frame.rattle(0.05, seed=0)
    gamma = np.zeros(len(frame))
    gamma[100] = 1.5
    cells, _ = cut_subcells(frame, gamma, cutoff=5.0, n_atoms=100, vacuum=0.5, max_subcells=1, boundary=boundary)
    return cells[0]


def test_atoms_within_the_boundary_of_a_face_get_zero_force_weight():
    sc = _subcell(2.0)
    sub = sc.atoms
    w = sub.arrays["force_weight"]
    edge = sub.cell.lengths()
    to_face = np.minimum(sub.positions, edge - sub.positions).min(axis=1)
    assert set(np.unique(w)) == {0.0, 1.0}
    assert np.all(w[to_face < 2.5] == 0) and np.all(w[to_face >= 2.5] == 1)
    assert w[sc.centre_local] == 1.0
    assert 0 < w.sum() < len(sub)
    assert "force_weight" not in _subcell(0.0).atoms.arrays  # 0: every atom counts, nothing written


def test_force_weight_goes_from_the_store_to_the_pickle_and_the_metrics(tmp_path):
    from seilab.reference.store import DatasetStore
    from seilab.training.data import kind_weights
    from seilab.training.metrics import error_metrics, predict

    store = DatasetStore(tmp_path / "store")
    a = Atoms("Li3", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0]], cell=[8, 8, 8], pbc=True)
    forces = np.array([[0.1, 0, 0], [5.0, 0, 0], [0, 0.2, 0]])
    a.calc = SinglePointCalculator(a, energy=-3.0, forces=forces)
    b = Atoms("Li2", positions=[[0, 0, 0], [2.6, 0, 0]], cell=[8, 8, 8], pbc=True)
    b.calc = SinglePointCalculator(b, energy=-2.0, forces=np.zeros((2, 3)))
    store.add(a, kind="active_learning", extra={"force_weight": [1.0, 0.0, 1.0]})
    store.add(b, kind="crystalline")
    df = store.to_dataframe({"Li": 0.0}).sort_values("n_atoms").reset_index(drop=True)
    assert [list(w) for w in df["force_weight"]] == [[1.0, 1.0], [1.0, 0.0, 1.0]]
    weighted = kind_weights(df, {}, {})
    assert list(weighted["w_forces"][1]) == [0.5, 0.0, 0.5]  # 1/N_structures x the atom's weight

    class ZeroCalc(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.results = {"energy": 0.0, "forces": np.zeros((len(atoms), 3))}

    m = error_metrics(predict(ZeroCalc(), df))
    # the 5 eV/Å force of the cut atom does not count: the largest error is 0.2 eV/Å
    assert abs(m["force_meV_per_A"]["max"] - 200.0) < 1e-6
    assert m["force_meV_per_A"]["n"] == (2 + 2) * 3
    plain = error_metrics(predict(ZeroCalc(), df.drop(columns="force_weight")))
    assert abs(plain["force_meV_per_A"]["max"] - 5000.0) < 1e-6


def _lj():
    from ase.calculators.lj import LennardJones

    return LennardJones(sigma=2.0, epsilon=0.01, rc=5.0)


def test_labelling_keeps_a_subcells_force_weights(tmp_path):
    from seilab.reference.labelling import label_structures
    from seilab.reference.store import DatasetStore

    sub = _subcell(2.0).atoms
    sub.info.update(kind="active_learning", phase="Li_bcc", source="test")
    store = DatasetStore(tmp_path / "store")
    label_structures([sub], store, _lj, progress=False)
    (label,) = list(store)
    assert label.meta["force_weight"] == [float(w) for w in sub.arrays["force_weight"]]
