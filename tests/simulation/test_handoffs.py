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


def test_the_sampled_interface_is_found_through_the_sampling_manifest(tmp_path):
    """The simulation stage finds the sampling stage's interface through its manifest (the hand-off), not by
    rebuilding sampling's folder names: a file listed under another name is found, a modified one is not."""
    import numpy as np
    from ase.build import bulk

    from seilab import provenance
    from seilab.sampling.interfaces import pair_name
    from seilab.simulation.interface import sampling_seed

    campaign = SimpleNamespace(layout=Layout(tmp_path), stage_dir=Layout(tmp_path).stage,
                               reactants=SimpleNamespace(anode="Li_bcc", electrolyte="Li2S"))
    li, li2s = bulk("Li", "bcc", a=3.44, cubic=True), bulk("Li2S", "fluorite", a=5.7)
    li.info["energy_per_atom"], li2s.info["energy_per_atom"] = -1.9, -3.0
    frame = li.repeat((1, 1, 2)) + li.repeat((1, 1, 2))
    frame.arrays["interface_side"] = np.array([1] * 4 + [0] * 4)
    frame.info["energy"] = -20.0
    name = pair_name("Li_bcc", (1, 0, 0), "Li2S", (1, 0, 0))
    path = tmp_path / "sampling" / "somewhere" / f"{name}.extxyz"
    provenance.write_extxyz(path, [frame], provenance.record("sampling"))
    manifest = Layout(tmp_path).sampling_manifest
    provenance.write_json(manifest, {"files": [{"kind": "interface", "path": f"somewhere/{name}.extxyz"}]},
                          provenance.record("sampling"))
    seed = sampling_seed(campaign, (1, 0, 0), (1, 0, 0), bulk={"Li_bcc": li, "Li2S": li2s})
    assert seed is not None and seed.info["seed_file"] == str(path)
    assert sampling_seed(campaign, (1, 1, 0), (1, 0, 0), bulk={"Li_bcc": li, "Li2S": li2s}) is None  # no such pair
    path.write_text(path.read_text().replace("-20.0", "-21.0"))  # modified since sampling: not a hand-off any more
    assert sampling_seed(campaign, (1, 0, 0), (1, 0, 0), bulk={"Li_bcc": li, "Li2S": li2s}) is None
