"""The acceptance gate on a real (tiny) fitted ACE potential: which generation the production stages may
use, their refusal with a one-line error naming the failed checks and the report, the opt-in, and the
report's marks. Lives here because this folder has the fitted-campaign fixture."""

import json

import pytest

from seilab.config import load_config
from seilab.errors import SeilabError

import helpers


def _with(campaign, section, **kw):
    return campaign.model_copy(update={section: getattr(campaign, section).model_copy(update=kw)})


def test_production_stages_refuse_a_potential_that_failed_validation(campaign_copy):
    from seilab.simulation.stage import run_simulation
    from seilab.validation.gate import gated_potential, verdict
    from seilab.validation.stage import run_validation

    campaign = load_config(campaign_copy)
    with pytest.raises(SeilabError, match=r"^simulation: no potential passed validation; best gen000 has no "
                                          r"validation report"):
        run_simulation(campaign)
    strict = _with(campaign, "validation", max_test_energy_rmse_meV_per_atom=1e-3)
    report = run_validation(strict)
    assert report["passed"] is False and report["gate"] is None
    gate = json.loads((campaign.stage_dir("validation") / "gate.json").read_text())
    assert gate["accepted"] is None and gate["generations"][0]["status"] == "failed"
    with pytest.raises(SeilabError, match=r"^simulation: no potential passed validation; best gen000 failed \d+ "
                                          r"checks: test_energy_rmse.* \(see .*validation/gen000/report\.json\).*"
                                          r"--allow-unvalidated"):
        run_simulation(strict)
    assert not (campaign.stage_dir("simulation") / "latest.json").exists()   # refused before any work
    pot, rec = gated_potential(_with(strict, "gate", allow_unvalidated=True), "simulation")
    assert pot.generation == "gen000" and rec["validated"] is False and "test_energy_rmse" in rec["failed_checks"]

    # a report that ran only part of validation.checks accepts nothing
    partial = _with(campaign, "validation", checks=["metrics", "dimers"])
    assert verdict(partial, pot)["status"] == "incomplete"

    # a passing report accepts the potential; it is handed on with its report
    lenient = _with(campaign, "validation", max_test_energy_rmse_meV_per_atom=1e6, max_test_force_rmse_meV_per_A=1e6,
                    max_test_energy_rmse_crystalline_meV_per_atom=1e6)
    assert run_validation(lenient)["passed"] is True
    pot, rec = gated_potential(lenient, "simulation")
    assert rec == {"validated": True, "generation": "gen000", "report": str(campaign.stage_dir("validation")
                                                                            / "gen000" / "report.json")}
    # an advisory check is reported and drawn but does not decide the gate
    advisory = _with(lenient, "validation", max_test_energy_rmse_meV_per_atom=1e-3, advisory_checks=["test_energy_rmse"])
    report = run_validation(advisory)
    assert report["passed"] is True and report["summary"]["advisory_failed"] == ["test_energy_rmse"]
    assert [c["advisory"] for c in report["checks"] if c["name"] == "test_energy_rmse"] == [True]
    assert gated_potential(advisory, "simulation")[1]["validated"] is True
    # the gate rules a report by the campaign's current advisory list: gating on that check refuses it again
    assert verdict(lenient, pot)["status"] == "failed"
    assert verdict(lenient, pot)["failed_checks"] == ["test_energy_rmse"]
    # the report belongs to that exact potential file: change the file and the verdict is gone
    with open(pot.yaml, "a") as fh:
        fh.write("\n# edited\n")
    assert verdict(lenient, pot)["status"] == "not_validated"


def test_best_accepted_generation_is_handed_on_not_the_last():
    from seilab.validation.gate import _best, score
    from seilab.settings.validation import GateSettings, ValidationSettings

    class C:  # only the thresholds are read
        validation = ValidationSettings()
        gate = GateSettings(newer_within_fraction=0.0)

    v = lambda e, f: {"fixed_test": {"energy_rmse_meV_per_atom": e, "force_rmse_meV_per_A": f}}  # noqa: E731
    items = [("gen000", v(20, 140)), ("gen001", v(10, 100)), ("gen002", v(24, 149))]
    assert _best(C, items)[0] == "gen001"
    assert score(C, v(25, 150)) == pytest.approx(2.0) and score(C, {"fixed_test": None}) == float("inf")
    assert _best(C, [("gen000", v(10, 100)), ("gen001", v(10, 100))])[0] == "gen001"   # ties: the newer
    # none passed: the generation failing the fewest checks is the best (the demo's gen001 failed 8 checks
    # and scored 0.0001 better than gen002, which failed 5)
    failed = lambda e, f, n: {**v(e, f), "failed_checks": [f"c{i}" for i in range(n)]}  # noqa: E731
    assert _best(C, [("gen001", failed(17.3, 128.5, 8)), ("gen002", failed(17.5, 128.2, 5))])[0] == "gen002"


