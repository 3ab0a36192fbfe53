"""Linear ACE by weighted least squares (training.backend: linear-ace) on the tiny CHGNet-labelled store."""

import json

import numpy as np
import pandas as pd
import pytest

LINEAR = dict(backend="linear-ace", functions_per_element=30, threads=1)


@pytest.fixture(scope="module")
def linear_fit(shared_base):
    from seilab.training.stage import run_training
    from fixtures.training import shared_campaign

    campaign = shared_campaign(shared_base, "linear", LINEAR)
    return campaign, run_training(campaign)


def test_linear_fit_writes_a_potential_that_predicts_what_the_solve_reported(linear_fit):
    campaign, result = linear_fit
    gdir = result.directory
    for name in ("potential.yaml", "potential.yace", "potential.asi", "metrics.json", "linear/result.json"):
        assert (gdir / name).is_file(), name
    solve = json.loads((gdir / "linear" / "result.json").read_text())
    # metrics.json comes from the saved potential through its ASE calculator, result.json from the solve
    assert result.metrics["train"]["energy_meV_per_atom"]["rmse"] == pytest.approx(
        solve["train_energy_rmse_meV_per_atom"], abs=0.05)
    assert result.metrics["train"]["force_meV_per_A"]["rmse"] == pytest.approx(
        solve["train_force_rmse_meV_per_A"], rel=1e-3)
    assert result.metrics["train"]["energy_meV_per_atom"]["rmse"] < 20
    assert "FinnisSinclairShiftedScaled" in (gdir / "potential.yaml").read_text()
    from seilab.training.linear import LinearACEBackend

    assert solve["functions"] == LinearACEBackend().target_size(campaign.training, campaign.elements)
    assert set(solve["inner_cutoff_A"]) >= {"Li-Li", "P-S", "S-S"}


def test_linear_potential_has_a_zbl_wall_below_the_data(linear_fit):
    from ase import Atoms

    from seilab.training.backends import get_backend

    campaign, result = linear_fit
    r_in = json.loads((result.directory / "linear" / "result.json").read_text())["inner_cutoff_A"]["S-S"]
    calc = get_backend("linear-ace").calculator(result.potential)

    def energy(r):
        a = Atoms("S2", positions=[[0, 0, 0], [0, 0, r]], cell=[20, 20, 20], pbc=True)
        a.calc = calc
        return a.get_potential_energy()

    close = [energy(r) for r in (0.5 * r_in, 0.7 * r_in, 0.9 * r_in)]
    assert close[0] > close[1] > close[2] and close[0] > 10.0  # a repulsive wall, not an unfitted polynomial


def test_rerun_skips_the_finished_linear_fit(linear_fit):
    from seilab.training.stage import run_training

    campaign, first = linear_fit
    again = run_training(campaign)
    assert again.skipped and again.generation == first.generation


def test_energy_weight_trades_force_error_for_energy_error(shared_base, tmp_path):
    """Same data, two energy weights: the heavier one fits energies better and forces no better."""
    from seilab.training.data import write_split
    from seilab.training.backend import TrainingData
    from seilab.training.linear import LinearACEBackend
    from seilab.settings.training import TrainingSettings
    from seilab.training.stage import load_dataframe
    from fixtures.training import shared_campaign

    campaign = shared_campaign(shared_base, "linear", LINEAR)
    df, e0 = load_dataframe(campaign)
    train, test, _ = write_split(df, tmp_path / "data", 0.1, 42)
    data = TrainingData(train=train, test=test, elements=tuple(campaign.elements), reference_energies=e0)
    errors = {}
    for w in (1.0, 1e4):
        settings = TrainingSettings(**{**LINEAR, "linear_energy_weight": w, "activeset": False})
        LinearACEBackend().fit(data, tmp_path / f"w{w:g}", settings)
        errors[w] = json.loads((tmp_path / f"w{w:g}" / "linear" / "result.json").read_text())
    assert errors[1e4]["train_energy_rmse_meV_per_atom"] < 0.5 * errors[1.0]["train_energy_rmse_meV_per_atom"]
    assert errors[1e4]["train_force_rmse_meV_per_A"] >= errors[1.0]["train_force_rmse_meV_per_A"] - 1e-6


def test_row_weights_follow_kinds_and_the_datasets_force_weights():
    from ase import Atoms

    from seilab.training.linear import row_weights

    a2, a3 = Atoms("Li2"), Atoms("Li3")
    df = pd.DataFrame({"ase_atoms": [a2, a3], "kind": ["crystalline", "hot_md"]})
    w = row_weights(df, 100.0, {"crystalline": 10.0}, {"hot_md": 0.5})
    assert list(w[:2]) == [1000.0, 100.0]                       # per-atom energy rows
    assert list(w[2:]) == [1.0] * 6 + [0.5] * 9                 # x, y, z of every atom
    df["w_forces"] = [np.array([1.0, 0.0]), np.array([1.0, 1.0, 1.0])]  # a boundary atom without force weight
    df["w_energy"] = [0.5, 0.5]
    w = row_weights(df, 100.0, {}, {})
    assert list(w[:2]) == [100.0, 100.0]
    assert list(w[2 + 3:2 + 6]) == [0.0, 0.0, 0.0] and w[2] == pytest.approx(1.25)


def test_unknown_backend_is_a_one_line_error():
    from seilab.errors import SeilabError
    from seilab.training.backends import get_backend

    with pytest.raises(SeilabError, match="known: pacemaker, linear-ace"):
        get_backend("nequip")
