"""PyXtal candidates keep formula and space group; prediction with the reference picks the lowest."""

import pytest
from pymatgen.core import Composition
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from seilab.geometry import min_distance
from seilab.chemistry.predict import generate_candidates, predict_phase
from seilab.config import ChemistrySettings
from seilab.errors import SeilabError


def test_candidates_have_formula_symmetry_and_distance():
    cands = generate_candidates("LiP", 14, 8, n=3, seed=1, max_atoms=32, min_distance_A=1.5)
    assert len(cands) == 3
    seeds = {c["seed"] for c in cands}
    assert len(seeds) == 3
    for c in cands:
        s = c["structure"]
        assert s.composition.reduced_composition == Composition("LiP")
        assert len(s) == 16
        assert SpacegroupAnalyzer(s, symprec=1e-3).get_space_group_number() == 14
        assert min_distance(s) >= 1.5


def test_candidates_are_reproducible():
    a = generate_candidates("Li3P7", 19, 4, n=1, seed=3, max_atoms=64, min_distance_A=1.5)[0]["structure"]
    b = generate_candidates("Li3P7", 19, 4, n=1, seed=3, max_atoms=64, min_distance_A=1.5)[0]["structure"]
    assert a == b


@pytest.mark.slow
def test_predict_picks_lowest_energy(chgnet):
    settings = ChemistrySettings(predict_candidates=2, predict_prescreen_steps=5)
    found = predict_phase("LiP", "LiP", 14, 8, chgnet, settings)
    assert found.origin == "predicted"
    energies = found.source["candidate_energies_eV_per_atom"]
    assert len(energies) == 2 and energies == sorted(energies)
    assert found.structure.composition.reduced_formula == "LiP"


def test_prediction_needs_a_spacegroup():
    with pytest.raises(SeilabError, match="give its spacegroup"):
        predict_phase("LiP", "LiP", None, None, None, ChemistrySettings())
