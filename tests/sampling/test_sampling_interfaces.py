"""Interfaces: CoherentInterfaceBuilder sandwiches with a 1.5 Å gap on both sides."""

import numpy as np
import pytest
from sampling_helpers import bundled_atoms, small_settings

from seilab import provenance
from seilab.geometry import min_distance
from seilab.sampling.interfaces import build_pair, bulk_structure, generate_interfaces


@pytest.fixture(scope="module")
def bulks():
    return bulk_structure(bundled_atoms("Li_bcc")), bulk_structure(bundled_atoms("Li7P3S11"))


def _gaps(atoms):
    """(gap above the electrolyte, gap above the anode) along the interface normal, Å."""
    a, b, c = np.asarray(atoms.cell)
    n = np.cross(a, b)
    n /= np.linalg.norm(n)
    z = atoms.positions @ n
    height = c @ n
    side = atoms.arrays["interface_side"]
    sub, film = z[side == 0], z[side == 1]
    # unwrap: the film sits above the substrate in pymatgen's construction
    return film.min() - sub.max(), sub.min() + height - film.max()


def test_sandwich_geometry(bulks):
    film, substrate = bulks
    s = small_settings()
    frames, counts = build_pair(film, substrate, (1, 1, 0), (1, 0, 1), s)
    assert counts["terminations"] == 1 and counts["kept"] == len(frames) == 1
    for atoms in frames:
        assert s.interface_min_atoms <= len(atoms) <= s.max_atoms
        assert min_distance(atoms) >= s.min_distance_A
        assert set(atoms.get_chemical_symbols()) == {"Li", "P", "S"}
        g1, g2 = _gaps(atoms)
        assert g1 == pytest.approx(1.5, abs=0.02) and g2 == pytest.approx(1.5, abs=0.02)


def test_close_contacts_are_rejected_not_kept(bulks):
    film, substrate = bulks
    s = small_settings(min_distance_A=1.7, interface_min_atoms=50)
    frames, counts = build_pair(film, substrate, (1, 1, 0), (1, 0, 0), s)
    assert counts["rejected_close_contacts"] > 0
    assert all(min_distance(a) >= 1.7 for a in frames)
    assert counts["kept"] + counts["rejected_close_contacts"] + counts["rejected_size"] == counts["tried"]


def test_every_paper_plane_pair_gives_interfaces(tmp_path):
    """Default settings: Li (100),(110) x Li7P3S11 (100),(101),(010), every termination."""
    from seilab.settings.sampling import SamplingSettings

    s = SamplingSettings()
    out = generate_interfaces("Li_bcc", bundled_atoms("Li_bcc"), "Li7P3S11", bundled_atoms("Li7P3S11"), s, tmp_path)
    assert len(out["pairs"]) == 6
    for label, c in out["pairs"].items():
        assert c["kept"] >= 1, label
        assert c["kept"] == c["terminations"] - c["terminations_without_interface"]
    total = 0
    for path in out["files"]:
        assert provenance.is_valid_artifact(path)
        for atoms in provenance.read_extxyz(path):
            total += 1
            assert 100 <= len(atoms) <= 400 and min_distance(atoms) >= 1.2
            assert atoms.info["kind"] == "interface" and "|" in atoms.info["phase"]
    assert total == sum(c["kept"] for c in out["pairs"].values()) >= 6
    summary = provenance.read_json(tmp_path / "interfaces" / "summary.json")
    assert summary["total"] == total