def test_a_newer_generation_within_noise_of_the_best_is_handed_on():
    from seilab.validation.gate import _best
    from seilab.settings.validation import GateSettings, ValidationSettings

    class C:
        validation = ValidationSettings()
        gate = GateSettings()  # newer_within_fraction 0.10

    v = lambda e, f: {"fixed_test": {"energy_rmse_meV_per_atom": e, "force_rmse_meV_per_A": f}}  # noqa: E731
    # the demo's gen003 (19.6, 128.3) and a harvest generation 4 % worse on the fixed set: the newer one
    items = [("gen002", v(22, 140)), ("gen003", v(19.6, 128.3)), ("gen004", v(20.4, 133.4))]
    assert _best(C, items)[0] == "gen004"
    # 15 % worse is beyond noise: the best stays
    assert _best(C, items[:2] + [("gen004", v(22.5, 147.5))])[0] == "gen003"
    # an older generation within the fraction never displaces a newer best
    assert _best(C, [("gen001", v(19.0, 125.0)), ("gen002", v(19.6, 128.3))])[0] == "gen002"
    assert _best(C, [("gen001", v(15.0, 100.0)), ("gen002", v(19.6, 128.3))])[0] == "gen001"
    # fewer failed checks still come first
    failed = lambda e, f, n: {**v(e, f), "failed_checks": [f"c{i}" for i in range(n)]}  # noqa: E731
    assert _best(C, [("gen001", failed(20, 130, 1)), ("gen002", failed(20, 129, 2))])[0] == "gen001"


def test_a_refit_worse_on_the_fixed_test_set_has_regressed():
    from seilab.settings.learning import LearningSettings
    from seilab.learning.stage import _converged, regressed

    s = LearningSettings(max_fixed_test_regression=0.1, loss_threshold=None, require_validation_pass=False,
                         min_generations=1)
    fit = lambda e, f: {"fixed_test": {"base": {"energy_rmse_meV_per_atom": 20, "force_rmse_meV_per_A": 150},  # noqa: E731
                                       "new": {"energy_rmse_meV_per_atom": e, "force_rmse_meV_per_A": f}}}
    assert regressed(s, fit(21, 160)) is False          # within 10 %: noise
    assert regressed(s, fit(23, 140)) is True           # energy 15 % worse
    assert regressed(s, fit(15, 170)) is True           # forces 13 % worse
    assert regressed(s, {"fixed_test": None}) is None
    assert _converged(s, 1, fit(21, 160), None)[0] is True
    ok, crit = _converged(s, 1, fit(23, 140), None)
    assert ok is False and crit["no_regression"] is False


def test_report_marks_every_section_computed_on_an_unvalidated_potential(campaign_copy):
    from seilab.provenance import write_json
    from seilab.report import build_report

    campaign = load_config(campaign_copy)
    write_json(campaign.stage_dir("transport") / "fluxes.json",
               {"phases": [], "potential_gate": {"validated": False, "generation": "gen000"}})
    write_json(campaign.stage_dir("simulation") / "latest.json", {"status": "halted", "steps_done": 800})
    report = campaign.stage_dir("validation") / "gen000" / "report.json"
    write_json(report, {"summary": {"advisory_failed": ["dimer_rmse:P-P"]}, "results": {}})
    write_json(campaign.stage_dir("validation") / "gate.json",
               {"accepted": None, "best": {"generation": "gen000", "failed_checks": ["eos_v0:Li_bcc"],
                                           "report": str(report)},
                "generations": [{"generation": "gen000", "failed_checks": ["eos_v0:Li_bcc"], "score": 3.0}]})
    out = build_report(campaign)
    page = open(out["html"]).read()
    assert page.index('id="verdict"') < page.index('id="chemistry"')
    assert "none passed validation" in page and "eos_v0:Li_bcc" in page
    verdict_panel = page[page.index('id="verdict"'):page.index('id="chemistry"')]
    assert "advisory checks not met (reported, not gating)</th><td>dimer_rmse:P-P" in verdict_panel
    assert f"halted at step 800 of {campaign.simulation.steps}</span> (the γ watch" in verdict_panel
    transport = page[page.index('id="transport"'):]
    assert transport.index("UNVALIDATED") < 300
    assert "UNVALIDATED" not in page[page.index('id="chemistry"'):page.index('id="transport"')]
    assert json.loads(open(out["summary"]).read())["unvalidated_stages"] == ["transport"]


def test_the_training_stage_after_learning_is_still_the_first_fit(campaign_copy):
    """Rerunning the campaign's training stage (e.g. after --force labelling or an upgrade) fits
    generation 0 on the first-generation dataset: active-learning labels in the store change nothing
    and no new generation appears."""
    from seilab.reference.labelling import label_structures, store_for
    from seilab.training.stage import generations
    from seilab.workflows.stages import get_stage

    campaign = load_config(campaign_copy)
    store = store_for(campaign)
    a = helpers.li_bcc().repeat((2, 2, 2))
    a.rattle(0.05, seed=3)
    a.info = {"kind": "active_learning", "phase": "Li_bcc"}
    n = len(store)
    label_structures([a], store, helpers.lj_calculator, workers=1, progress=False)
    assert len(store_for(campaign)) == n + 1
    summary = get_stage("training").run(campaign).summary()
    assert summary["generation"] == "gen000"
    assert [g.name for _, g in generations(campaign)] == ["gen000"]
