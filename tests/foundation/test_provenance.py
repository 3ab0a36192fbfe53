import json

from ase.build import bulk

from seilab import provenance


def test_extxyz_sidecar_round_trip(tmp_path):
    frames = [bulk("Cu", cubic=True), bulk("Li", "bcc", a=3.44)]
    path = provenance.write_extxyz(tmp_path / "x.extxyz", frames,
                                   provenance.record("test", settings={"a": 1}))
    side = json.loads(provenance.sidecar_path(path).read_text())
    assert side["stage"] == "test" and side["n_frames"] == 2 and side["settings"] == {"a": 1}
    assert "ase" in side["versions"]
    assert provenance.is_valid_artifact(path)
    assert len(provenance.read_extxyz(path)) == 2
    path.write_text(path.read_text() + "\n")  # tampered: the hash no longer matches
    assert not provenance.is_valid_artifact(path)


def test_secrets_never_written(tmp_path, monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "sekrit-0123456789")
    rec = provenance.record("test", settings={"api_key": "sekrit-0123456789",
                                              "note": "called with sekrit-0123456789"})
    out = provenance.write_json(tmp_path / "r.json", {"token": "abc", "x": 1}, rec)
    text = out.read_text()
    assert "sekrit" not in text and "abc" not in text
    assert json.loads(text)["x"] == 1


def test_paths_inside_a_campaign_are_stored_relative_and_follow_a_moved_folder(tmp_path):
    import shutil

    camp = tmp_path / "campaign"
    (camp / ".seilab").mkdir(parents=True)
    pot = camp / "training" / "gen000" / "potential.yaml"
    pot.parent.mkdir(parents=True)
    pot.write_text("x")
    outside = str(tmp_path / "elsewhere" / "lmp")
    path = camp / "simulation" / "latest.json"
    provenance.write_json(path, {"trajectory": str(camp / "simulation" / "run" / "dump.lammpstrj"),
                                 "runs": [{"potential": str(pot)}], "output": str(camp), "lmp": outside,
                                 "name": "Li2S", "sibling": str(tmp_path / "campaign-old" / "x")},
                          provenance.record("test", inputs=[pot]))
    raw = path.read_text()
    assert str(camp) + "/" not in raw and f"\"{camp}\"" not in raw  # nothing inside is stored absolute
    stored = json.loads(raw)
    assert stored["trajectory"] == "simulation/run/dump.lammpstrj" and stored["output"] == "."
    assert stored["provenance"]["inputs"][0]["path"] == "training/gen000/potential.yaml"
    assert stored["lmp"] == outside and stored["sibling"].endswith("campaign-old/x")  # outside: as given

    moved = tmp_path / "copy"
    shutil.copytree(camp, moved)
    shutil.rmtree(camp)
    data = provenance.read_json(moved / "simulation" / "latest.json")
    assert data["trajectory"] == str(moved / "simulation" / "run" / "dump.lammpstrj")
    assert data["runs"][0]["potential"] == str(moved / "training" / "gen000" / "potential.yaml")
    assert data["output"] == str(moved) and data["lmp"] == outside and data["name"] == "Li2S"
    assert data["provenance"]["inputs"][0]["path"] == str(moved / "training" / "gen000" / "potential.yaml")
    assert "_relative_paths" not in data


def test_outside_a_campaign_paths_stay_absolute(tmp_path):
    path = tmp_path / "a" / "result.json"
    provenance.write_json(path, {"file": str(tmp_path / "a" / "x.txt")})
    assert json.loads(path.read_text()) == {"file": str(tmp_path / "a" / "x.txt")}
