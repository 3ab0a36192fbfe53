"""Training settings, pacemaker input, split and metrics: fast, no fit."""

import numpy as np
import pytest
from pydantic import ValidationError

from seilab.training.data import split_names
from seilab.training.metrics import error_metrics
from seilab.training.pacemaker import PacemakerBackend
from seilab.settings.training import TrainingSettings


def test_defaults_follow_the_paper():
    s = TrainingSettings()
    assert s.cutoff_A == 6.0
    assert s.functions_per_element == 350
    assert s.embedding == "FinnisSinclairShiftedScaled"
    assert s.ndensity == 2 and s.fs_parameters == [1.0, 1.0, 1.0, 0.5]
    assert s.kappa_stages == [0.99, 0.90]
    assert s.ladder is True
    assert s.test_fraction == 0.1


@pytest.mark.parametrize("bad", [
    {"maxiter": [10, 20, 30]},                 # one per stage or one for all
    {"fs_parameters": [1, 1, 1]},              # 2 x ndensity
    {"kappa_stages": [1.2]},
    {"kappa_stages": ["sometimes"]},
    {"energy_weight_by_kind": {"crystalline": -1}},
    {"ladder_step": [2.5]},
    {"cutoff_A": 0.5},
    {"unknown_key": 1},
])
def test_bad_settings_are_rejected(bad):
    with pytest.raises(ValidationError):
        TrainingSettings(**bad)


def test_config_section_round_trip(tmp_path):
    from fixtures.training import demo_campaign

    c = demo_campaign(tmp_path, training={"functions_per_element": 20, "maxiter": [30]})
    assert c.training.stage_maxiter(0) == 30 and c.training.stage_maxiter(1) == 30


def _data(tmp_path):
    from seilab.training.backend import TrainingData

    return TrainingData(train=tmp_path / "train.pckl.gzip", test=None, elements=("Li", "P", "S"),
                        reference_energies={"Li": -0.5, "P": -1.9, "S": -1.3})


def test_pacemaker_input_for_each_stage(tmp_path):
    s = TrainingSettings(functions_per_element=30, maxiter=[100, 50], ladder_step=[5, 0.2])
    b = PacemakerBackend()
    data = _data(tmp_path)
    first = b.input_config(s, data, 0, None)
    pot = first["potential"]
    assert pot["elements"] == ["Li", "P", "S"]
    assert pot["bonds"]["ALL"]["rcut"] == 6.0
    assert pot["embeddings"]["ALL"] == {"npot": "FinnisSinclairShiftedScaled", "fs_parameters": [1.0, 1.0, 1.0, 0.5],
                                        "ndensity": 2}
    assert pot["functions"]["number_of_functions_per_element"] == 30
    assert first["fit"]["loss"]["kappa"] == 0.99 and first["fit"]["maxiter"] == 100
    assert first["fit"]["ladder_step"] == [5, 0.2] and first["fit"]["repulsion"] == "auto"
    assert first["data"]["reference_energy"] == {"Li": -0.5, "P": -1.9, "S": -1.3}
    assert "test_size" not in first["data"]  # the split is ours, fixed and recorded
    start = tmp_path / "stage1.yaml"
    second = b.input_config(s, data, 1, start, 90, 90)
    assert second["potential"] == str(start)          # refit of the previous stage
    assert second["fit"]["loss"]["kappa"] == 0.90 and "ladder_step" not in second["fit"]
    resumed = b.input_config(s, data, 0, start, 40, 90)  # ladder goes on from a smaller basis
    assert resumed["potential"]["initial_potential"] == str(start) and "ladder_step" in resumed["fit"]
    full = b.input_config(s, data, 0, start, 90, 90)     # basis already complete: refit it
    assert full["potential"] == str(start) and "ladder_step" not in full["fit"]


def test_kappa_auto_goes_to_pacemaker(tmp_path):
    s = TrainingSettings(kappa_stages=[0.99, "auto"], maxiter=[10])
    b = PacemakerBackend()
    assert b.input_config(s, _data(tmp_path), 1, tmp_path / "s.yaml", 9, 9)["fit"]["loss"]["kappa"] == "auto"
    assert b.input_config(s, _data(tmp_path), 0, None)["fit"]["loss"]["kappa"] == 0.99


def test_kind_weights_scale_energy_and_force_weights_per_kind(tmp_path):
    import pandas as pd
    from ase.build import bulk

    from seilab.training.data import kind_weights, write_split

    atoms = [bulk("Li", cubic=True), bulk("Li", cubic=True).repeat((2, 1, 1)), bulk("Li", cubic=True)]
    df = pd.DataFrame({"name": ["a", "b", "c"], "ase_atoms": atoms, "kind": ["crystalline", "hot_md", "interface"],
                       "energy": [-1.0, -2.0, -1.1], "forces": [np.zeros((len(a), 3)) for a in atoms]})
    assert kind_weights(df, {}, {}) is df and "w_energy" not in df    # no factors: pacemaker's uniform default
    w = kind_weights(df, {"crystalline": 10.0}, {"interface": 0.0})
    assert list(w["w_energy"]) == pytest.approx([10 / 3, 1 / 3, 1 / 3])
    assert [list(x) for x in w["w_forces"]] == [[1 / 3] * 2, [1 / 3] * 4, [0.0] * 2]
    train, _, _ = write_split(df, tmp_path, 0.0, 0, {"crystalline": 10.0})
    stored = pd.read_pickle(train, compression="gzip")
    assert stored.set_index("name")["w_energy"].to_dict() == pytest.approx({"a": 10 / 3, "b": 1 / 3, "c": 1 / 3})


