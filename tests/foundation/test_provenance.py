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
