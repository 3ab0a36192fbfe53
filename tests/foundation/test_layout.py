"""The campaign layout: hand-off files named in one place (seilab.layout), used by the runner's stage table."""

from pathlib import Path

from seilab import layout as L
from seilab.layout import STAGE_ORDER, Layout


def test_layout_paths():
    lay = Layout(Path("/c"))
    assert lay.reaction == Path("/c/chemistry/reaction.json")
    assert lay.gate == Path("/c/validation/gate.json")
    assert lay.simulation_latest == Path("/c/simulation/latest.json")
    assert lay.validation_report("gen002") == Path("/c/validation/gen002/report.json")
    assert lay.marker("analysis") == Path("/c/.seilab/stages/analysis.json")
    assert lay.stage("dataset") == lay.dataset


def test_the_runner_reads_and_writes_the_layout_handoffs():
    from seilab.workflows.stages import STAGES

    assert tuple(s.name for s in STAGES) == STAGE_ORDER
    by_name = {s.name: s for s in STAGES}
    assert by_name["chemistry"].outputs == (L.REACTION,)
    assert by_name["simulation"].outputs == (L.SIMULATION_LATEST,)
    assert L.GATE in by_name["simulation"].inputs and L.ANALYSIS in by_name["transport"].inputs
    for s in STAGES:  # every file-like input is some stage's output or a marker / run file
        for f in s.inputs:
            assert f.startswith(L.MARKERS) or "/" in f


def test_campaign_layout_follows_its_output(tmp_path):
    from fixtures.campaigns import minimal_campaign

    c = minimal_campaign(tmp_path)
    assert c.layout.gate == c.output / "validation" / "gate.json"
    assert c.stage_dir("training") == c.layout.stage("training")
