"""The report is one self-contained HTML page that renders (headless Chromium, non-blank)."""

import json
import shutil
import textwrap

import pytest

from seilab.config import load_config
from seilab.report import build_report
from seilab.report.build import screenshot


def _campaign(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(textwrap.dedent("""
        name: rep
        output: out
        reactants: {anode: Li_bcc, electrolyte: Li2S}
        phases: [{name: Li_bcc}, {name: Li2S}, {name: S_alpha}]
    """))
    c = load_config(p)
    chem = c.output / "chemistry"
    chem.mkdir(parents=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, -1], "r-")
    fig.savefig(chem / "phase_diagram.png")
    plt.close(fig)
    (chem / "reaction.json").write_text(json.dumps({
        "kinks": [{"x_anode": 0.5, "reaction_energy_eV_per_atom": -0.4, "products": ["Li2S"], "reaction": "x"}],
        "hull": [{"phase": "Li2S", "formula": "Li2S", "origin": "bundled", "formation_energy_eV_per_atom": -1.4,
                  "e_above_hull_eV_per_atom": 0.0}],
        "chemical_potential_distance": {"distance_eV": 2.0, "delta_mu_eV": {"Li": 1.0}}}))
    return c


def test_report_is_self_contained(tmp_path):
    c = _campaign(tmp_path)
    markers = c.output / ".seilab" / "stages"
    markers.mkdir(parents=True)
    for name, sec in (("training", 290.2), ("chemistry", 72.7), ("labelling", 48.4)):
        (markers / f"{name}.json").write_text(json.dumps({"stage": name, "seconds": sec}))
    out = build_report(c)
    page = open(out["html"]).read()
    assert "data:image/png;base64," in page and "src=\"file:" not in page
    assert "Li2S" in page and "-0.400" in page
    assert "This stage has not run" in page  # e.g. training
    summary = json.loads(open(out["summary"]).read())
    assert summary["stages"]["chemistry"]["numbers"]["chemical_potential_distance.distance_eV"] == 2.0
    assert list(summary["wall_time_s"]) == ["chemistry", "labelling", "training"]  # pipeline order
    assert "numbers from <code>chemistry/reaction.json</code>" in page


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                    reason="chromium not installed (make system installs it)")
def test_report_renders_in_headless_chromium(tmp_path):
    import matplotlib.image as mpimg

    c = _campaign(tmp_path)
    out = build_report(c)
    png = screenshot(out["html"], tmp_path / "shot.png", width=1000, height=1400)
    img = mpimg.imread(png)[..., :3]
    assert img.shape[0] >= 1000
    non_white = (img.mean(axis=2) < 0.9).mean()
    assert non_white > 0.01 and img.std() > 0.05  # text, tables and the figure are drawn