def test_split_is_fixed_and_stable_as_data_grow():
    names = [f"{i:032x}" for i in range(200)]
    train, test = split_names(names, 0.1, seed=42)
    assert set(train).isdisjoint(test) and len(train) + len(test) == 200
    assert 8 <= len(test) <= 35
    assert split_names(names, 0.1, seed=42) == (train, test)
    more = names + [f"{i:032x}" for i in range(1000, 1100)]
    train2, test2 = split_names(more, 0.1, seed=42)
    assert set(test) <= set(test2) and set(train) <= set(train2)   # nobody changes sides
    assert split_names(names[:3], 0.1, seed=1)[1]                  # tiny sets still get a test structure
    assert split_names(names, 0.0, seed=1)[1] == []


def test_error_metrics_by_kind_and_element():
    pred = {"e_ref": np.array([0.0, 0.0, 0.0]), "e_pred": np.array([0.01, -0.01, 0.04]),
            "f_ref": [np.zeros((2, 3)), np.zeros((1, 3)), np.zeros((1, 3))],
            "f_pred": [np.full((2, 3), 0.1), np.full((1, 3), -0.2), np.zeros((1, 3))],
            "kind": ["crystalline", "crystalline", "amorphous"], "symbols": [["Li", "S"], ["P"], ["Li"]],
            "n_atoms": [2, 1, 1]}
    m = error_metrics(pred)
    assert m["energy_meV_per_atom"]["rmse"] == pytest.approx(1000 * np.sqrt((1e-4 + 1e-4 + 16e-4) / 3))
    assert m["energy_meV_per_atom"]["mae"] == pytest.approx(20.0)
    assert m["by_kind"]["amorphous"]["energy_meV_per_atom"]["mae"] == pytest.approx(40.0)
    assert m["by_kind"]["crystalline"]["n_structures"] == 2
    assert m["force_by_element"]["P"]["force_meV_per_A"]["rmse"] == pytest.approx(200.0)
    assert m["force_by_element"]["Li"]["force_meV_per_A"]["mae"] == pytest.approx(50.0)
    assert m["force_meV_per_A"]["max"] == pytest.approx(200.0)


def test_non_finite_predictions_give_infinite_errors():
    pred = {"e_ref": np.array([0.0]), "e_pred": np.array([np.nan]), "f_ref": [np.zeros((1, 3))],
            "f_pred": [np.full((1, 3), np.nan)], "kind": ["x"], "symbols": [["Li"]], "n_atoms": [1]}
    m = error_metrics(pred)
    assert m["energy_meV_per_atom"]["rmse"] == float("inf")


def test_latest_potential_needs_a_finished_generation(tmp_path):
    import json

    from seilab.errors import SeilabError
    from seilab.provenance import sha256_file
    from seilab.training.stage import latest_potential
    from fixtures.training import demo_campaign

    c = demo_campaign(tmp_path)
    with pytest.raises(SeilabError, match="no finished potential"):
        latest_potential(c)
    for gen in ("gen000", "gen001", "gen002"):
        d = c.stage_dir("training") / gen
        d.mkdir(parents=True)
        (d / "potential.yaml").write_text(f"# {gen}\n")
        (d / "metrics.json").write_text("{}")
        if gen != "gen002":  # gen002 is unfinished (no done.json)
            done = {"files": {"potential.yaml": sha256_file(d / "potential.yaml")},
                    "potential": {"yaml": "potential.yaml", "yace": None, "asi": None, "elements": ["Li"]}}
            (d / "done.json").write_text(json.dumps(done))
    pot = latest_potential(c)
    assert pot.generation == "gen001" and pot.yaml.name == "potential.yaml"
    (c.stage_dir("training") / "gen001" / "potential.yaml").write_text("tampered\n")
    assert latest_potential(c).generation == "gen000"


def test_checkpoints_newest_first_and_clean_copy(tmp_path):
    import os

    from pyace.multispecies_basisextension import construct_bbasisconfiguration

    from seilab.training.pacemaker import _clean_copy, _count_functions, interims

    s = TrainingSettings(functions_per_element=6)
    conf = construct_bbasisconfiguration(PacemakerBackend.potential_section(s, ["Li", "S"]))
    conf.metadata["_fit_cycles"] = "1"           # a finished-cycle mark would stop a refit
    good = tmp_path / "interim_potential_ladder_step_0.yaml"
    conf.save(str(good))
    bad = tmp_path / "interim_potential_0.yaml"
    bad.write_text("potential: [cut short by a kill")
    os.utime(good, (1, 1))
    assert [p.name for p in interims(tmp_path)] == [bad.name, good.name]
    with pytest.raises(Exception):
        _clean_copy(bad, tmp_path / "resume_1.yaml")
    out = _clean_copy(good, tmp_path / "resume_1.yaml")
    assert "_fit_cycles" not in out.read_text()
    n, elements, rcut = _count_functions(out)
    assert n == conf.total_number_of_functions and set(elements) == {"Li", "S"} and rcut == 6.0


def test_run_tool_reports_failures_and_timeouts(tmp_path):
    import sys

    from seilab.errors import SeilabError
    from seilab.training.pacemaker import run_tool

    log = tmp_path / "tool.log"
    with pytest.raises(SeilabError, match=r"exit 3\): ValueError: boom"):
        run_tool([sys.executable, "-c", "import sys; print('ValueError: boom'); sys.exit(3)"], cwd=tmp_path, log=log,
                 what="fake pacemaker")
    with pytest.raises(SeilabError, match="training.timeout_s.*resume"):
        run_tool([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path, log=log, timeout_s=1)
    assert "ValueError: boom" in log.read_text()
