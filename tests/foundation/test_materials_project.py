"""Materials Project source: real selection/parsing code against a response file, never the network."""

import json
from pathlib import Path

import pytest
from pymatgen.core import Structure

from seilab.chemistry.library import find_structure
from seilab.chemistry.mp import MaterialsProjectSource
from seilab.config import ChemistrySettings, PhaseSpec
from seilab.provenance import record, write_json

RESPONSE = Path(__file__).resolve().parents[1] / "data" / "mp_summary_LiP.json"


class FileRester:
    """Stands in for mp_api's MPRester: answers summary searches from a saved response file."""

    def __init__(self, path):
        self.calls = []
        docs = json.loads(Path(path).read_text())["data"]
        for d in docs:
            d["structure"] = Structure.from_dict(d["structure"])
        self._docs = docs
        self.materials = self
        self.summary = self

    def search(self, formula=None, spacegroup_number=None, fields=None):
        self.calls.append({"formula": formula, "spacegroup_number": spacegroup_number, "fields": fields})
        return [d for d in self._docs if d["formula_pretty"] == formula
                and (spacegroup_number is None or d["symmetry"]["number"] == spacegroup_number)]


def test_lookup_picks_lowest_e_above_hull():
    rester = FileRester(RESPONSE)
    found = MaterialsProjectSource(rester).lookup("Li2P2", 14)
    assert rester.calls[0]["formula"] == "LiP" and rester.calls[0]["spacegroup_number"] == 14
    assert "structure" in rester.calls[0]["fields"]
    assert found.origin == "materials_project"
    assert found.source["material_id"] == "mp-test-2"
    assert found.structure.composition.reduced_formula == "LiP"
    assert MaterialsProjectSource(rester).lookup("LiP", 2).source["material_id"] == "mp-test-3"
    assert MaterialsProjectSource(rester).lookup("LiP", 62) is None


def test_mp_only_with_key(monkeypatch):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    assert MaterialsProjectSource.from_environment() is None
    monkeypatch.setenv("MP_API_KEY", "k")
    assert MaterialsProjectSource.from_environment("never") is None
    assert MaterialsProjectSource.from_environment("auto") is not None


def test_key_never_in_provenance(monkeypatch, tmp_path):
    monkeypatch.setenv("MP_API_KEY", "SECRETKEY1234567890")
    src = MaterialsProjectSource(FileRester(RESPONSE))
    found = find_structure(PhaseSpec(name="LiP_mp", formula="LiP", spacegroup=14), ChemistrySettings(), src)
    out = write_json(tmp_path / "p.json", {"source": found.source}, record("chemistry", settings=dict(found.source)))
    assert "SECRETKEY" not in out.read_text()


def test_failed_query_hides_key(monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "SECRETKEY1234567890")

    class Broken:
        materials = summary = None

        def __init__(self):
            self.materials = self
            self.summary = self

        def search(self, **kw):
            raise ConnectionError("bad request with key SECRETKEY1234567890")

    from seilab.errors import SeilabError

    with pytest.raises(SeilabError) as exc:
        MaterialsProjectSource(Broken()).lookup("LiP")
    assert "SECRETKEY" not in str(exc.value)
