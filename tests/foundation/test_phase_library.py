"""Bundled phases rebuild with the right formula and no close contacts; sources in order."""

import pytest
from pymatgen.core import Composition

from seilab.chemistry.library import bundled_library, build_bundled, check_structure, find_structure
from seilab.config import ChemistrySettings, PhaseSpec
from seilab.errors import SeilabError
from seilab.geometry import min_distance

EXPECTED_ATOMS = {"Li_bcc": 2, "Li7P3S11": 42, "Li2S": 12, "Li3P": 8, "Li4P2S6": 12, "P_black": 8, "S_alpha": 128,
                  # DFT-relaxed coordinates (shared/data/phases.yaml): Li-P phases and ordered beta-Li3PS4
                  "LiP": 16, "Li3P7": 40, "LiP7": 128, "Li3PS4_beta": 32}


@pytest.mark.parametrize("name", sorted(EXPECTED_ATOMS))
def test_bundled_phase_builds(name):
    entry = bundled_library()[name]
    s = build_bundled(name)
    assert len(s) == EXPECTED_ATOMS[name]
    assert s.composition.reduced_composition.almost_equals(Composition(entry["formula"]).reduced_composition)
    assert min_distance(s) > 1.9
    assert s.get_space_group_info(symprec=1e-2)[1] == entry["spacegroup_number"]


def test_check_structure_rejects_wrong_formula_and_close_contacts():
    s = build_bundled("Li2S")
    with pytest.raises(SeilabError, match="expected Li3P"):
        check_structure("x", s, "Li3P", 1.5)
    squeezed = s.copy()
    squeezed.scale_lattice(s.volume * 0.2)
    with pytest.raises(SeilabError, match="Å apart"):
        check_structure("x", squeezed, "Li2S", 1.5)


def test_user_cif_wins_over_bundled(tmp_path):
    s = build_bundled("Li2S")
    s.scale_lattice(s.volume * 1.1)
    s.to(filename=str(tmp_path / "Li2S.cif"))
    found = find_structure(PhaseSpec(name="Li2S"), ChemistrySettings(cif_dir=tmp_path))
    assert found.origin == "cif"
    assert found.structure.volume == pytest.approx(s.volume, rel=1e-3)
    assert find_structure(PhaseSpec(name="Li2S"), ChemistrySettings()).origin == "bundled"


def test_unknown_phase_without_sources_is_none():
    # gamma-Li3PS4: nobody has published coordinates (only an approximant), so it is predicted
    assert find_structure(PhaseSpec(name="Li3PS4_gamma", formula="Li3PS4", spacegroup=31), ChemistrySettings()) is None
