"""The campaign's transport stage on a real (tiny) fitted ACE potential: runs per potential, fluxes, and
what happens when the MD blows up. Lives here because this folder has the fitted-campaign fixture."""

import json
import shutil

import pytest

from seilab.config import load_config
from seilab.errors import SeilabError
from seilab.provenance import record, write_extxyz, write_json
from seilab.validation.gate import allowing_unvalidated

import helpers


def _with_chemistry(cfg, **transport):
    """The campaign with the chemistry stage's files written from the test phases (the transport stage's
    inputs: relaxed phases, the reactants' chemical potentials) and tiny transport settings."""
    campaign = load_config(cfg)
    chem = campaign.stage_dir("chemistry")
    for name, atoms in (("Li_bcc", helpers.li_bcc()), ("Li2S", helpers.li2s())):
        write_extxyz(chem / "phases" / f"{name}.extxyz", [atoms], record("test-phases"))
    write_json(chem / "reaction.json", {
        "kinks": [{"x_anode": 0.0, "products": ["Li2S"]}, {"x_anode": 1.0, "products": ["Li_bcc"]}],
        "stable_phases": ["Li_bcc", "Li2S"],
        "chemical_potential_distance": {"mu_anode_eV": {"Li": 0.0, "S": -4.0},
                                        "mu_electrolyte_eV": {"Li": -2.0, "S": -1.0}}})
    # the crystals as they are (melt_steps 0, no NpT, no amorphisation check): this tests the stage, not the protocol
    from seilab.settings.transport import TransportMD

    md = {"temperatures_K": [900.0], "steps": 40, "sample_every": 2, "equilibration_steps": 0}
    md.update({k: transport.pop(k) for k in list(transport) if k in TransportMD.model_fields})
    settings = dict(phases="all", npt_steps=0,
                    amorphous_max_order=None,
                    target_atoms=16, melt_steps=0, n_blocks=2, flush_every=10)
    settings.update(transport)
    # model_copy (not validated, on purpose): the blow-up test below asks for a 40 fs step
    settings["md"] = campaign.transport.md.model_copy(update=md)
    return campaign.model_copy(update={"transport": campaign.transport.model_copy(update=settings)})


def test_transport_stage_runs_per_potential_and_fails_only_when_every_phase_blew_up(campaign_copy):
    from seilab.workflows.stages import get_stage

    def transport(campaign):
        return get_stage("transport").run(campaign).summary()

    campaign = _with_chemistry(campaign_copy)
    # the tiny fit has no validation report: the gate refuses it, naming what is missing
    with pytest.raises(SeilabError, match=r"^transport: no potential passed validation; best gen000 has no "
                                          r"validation report .*--allow-unvalidated"):
        transport(campaign)
    assert not (campaign.stage_dir("transport") / "runs").exists()
    campaign = allowing_unvalidated(campaign)
    summary = transport(campaign)
    assert summary["runs"] == 2 and summary["failed"] == [] and summary["validated"] is False
    out = campaign.stage_dir("transport")
    (runs,) = (out / "runs").iterdir()
    assert runs.name.startswith("gen000-") and (runs / "Li_bcc" / "T0900K" / "onsager.json").is_file()
    fluxes = json.loads((out / "fluxes.json").read_text())
    assert {r["phase"] for r in fluxes["phases"]} == {"Li_bcc", "Li2S"} and fluxes["failed"] == []
    assert fluxes["runs"] == str(runs) and (out / "fig8_fluxes.png").is_file()
    assert json.loads((out / "transport_summary.json").read_text())["entries"][0]["status"] == "computed"

    # a 40 fs step at 5000 K throws atoms across the cell: every phase blows up -> the stage fails,
    # naming the potential and where the failures are recorded; each phase has its failed.json
    assert fluxes["potential_gate"]["validated"] is False and fluxes["potential_gate"]["generation"] == "gen000"
    hot = _with_chemistry(campaign_copy, timestep_fs=40.0, temperatures_K=[5000.0], steps=200)
    hot = allowing_unvalidated(hot)
    shutil.rmtree(out / "runs")
    with pytest.raises(SeilabError, match=r"every phase's MD blew up .*failed\.json"):
        transport(hot)
    assert sorted(p.parent.parent.name for p in (out / "runs").rglob("failed.json")) == ["Li2S", "Li_bcc"]
