"""The chemistry stage for real: bundled phases relaxed with CHGNet, Li-rich products, cache on rerun."""

import json

import pytest

from seilab.chemistry import load_reaction, load_relaxed_phases
from seilab.chemistry.stage import run_chemistry
from seilab.config import load_config

CAMPAIGN = """
name: small
output: out
reactants: {anode: Li_bcc, electrolyte: Li7P3S11}
phases: [{name: Li_bcc}, {name: P_black}, {name: S_alpha}, {name: Li2S}, {name: Li3P}, {name: Li7P3S11}]
chemistry: {relax_max_steps: 60, relax_fmax_eV_per_A: 0.1}
"""


@pytest.mark.slow
def test_li_li7p3s11_products_and_cache(write_config):
    campaign = load_config(write_config(CAMPAIGN))
    messages = []
    result = run_chemistry(campaign, progress=messages.append)
    li_rich = [k for k in result["kinks"] if 0 < k["x_anode"] < 1][-1]
    assert set(li_rich["products"]) == {"Li2S", "Li3P"}
    assert li_rich["reaction_energy_eV_per_atom"] < -0.3
    assert {"Li2S", "Li3P"} <= set(result["products"])
    assert result["chemical_potential_distance"]["delta_mu_eV"]["Li"] > 0
    assert (campaign.stage_dir("chemistry") / "phase_diagram.png").is_file()
    phases = load_relaxed_phases(campaign)
    assert set(phases) == {p.name for p in campaign.phases}
    assert phases["Li2S"].info["origin"] == "bundled"
    assert load_reaction(campaign)["provenance"]["stage"] == "chemistry"
    side = json.loads((campaign.stage_dir("chemistry") / "phases" / "Li2S.extxyz.json").read_text())
    assert side["settings"]["reference"]["name"] == "chgnet"

    # rerun: every phase comes from the cache, nothing is relaxed again
    mtimes = {p: (campaign.stage_dir("chemistry") / "phases" / f"{p}.extxyz").stat().st_mtime_ns for p in phases}
    messages.clear()
    run_chemistry(campaign, progress=messages.append)
    assert all(m.endswith(": cached") for m in messages)
    assert mtimes == {p: (campaign.stage_dir("chemistry") / "phases" / f"{p}.extxyz").stat().st_mtime_ns
                      for p in phases}
