"""The one potential type and the simulation stage's hand-off reader."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from seilab.errors import SeilabError
from seilab.layout import Layout


def test_training_and_md_share_one_potential_type(tmp_path):
    from seilab.md.engine import Potential as MDPotential
    from seilab.training.backend import Potential

    assert Potential is MDPotential
    for suffix in (".yaml", ".yace", ".asi"):
        (tmp_path / f"pot{suffix}").write_text("x")
    trained = Potential(yaml=tmp_path / "pot.yaml", yace=tmp_path / "pot.yace", asi=tmp_path / "pot.asi",
                        generation="gen002", elements=("Li", "S"), reference_energies={"Li": -1.9})
    same = Potential.from_any(trained)
    assert same is trained and same.generation == "gen002"  # nothing the fit knows is dropped
    assert Potential.from_any(tmp_path / "pot.yace").files() == {k: str(tmp_path / f"pot.{k}")
                                                                 for k in ("yaml", "yace", "asi")}
    assert set(trained.hashes()) == {"yaml", "yace", "asi"}
    assert Potential.from_dict(json.loads(json.dumps(trained.as_dict()))) == trained
    with pytest.raises(SeilabError, match="potential: yace file not found"):
        Potential.from_any(Potential(yaml=tmp_path / "pot.yaml", yace=tmp_path / "gone.yace"))


def test_the_production_trajectory_hand_off(tmp_path):
    from seilab.simulation.stage import production_trajectory

    campaign = SimpleNamespace(layout=Layout(tmp_path))
    with pytest.raises(SeilabError, match=r"simulation/latest.json: missing; run the simulation stage first"):
        production_trajectory(campaign)
    latest = Layout(tmp_path).simulation_latest
    latest.parent.mkdir(parents=True)
    latest.write_text(json.dumps({"status": "halted"}))
    with pytest.raises(SeilabError, match="names no trajectory"):
        production_trajectory(campaign)
    latest.write_text(json.dumps({"dump": str(tmp_path / "d.lammpstrj"), "potential_gate": {"validated": True}}))
    info = production_trajectory(campaign)
    assert Path(info["trajectory"]).name == "d.lammpstrj" and info["potential_gate"]["validated"] is True
