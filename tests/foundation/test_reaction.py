"""Phase diagram logic on given energies (no reference): kinks, hull, μ distance, figure."""

import pytest

from seilab.chemistry.reaction import (chempot_distance, convex_hull_distance, hull_table, interface_kinks,
                                       make_entries, phase_diagram, plot_phase_diagram)
from seilab.errors import SeilabError

# Materials-Project-like energies per atom (eV/atom) for a Li-P-S toy diagram.
PER_ATOM = {"Li": ("Li", -1.909), "P": ("P", -5.413), "S": ("S", -4.136), "Li2S": ("Li2S", -4.155),
            "Li3P": ("Li3P", -3.10), "Li7P3S11": ("Li7P3S11", -4.50)}


def _entries():
    from pymatgen.core import Composition

    return make_entries({k: (f, e * Composition(f).num_atoms) for k, (f, e) in PER_ATOM.items()})


def test_li_rich_end_gives_li2s_and_li3p(tmp_path):
    entries = _entries()
    pd = phase_diagram(entries)
    kinks = interface_kinks(pd, "Li", "Li7P3S11")
    xs = [k["x_anode"] for k in kinks]
    assert xs == sorted(xs) and xs[0] == pytest.approx(0, abs=1e-9) and xs[-1] == pytest.approx(1)
    li_rich = [k for k in kinks if 0 < k["x_anode"] < 1][-1]
    assert set(li_rich["products"]) == {"Li2S", "Li3P"}
    # Li7P3S11 + 24 Li -> 11 Li2S + 3 Li3P: the Li-rich kink sits at 24 Li per 45 atoms of mixture
    assert li_rich["x_anode"] == pytest.approx(24 / 45, abs=1e-6)
    assert all(k["reaction_energy_eV_per_atom"] <= 1e-9 for k in kinks)
    plot_phase_diagram(pd, kinks, "Li", "Li7P3S11", tmp_path / "pd.png")
    assert (tmp_path / "pd.png").stat().st_size > 10_000


def test_hull_table_formation_energy():
    pd = phase_diagram(_entries())
    rows = {r["phase"]: r for r in hull_table(pd)}
    assert rows["Li2S"]["formation_energy_eV_per_atom"] == pytest.approx(-4.155 - (2 * -1.909 - 4.136) / 3)
    assert rows["Li"]["stable"] and rows["Li2S"]["stable"]


def test_chempot_distance_signs():
    entries = _entries()
    pd = phase_diagram(entries)
    cp = chempot_distance(pd, entries, "Li", "Li7P3S11")
    d = cp["delta_mu_eV"]
    assert d["Li"] > 0 and d["S"] < 0  # Li is richer in Li and poorer in S than the electrolyte
    assert cp["mu_anode_eV"]["Li"] == pytest.approx(0.0, abs=1e-6)
    assert cp["distance_eV"] == pytest.approx(sum(v * v for v in d.values()) ** 0.5)


def test_convex_hull_distance_of_two_segments():
    import numpy as np

    a = np.array([[0.0, 0.0], [0.0, 1.0]])
    b = np.array([[2.0, 0.5], [3.0, 0.5]])
    pa, pb = convex_hull_distance(a, b)
    assert np.allclose(pa, [0, 0.5], atol=1e-5) and np.allclose(pb, [2, 0.5], atol=1e-5)


def test_missing_elemental_phase():
    from pymatgen.core import Composition

    entries = make_entries({k: (f, e * Composition(f).num_atoms) for k, (f, e) in PER_ATOM.items() if k != "P"})
    with pytest.raises(SeilabError, match="elemental phase for P"):
        phase_diagram(entries)
