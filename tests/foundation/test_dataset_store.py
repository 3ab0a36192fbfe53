import pandas as pd
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from seilab.errors import SeilabError
from seilab.reference import single_point
from seilab.reference.store import DatasetStore, structure_hash


def _labelled(a=3.6, rattle=0.0, seed=0):
    atoms = bulk("Cu", "fcc", a=a, cubic=True)
    if rattle:
        atoms.rattle(rattle, seed=seed)
    return single_point(atoms, EMT())


def test_add_dedup_and_export(tmp_path):
    store = DatasetStore(tmp_path / "ds", {"name": "emt"})
    h1 = store.add(_labelled(), kind="crystalline", phase="Cu", seconds=0.1)
    assert store.add(_labelled(), kind="crystalline", phase="Cu") == h1  # duplicate: no new file
    store.add(_labelled(rattle=0.05), kind="perturbed", phase="Cu")
    assert len(store) == 2
    assert {r["kind"] for r in store.summary()} == {"crystalline", "perturbed"}
    e0 = {"Cu": -0.5}
    path = store.to_pacemaker(tmp_path / "ds.pckl.gzip", e0)
    df = pd.read_pickle(path, compression="gzip")
    assert set(["ase_atoms", "energy", "forces", "energy_corrected"]) <= set(df.columns)
    row = df.iloc[0]
    assert row["energy_corrected"] == pytest.approx(row["energy"] + 0.5 * len(row["ase_atoms"]))
    assert row["forces"].shape == (len(row["ase_atoms"]), 3)
    # a reopened store reads the same labels back
    again = DatasetStore(tmp_path / "ds")
    assert again.get(h1).atoms.get_potential_energy() == pytest.approx(_labelled().get_potential_energy())


def test_refuses_other_reference(tmp_path):
    DatasetStore(tmp_path / "ds", {"name": "chgnet", "model": "0.3.0"})
    with pytest.raises(SeilabError, match="holds labels from reference"):
        DatasetStore(tmp_path / "ds", {"name": "espresso", "xc": "PBEsol"})


def test_hash_ignores_wrapping_but_not_displacement():
    a = bulk("Cu", cubic=True)
    b = a.copy()
    b.positions[0] += a.cell[0]  # periodic image
    assert structure_hash(a) == structure_hash(b)
    b.positions[0] += [0.01, 0, 0]
    assert structure_hash(a) != structure_hash(b)


def test_unlabelled_structure_refused(tmp_path):
    with pytest.raises(SeilabError, match="energy and forces"):
        DatasetStore(tmp_path / "ds", {"name": "emt"}).add(bulk("Cu"))
