"""Stage glue: which phases the transport stage runs, and the measured interface flux it compares with."""

import json
import textwrap

import pytest

from seilab.config import load_config
from seilab.workflows.runners import measured_interface_flux, transport_phases

REACTION = {
    "kinks": [
        {"x_anode": 0.0, "products": ["Li7P3S11"]},
        {"x_anode": 0.125, "products": ["Li4P2S6", "Li2S"]},
        {"x_anode": 0.533, "products": ["Li3P", "Li2S"]},
        {"x_anode": 1.0, "products": ["Li_bcc"]},
    ],
    "stable_phases": ["Li_bcc", "Li2S", "Li3P", "S_alpha"],
}


@pytest.fixture
def campaign(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(textwrap.dedent("""
        name: t
        output: out
        reactants: {anode: Li_bcc, electrolyte: Li7P3S11}
        phases: [{name: Li_bcc}, {name: Li7P3S11}, {name: Li2S}, {name: Li3P}, {name: Li4P2S6}, {name: S_alpha}]
    """))
    return load_config(p)


def test_tie_line_phases_are_reactants_and_interior_products(campaign):
    assert transport_phases(campaign, REACTION) == ["Li_bcc", "Li4P2S6", "Li2S", "Li3P", "Li7P3S11"]
    stable = campaign.model_copy(update={"transport": campaign.transport.model_copy(update={"phases": "stable"})})
    assert transport_phases(stable, REACTION) == REACTION["stable_phases"]


def test_measured_flux_rate_from_analysis(campaign):
    assert measured_interface_flux(campaign) is None  # no analysis yet
    folder = campaign.stage_dir("analysis")
    folder.mkdir(parents=True)
    (folder / "analysis.json").write_text(json.dumps({"flux": {  # the layout IonicFlux.to_dict writes
        "species": ["Li", "S"], "times_ps": [0.0, 1.0, 2.0],
        "net_per_area_per_nm2": {"Li": [0, -1.0, -4.0], "S": [0, 0.5, 2.0]}}}))
    rate = measured_interface_flux(campaign)
    assert rate["Li"] == pytest.approx(-4.0 / 100 / 2.0)  # nm^-2 -> Å^-2, over 2 ps
    assert rate["S"] == pytest.approx(2.0 / 100 / 2.0)
