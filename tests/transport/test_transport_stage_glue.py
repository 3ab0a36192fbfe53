"""The transport stage (seilab.transport.stage): which phases it runs, the measured interface flux it compares with, the width, the comparison, the runs folder."""

import json

import numpy as np
import pytest

from fixtures.campaigns import minimal_campaign
from seilab.transport.stage import measured_interface_flux, transport_phases

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
    return minimal_campaign(tmp_path, phases=["Li2S", "Li3P", "Li4P2S6", "S_alpha"])


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


# ---- issue 15 item 2: predicted vs measured flux, like with like ----------------------------------

def _flux(T, J, J_err, species=("Li", "S"), counts=(12, 8)):
    from seilab.transport.fluxes import FluxResult

    return FluxResult(species=species, J=np.array(J, dtype=float), J_err=np.array(J_err, dtype=float),
                      grad_mu={"Li": 0.2, "S": -0.4}, temperature_K=T, counts=counts)


def test_width_is_the_measured_thickness_with_its_source(campaign):
    from seilab.transport.stage import interface_width

    w = interface_width(campaign)  # no analysis yet: the setting, said so
    assert w["value_A"] == campaign.transport.interface_width_A and w["source"].startswith("setting")
    folder = campaign.stage_dir("analysis")
    folder.mkdir(parents=True)
    (folder / "analysis.json").write_text(json.dumps({"summary": {"final_thickness_A": 4.25}}))
    w = interface_width(campaign)
    assert w["value_A"] == 4.25 and "measured" in w["source"] and "final_thickness_A" in w["source"]
    (folder / "analysis.json").write_text(json.dumps({"summary": {"final_thickness_A": 0.0}}))
    assert interface_width(campaign)["source"].startswith("setting")


def test_fluxes_at_another_temperature_are_not_compared():
    from seilab.transport.stage import compare_with_interface

    c = compare_with_interface([("Li2S", _flux(900.0, [-1e-3, 2e-4], [1e-4, 2e-5])),
                                ("Li2S", _flux(1200.0, [-2e-3, 4e-4], [1e-4, 2e-5]))],
                               {"Li": -1e-4, "S": 2e-5}, 300.0)
    assert c["status"] == "not comparable" and "900" in c["why"] and "1200" in c["why"] and "300 K" in c["why"]
    assert "phases" not in c


def test_same_temperature_compares_resolved_signs_per_phase():
    from seilab.transport.stage import compare_with_interface

    c = compare_with_interface([("Li2S", _flux(300.0, [-1e-3, 2e-4], [1e-4, 2e-4])),
                                ("Li2S", _flux(900.0, [-1e-3, 2e-4], [1e-4, 2e-5]))],
                               {"Li": -1e-4, "S": 2e-5}, 300.0)
    assert c["status"] == "compared" and list(c["phases"]) == ["Li2S"]
    sp = c["phases"]["Li2S"]["species"]
    assert sp["Li"]["sign_predicted"] == "-" and sp["Li"]["sign_agrees"] is True
    assert sp["S"]["sign_predicted"] == "not resolved" and sp["S"]["sign_agrees"] is None  # |J| = 1 sigma
    assert c["phases"]["Li2S"]["frame"].startswith("barycentric")
    assert any("opposite signs" in n for n in c["phases"]["Li2S"]["notes"])  # a binary: forced by the frame
    assert not any("magnitude" in k for k in c["phases"]["Li2S"])


def test_flux_row_signs_and_host_frame():
    from seilab.transport.onsager import onsager_coefficients
    from seilab.transport.fluxes import predict_fluxes
    from seilab.transport.stage import flux_row

    rng = np.random.default_rng(0)
    sp = ["Li"] * 6 + ["P"] * 2 + ["S"] * 4
    pos = np.cumsum(rng.normal(scale=0.045, size=(2000, len(sp), 3)), axis=0)
    r = onsager_coefficients(pos, sp, 0.01, 3000.0, 600.0, n_blocks=10, fit_window=(0.01, 0.2))
    f = predict_fluxes(r, {"Li": 0.2, "P": -0.2, "S": -0.4})
    row = flux_row("x", 600.0, "LiPS", f, r)
    for s in ("Li", "P", "S"):
        expect = "not resolved" if abs(row["J"][s]) <= 2 * row["J_err"][s] else ("+" if row["J"][s] > 0 else "-")
        assert row["sign"][s] == expect
    assert row["frame"].startswith("barycentric") and row["host_frame"].startswith("host-fixed (S")
    assert row["J_host"]["S"] == 0.0 and row["sign_host"]["S"] == "not resolved"
    assert row["J_host"]["Li"] == pytest.approx(row["J"]["Li"] - 6 / 4 * row["J"]["S"])
    assert row["onsager_status"] == "computed" and row["not_diffusive"] == []


def test_transport_runs_are_keyed_by_the_potential_and_the_md_protocol(tmp_path):
    """A changed thermostat (MD-defining) gets a new runs folder; a longer run (md.steps) reuses the folder."""
    from types import SimpleNamespace

    from seilab.settings.transport import TransportSettings
    from seilab.transport.stage import run_tag

    yaml = tmp_path / "gen003" / "potential.yaml"
    yaml.parent.mkdir()
    yaml.write_text("elements: [Li]\n")
    pot = SimpleNamespace(generation="gen003", directory=yaml.parent, yaml=yaml)
    base = TransportSettings()
    tag = run_tag(pot, base)
    assert tag.startswith("gen003-")
    md = base.md
    assert run_tag(pot, base.model_copy(update={"md": md.model_copy(update={"steps": 2 * md.steps})})) == tag
    assert run_tag(pot, base.model_copy(update={"md": md.model_copy(update={"thermostat": "langevin"})})) != tag
    assert run_tag(pot, base.model_copy(update={"npt_steps": 10})) != tag
    yaml.write_text("elements: [Li, S]\n")  # another potential
    assert run_tag(pot, base) != tag
