"""The shipped campaign files: both load, and the second chemistry (Na / Na3PS4, no Na phase in the
bundled library) runs its chemistry stage through the same code as the worked example."""

import json
from pathlib import Path

import pytest

from seilab.config import load_config
from seilab.workflows import stages as st

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name, elements", [("li-li7p3s11.yaml", ["Li", "P", "S"]),
                                            ("na-na3ps4.yaml", ["Na", "P", "S"])])
def test_examples_load(name, elements):
    c = load_config(EXAMPLES / name)
    assert c.elements == elements
    assert c.refit_training() is not None


@pytest.mark.slow
def test_second_chemistry_runs_without_li(tmp_path):
    c = load_config(EXAMPLES / "na-na3ps4.yaml", overrides={"output": str(tmp_path / "na")})
    rec = st.run_campaign(c, until="chemistry")[-1]
    assert rec["stage"] == "chemistry" and not rec["skipped"]
    # Na + Na3PS4 -> Na2S + Na3P at the Na-rich end, the analogue of Li2S + Li3P
    assert sorted(rec["summary"]["anode_rich_products"]) == ["Na2S", "Na3P"]
    reaction = json.loads((c.output / "chemistry" / "reaction.json").read_text())
    origin = {row["phase"]: row["origin"] for row in reaction["hull"]}
    assert {p for p, o in origin.items() if o == "predicted"} == {"Na_bcc", "Na2S", "Na3P", "Na3PS4"}
    assert "Li" not in json.dumps(reaction["hull"])
