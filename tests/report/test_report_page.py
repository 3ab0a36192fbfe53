"""The report a scientist reads: the verdict first, captioned figures (missing ones listed with the reason),
and a 3-D view of the first and last interface frames that works without network; checked in the HTML
and, where Chromium is installed, in a headless browser.

The campaign output is synthetic and minimal (the JSON files the report reads, a tiny PNG and a two-frame
LAMMPS dump), written in ``tmp_path``.
"""

import json
import re
import shutil
import subprocess
import textwrap

import numpy as np
import pytest

from seilab.config import load_config
from seilab.report import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _png(path, color="tab:red"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1], color=color)
    fig.savefig(path, dpi=50)
    plt.close(fig)


def _dump(path, n_frames=2):
    """A LAMMPS text dump: Li slab over a Li2S-like block, ``element`` column, two frames."""
    rng = np.random.default_rng(0)
    rows = []
    k = 0
    for ix in range(3):
        for iy in range(3):
            for iz in range(4):
                k += 1
                rows.append((k, 1, "Li", 1 + 3 * ix, 1 + 3 * iy, 11 + 2.5 * iz))
            for iz, el in enumerate(("S", "Li", "P", "S")):
                k += 1
                rows.append((k, {"Li": 1, "P": 2, "S": 3}[el], el, 1 + 3 * ix, 1 + 3 * iy, 1 + 2.4 * iz))
    text = []
    for f in range(n_frames):
        text += ["ITEM: TIME", f"{0.1 * f}", "ITEM: TIMESTEP", str(100 * f), "ITEM: NUMBER OF ATOMS", str(len(rows)),
                 "ITEM: BOX BOUNDS pp pp pp", "0 9", "0 9", "0 21", "ITEM: ATOMS id type element x y z"]
        for i, t, el, x, y, z in rows:
            dx = rng.normal(0, 0.2, 3) * f
            text.append(f"{i} {t} {el} {x + dx[0]:.4f} {y + dx[1]:.4f} {z + dx[2]:.4f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text) + "\n")
    return len(rows)


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _phases_of(dump, **settings):
    """``phases``, ``bins`` and ``trajectory`` of analysis.json as the analysis stage writes them for ``dump``
    (the toy cell has no room for the S-sublattice crystal search: it is skipped)."""
    from seilab.analysis.pipeline import analyze_trajectory
    from seilab.settings.analysis import AnalysisSettings

    d = analyze_trajectory(dump, AnalysisSettings(figures=False, crystal_species="Na", **settings)).to_dict()
    return {k: d[k] for k in ("phases", "bins", "trajectory")}


def _campaign(tmp_path, verdict="two regimes", labels=None, n_frames=2):
    """``labels``: None (a hand-written analysis.json without per-atom phases), else the settings with which
    the analysis stage is run on the dump for its per-atom phase labels."""
    p = tmp_path / "c.yaml"
    p.write_text(textwrap.dedent("""
        name: rep
        output: out
        reactants: {anode: Li_bcc, electrolyte: Li2S}
        phases: [{name: Li_bcc}, {name: Li2S}, {name: S_alpha}]
    """))
    c = load_config(p)
    o = c.output
    _write(o / "chemistry/reaction.json", {
        "kinks": [{"x_anode": 0.0, "reaction_energy_eV_per_atom": 0.0, "products": ["Li2S"], "reaction": "a"},
                  {"x_anode": 0.5, "reaction_energy_eV_per_atom": -0.4, "products": ["Li2S", "Li_bcc"], "reaction": "x"},
                  {"x_anode": 1.0, "reaction_energy_eV_per_atom": 0.0, "products": ["Li_bcc"], "reaction": "b"}],
        "hull": [], "chemical_potential_distance": {"distance_eV": 2.0, "delta_mu_eV": {"Li": 1.0}}})
    _png(o / "chemistry/phase_diagram.png")
    report = o / "validation/gen000/report.json"
    _write(report, {"summary": {"advisory_failed": [], "groups": {"eos": {"passed": 3, "failed": 1}}},
                    "results": {"metrics": {"test": {"n_structures": 5, "energy_meV_per_atom": {"rmse": 12.0},
                                                     "force_meV_per_A": {"rmse": 150.0}, "by_kind": {}}},
                                "eos": {"Li_bcc": {"v0_rel_error": 0.031}}},
                    "checks": [{"name": "eos_v0:Li_bcc", "group": "eos", "passed": False, "message": "3.1 %"}]})
    _png(o / "validation/gen000/eos.png")
    _write(o / "validation/gate.json", {
        "accepted": None, "best": {"generation": "gen000", "failed_checks": ["eos_v0:Li_bcc"], "report": str(report)},
        "generations": [{"generation": "gen000", "status": "failed", "failed_checks": ["eos_v0:Li_bcc"], "score": 3.0}]})
    n_atoms = _dump(o / "simulation/run-x/dump.lammpstrj", n_frames)
    _write(o / "simulation/latest.json", {"status": "halted", "steps_done": 100, "max_gamma": 12.0, "engine": "lammps",
                                          "n_atoms": n_atoms, "trajectory": str(o / "simulation/run-x/dump.lammpstrj"),
                                          "potential_gate": {"validated": False, "generation": "gen000"},
                                          "halt_diagnosis": {
                                              "step": 100, "max_gamma": 12.0, "threshold": 2.5, "shell_A": 3.0,
                                              "n_above": 3, "above_by_element": {"P": 2, "Li": 1},
                                              "above_by_region": {"interphase": 3},
                                              "top": [{"index": 7, "element": "P", "gamma": 12.0,
                                                       "region": "interphase", "distance_to_interface_A": 1.2,
                                                       "neighbours": {"Li": 9, "P": 0, "S": 0}}]}})
    two = verdict == "two regimes"
    _write(o / "analysis/analysis.json", {
        "summary": {"n_frames": 2, "n_atoms": n_atoms, "time_range_ps": [0.0, 0.1], "final_thickness_A": 6.5,
                    "growth_verdict": verdict, "single_exponent": 0.41, "single_exponent_err": 0.03,
                    "fast_exponent": 0.83 if two else -0.2, "fast_exponent_err": 0.07, "slow_exponent": 0.27,
                    "slow_exponent_err": 0.04, "crossover_time_ps": 0.05,
                    "net_per_area_per_nm2_final": {"S": 1.5, "Li": -6.0}, "layer_sequence": ["Li metal", "Li2S"]},
        "phases": {"layers": [{"phase": "Li2S", "z_top_A": 1.0, "z_bottom_A": -5.5, "thickness_A": 6.5}]},
        **(_phases_of(o / "simulation/run-x/dump.lammpstrj", **labels) if labels is not None else {})})
    _png(o / "analysis/thickness.png", color="tab:green")  # Fig. 6 present; Fig. 7 (flux.png) missing
    _write(o / "transport/fluxes.json", {
        "grad_mu_eV_per_A": {"Li": 0.2, "S": -0.3}, "interface_width_A": 6.5,
        "phases": [{"phase": "Li2S", "temperature_K": 900.0, "J": {"Li": -0.12, "S": 0.004},
                    "J_err": {"Li": 0.03, "S": 0.006}, "sign": {"Li": "-", "S": "not resolved"},
                    "not_diffusive": ["S"]}],
        "failed": [{"phase": "Li_bcc", "temperature_K": 900.0, "status": "not_amorphous",
                    "error": "still crystalline before production: Bragg order 0.91 > 0.5"}],
        "potential_gate": {"validated": False, "generation": "gen000"}})
    _write(o / "transport/transport_summary.json", {"entries": [
        {"phase": "Li2S", "temperature_K": 900.0, "status": "computed", "species": ["Li", "S"],
         "L": [[0.37, 0.0], [0.0, 0.017]], "L_err": [[0.14, 0.0], [0.0, 0.006]]},
        {"phase": "Li_bcc", "temperature_K": 900.0, "status": "not_amorphous",
         "error": "still crystalline before production: Bragg order 0.91 > 0.5"}]})
    return c, n_atoms


def _panel(page):
    start = page.index('id="verdict"')
    return page[start:page.index("</section>", start)]


def test_the_verdict_panel_comes_first_and_answers_the_questions(tmp_path):
    c, _ = _campaign(tmp_path)
    page = open(build_report(c)["html"]).read()
    body = page[page.index("<body>"):]
    first_h2 = re.search(r"<h2[^>]*id=\"(\w+)\"", body).group(1)
    assert first_h2 == "verdict"
    assert body.index('id="verdict"') < body.index("<figure") and body.index('id="verdict"') < body.index("<table")
    panel = _panel(page)
    assert "REJECTED: none passed validation" in panel and "eos_v0:Li_bcc" in panel      # accept / reject line
    assert "12.0 / 150" in panel                                                          # test errors
    assert "<b>Li2S + Li_bcc</b>" in panel                                                # tie-line products
    assert "Li metal | Li2S" in panel                                                     # layer sequence
    assert "fast n = 0.83 ± 0.07" in panel and "slow n = 0.27 ± 0.04" in panel           # exponents ± σ
    assert "-0.12 ± 0.03" in panel and "not resolved" in panel                            # fluxes with σ
    assert "L<sub>LiLi</sub> 0.37 ± 0.14" in panel and "not diffusive" in panel           # Onsager highlights
    assert "Li_bcc at 900 K: stayed crystalline (not amorphous)" in panel                 # transport phase failed
    assert "halted by the extrapolation grade γ" in panel                                 # production halted
    assert ("γ &gt; 2.5 on 3 atoms (P 2, Li 1; interphase 3); the highest: P (γ 12, interphase, 1.2 Å from an "
            "interface plane; within 3 Å: Li 9)") in panel                                  # and who stopped it
    assert "did NOT pass validation" in panel                                             # unvalidated
    # every row names its source file with a relative link
    rows = re.findall(r"<tr><th>.*?</tr>", panel)
    assert len(rows) >= 8
    for row in rows:
        assert re.search(r"href='\.\./[\w/.-]+\.json'", row), row
    for rel in ("validation/gate.json", "analysis/analysis.json", "transport/fluxes.json", "chemistry/reaction.json"):
        assert (c.output / rel).is_file() and f"href='../{rel}'" in panel


def test_no_exponent_is_shown_when_the_growth_verdict_has_no_regime(tmp_path):
    c, _ = _campaign(tmp_path, verdict="no growth detected")
    panel = _panel(open(build_report(c)["html"]).read())
    assert "no growth detected</b>: no exponent is reported" in panel
    assert "-0.2" not in panel and "n = 0.41" not in panel


def test_every_figure_has_a_caption_and_missing_figures_are_listed(tmp_path):
    c, _ = _campaign(tmp_path)
    out = build_report(c)
    page = open(out["html"]).read()
    figures = re.findall(r"<figure>(.*?)</figure>", page, re.S)
    assert len(figures) == 3  # phase diagram, EOS, thickness
    for f in figures:
        cap = re.search(r"<figcaption>(.*?)</figcaption>", f, re.S).group(1)
        assert "<b>Read:</b>" in cap and len(re.sub("<[^>]+>", "", cap)) > 80, cap
    thickness = next(f for f in figures if "analysis/thickness.png" in f)
    assert "Fig. 6" in thickness and "(Å)" in thickness and "two regimes: n = 0.83 ± 0.07" in thickness
    assert "+3.1 % of V<sub>0</sub>" in next(f for f in figures if "eos.png" in f)
    missing = page[page.index("Figures missing"):]
    for label, file, why in (("Fig. 7", "analysis/flux.png", "the analysis stage ran but wrote no flux.png"),
                             ("Fig. 8", "transport/fig8_fluxes.png", "the transport stage ran but wrote no"),
                             ("Fig. 3", "validation/gen000/dimers.png", "the validation stage ran but wrote no")):
        assert re.search(rf"<li><b>{label} [^<]*</b> \(<code>{re.escape(file)}</code>\): {why}", missing), label
    assert "the training stage has not run" not in page  # training figures are not catalogued as paper figures
    summary = json.loads(open(out["summary"]).read())
    absent = {f["figure"] for f in summary["figures"] if not f["present"]}
    assert {"flux", "fig8_fluxes", "dimers", "snapshots"} <= absent
    assert "thickness" not in absent


def test_the_3d_viewer_is_inlined_with_both_interface_frames(tmp_path):
    from seilab.report.viewer import viewer_js

    c, n_atoms = _campaign(tmp_path)
    page = open(build_report(c)["html"]).read()
    js = viewer_js()
    assert len(js) > 100_000 and js[:2000] in page and js[-2000:] in page   # the library, inlined whole
    assert not re.search(r"<script[^>]+src=", page) and "https://3dmol" not in page.lower()
    assert page.index('id="verdict"') < page.index('id="view3d"') < page.index('id="chemistry"')
    for k in (0, 1):
        assert f"<div id='view3d-{k}' class='viewer3d' data-atoms='{n_atoms}'" in page
    data = _view_data(page)
    assert [v["xyz"].split("\n", 1)[0] for v in data["views"]] == [str(n_atoms)] * 2
    assert data["views"][0]["xyz"] != data["views"][1]["xyz"]  # first and last frame, not one frame twice
    assert "first frame (step 0)" in page and "last frame (step 100" in page
    assert set(data["colors"]) == {"Li", "P", "S"}


def test_the_viewer_colours_are_the_snapshot_figure_colours():
    """One palette (seilab.palette) for the analysis figures and the 3-D view: no second colour table."""
    from seilab import palette
    from seilab.analysis import figures
    from seilab.report import viewer

    assert viewer.ELEMENT_COLORS is palette.ELEMENT_COLORS
    assert figures.element_color is palette.element_color and figures.phase_colors is palette.phase_colors
    assert not [k for k in vars(figures) if "COLOR" in k.upper() and k not in ("element_color", "phase_colors")]
    assert palette.element_color("Li") == "#7b68ee" and palette.element_color("Ge") != palette.element_color("Sn")
    assert list(palette.phase_colors(["A", "B"]).values()) == palette.PHASE_COLORS[:3]  # vacuum, A, B


def _view_data(page):
    return json.loads(re.search(r"var D=(\{.*?\});\nfunction", page).group(1))


def test_the_3d_view_colours_by_the_phases_the_analysis_identified(tmp_path):
    from seilab.palette import phase_colors

    c, n_atoms = _campaign(tmp_path, labels={})
    page = open(build_report(c)["html"]).read()
    ana = json.loads((c.output / "analysis/analysis.json").read_text())
    atoms = ana["phases"]["atoms"]
    data = _view_data(page)
    # the labels drawn are the analysis's, frame by frame (first and last), one per atom
    assert [v["phase"] for v in data["views"]] == [f["labels"] for f in atoms["frames"]]
    assert all(len(v["phase"]) == n_atoms for v in data["views"])
    pal = phase_colors(ana["phases"]["names"])
    assert data["phase"]["colors"] == {c: pal[n] for c, n in atoms["codes"].items() if c != "-"} | {"-": "#000000"}
    control = re.search(r"<form class='v3dctl'.*?</form>", page).group(0)
    assert "value='phase'>" in control and "disabled" not in control and "not available" not in control
    legend = re.search(r"<p class='src' id='view3d-legend-phase' hidden>(.*?)</p>", page).group(1)
    present = [atoms["codes"][c] for c in atoms["codes"] if any(c in f["labels"] for f in atoms["frames"])]
    assert len(present) >= 2
    for name in present:
        assert f"{pal[name]}'></span>{name}" in legend
    cap = re.search(r"<p class='v3dcap'>(.*?)</p>", page).group(1)
    assert "Colour by identified phase</b>: each atom takes the phase the analysis identified for its 2 Å slab" in cap
    assert "<b>Read:</b>" in cap and "Li metal | Li2S" in cap


def test_the_3d_view_says_why_phase_colours_are_missing(tmp_path):
    c, _ = _campaign(tmp_path)  # analysis.json without per-atom labels
    page = open(build_report(c)["html"]).read()
    control = re.search(r"<form class='v3dctl'.*?</form>", page).group(0)
    assert "value='phase' disabled>" in control and "has no per-atom phase labels" in control
    assert [v["phase"] for v in _view_data(page)["views"]] == [None, None]
    # the analysis stopped before the trajectory's last frame: the first frame has labels, the last says why
    (tmp_path / "stop").mkdir()
    c, _ = _campaign(tmp_path / "stop", labels={"stop_frame": 2}, n_frames=3)
    page = open(build_report(c)["html"]).read()
    views = _view_data(page)["views"]
    assert views[0]["phase"] is not None and views[1]["phase"] is None
    assert "disabled" not in re.search(r"<form class='v3dctl'.*?</form>", page).group(0)
    note = re.search(r"<p id='view3d-1-note' class='missing' hidden>(.*?)</p>", page).group(1)
    assert "frame 2 of the trajectory was not analysed (the analysis labelled frames 0, 1" in note
    assert "view3d-0-note" not in page


def test_phase_labels_belong_to_the_atoms_they_were_written_for(tmp_path):
    from seilab.report.viewer import frame_phases, read_end_frames

    c, _ = _campaign(tmp_path, labels={})
    frames = read_end_frames(c.output / "simulation/run-x/dump.lammpstrj")
    ana = json.loads((c.output / "analysis/analysis.json").read_text())
    ok = frame_phases(frames, ana)
    assert ok["why"] is None and all(f["labels"] for f in ok["frames"])
    swapped = [dict(f) for f in frames]
    swapped[1]["symbols"] = list(reversed(frames[1]["symbols"]))  # same atoms, another order
    got = frame_phases(swapped, ana)
    assert got["frames"][0]["labels"] and got["frames"][1]["labels"] is None
    assert "element sequence of frame 1 differs" in got["frames"][1]["why"]
    assert frame_phases(frames, ana, "analysis/analysis.json is of x")["why"] == "analysis/analysis.json is of x"
    assert "has not run" in frame_phases(frames, None)["why"]


def test_a_campaign_without_a_trajectory_says_so(tmp_path):
    c, _ = _campaign(tmp_path)
    (c.output / "simulation/latest.json").unlink()
    page = open(build_report(c)["html"]).read()
    assert "No production trajectory" in page and "view3d-0" not in page


def _dom(page, profile):
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=120).stdout


def _hue_pixels(img, color, tol=0.02):
    """Pixels of ``img`` (RGB floats) with the hue of ``color`` (shaded spheres keep their hue), saturated."""
    from matplotlib.colors import rgb_to_hsv, to_rgb

    hsv = rgb_to_hsv(img)
    h = rgb_to_hsv(np.array(to_rgb(color)))[0]
    dh = np.abs(hsv[..., 0] - h)
    return int(((np.minimum(dh, 1 - dh) < tol) & (hsv[..., 1] > 0.45) & (hsv[..., 2] > 0.3)).sum())


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make system installs it)")
def test_the_page_renders_in_headless_chromium(tmp_path):
    import matplotlib.image as mpimg

    from seilab.palette import ELEMENT_COLORS, phase_colors
    from seilab.report.build import screenshot

    c, _ = _campaign(tmp_path, labels={})
    out = build_report(c)
    dom = _dom(tmp_path / "out/report/index.html", tmp_path / "profile")
    assert 'id="verdict"' in dom and "REJECTED: none passed validation" in dom
    for k in (0, 1):  # 3Dmol ran (no exception, WebGL context) and put its canvas in each viewer
        m = re.search(rf'<div id="view3d-{k}"[^>]*data-rendered="(\w+)"[^>]*>(.*?)</figure>', dom, re.S)
        assert m and m.group(1) == "yes" and "<canvas" in m.group(2), dom[:300]
        assert re.search(rf'<div id="view3d-{k}"[^>]*data-colour="element"', dom)
    png = screenshot(out["html"], tmp_path / "shot.png", width=1200, height=2000)
    img = mpimg.imread(png)[..., :3]
    assert img.std() > 0.05 and len(np.unique((img[::4, ::4] * 255).astype(int).reshape(-1, 3), axis=0)) > 50
    top = img[:500]  # the verdict panel is on the first screen: its red frame and text are drawn
    assert (top.mean(axis=2) < 0.6).mean() > 0.01
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    s_yellow = (r > 0.55) & (g > 0.45) & (b < 0.25) & (r - g < 0.3)  # S atoms (#e6c200) drawn by the viewer
    li_purple = (b > 0.45) & (r > 0.25) & (b - g > 0.25) & (b - r > 0.15)  # Li atoms (#7b68ee)
    assert s_yellow.sum() > 1500 and li_purple.sum() > 1500, (s_yellow.sum(), li_purple.sum())

    # switch the control to "identified phase", as a reader clicks it, and look again: only the 3-D
    # section is shown (the verdict's links and red words would count as phase colours)
    ana = json.loads((c.output / "analysis/analysis.json").read_text())
    pal = phase_colors(ana["phases"]["names"])
    counts = {ana["phases"]["atoms"]["codes"][k]: v for k, v in
              zip(*np.unique(list(ana["phases"]["atoms"]["frames"][0]["labels"]), return_counts=True))}
    assert counts["Li metal"] >= 20 and counts["Li7P3S11"] >= 10  # the toy's two biggest phases
    page = (tmp_path / "out/report/index.html").read_text()
    click = ("<style>body>*:not(#view3d-section){display:none}</style><script>"
             "document.querySelector('input[name=view3d-colour][value=phase]').click();</script></body>")
    phase_page = tmp_path / "out/report/phase.html"
    phase_page.write_text(page.replace("</body>", click))
    dom = _dom(phase_page, tmp_path / "profile2")
    for k in (0, 1):  # both views re-rendered in phase colours
        assert re.search(rf'<div id="view3d-{k}"[^>]*data-colour="phase"', dom), dom[:300]
    legend = re.search(r'<p class="src" id="view3d-legend-phase"([^>]*)>(.*?)</p>', dom, re.S)
    assert legend and "hidden" not in legend.group(1) and "Li metal" in legend.group(2) and "Li7P3S11" in legend.group(2)
    assert re.search(r'<p class="src" id="view3d-legend-element" hidden', dom)
    img = mpimg.imread(screenshot(phase_page, tmp_path / "phase.png", width=1200, height=900))[..., :3]
    n = {name: _hue_pixels(img, pal[name]) for name in ("Li metal", "Li7P3S11")}
    assert min(n.values()) > 1500, n  # pixels of two phase colours: Li metal blue, Li7P3S11 red
    assert _hue_pixels(img, ELEMENT_COLORS["S"]) < 100 and _hue_pixels(img, ELEMENT_COLORS["Li"]) < 300  # no element colours left


def test_extxyz_end_frames_are_the_complete_frames_in_atom_id_order(tmp_path):
    """The ASE engine's trajectory: frames by their index in the file (the analysis's), a cut-off last
    frame left out (as the analysis reads it), atoms sorted by their ``id`` array."""
    from ase import Atoms
    from ase.io import write

    from seilab.report.viewer import read_end_frames

    path = tmp_path / "trajectory.extxyz"
    frames = []
    for k in range(3):
        a = Atoms("LiPS", positions=[[0, 0, k], [1, 0, 0], [2, 0, 0]], cell=[5, 5, 5], pbc=True)
        a.arrays["id"] = np.array([3, 1, 2])
        a.info["step"] = 10 * k
        frames.append(a)
    write(path, frames, format="extxyz")
    with open(path, "a") as fh:
        fh.write("3\nLattice=\"5 0 0 0 5 0 0 0 5\"\nLi 0 0 0\n")  # a fourth frame, cut off
    got = read_end_frames(path)
    assert [(f["index"], f["step"], f["n_frames"]) for f in got] == [(0, 0, 3), (2, 20, 3)]
    assert got[1]["symbols"] == ["P", "S", "Li"] and got[1]["positions"][2][2] == pytest.approx(2.0)


def test_the_verdict_names_each_production_round_and_the_generation_that_drove_the_run(tmp_path):
    c, _ = _campaign(tmp_path)
    _write(c.output / "learning/learning.json", {"generations": [
        {"generation": 1, "harvest": None, "validation_passed": True},
        {"generation": 2, "validation_passed": True, "selected_per_source": {"explore": 5, "production": 7},
         "candidates_per_source": {"explore": 215, "production": 210},
         "harvest": {"frames": 47, "sources": [{"path": "simulation/run-a/extrapolative.dump", "origin": "production",
                                                 "kept": 47}]}}]})
    panel = _panel(open(build_report(c)["html"]).read())
    row = next(r for r in re.findall(r"<tr><th>.*?</tr>", panel) if "production round" in r)
    assert "gen002" in row and "simulation/run-a/extrapolative.dump (47 frames)" in row
    assert "7 of 210 production subcells labelled" in row and "passed validation" in row
    assert "href='../learning/learning.json'" in row
    assert re.search(r"at step 100 of \d+ with gen000", panel)  # the potential that drove the production run
    assert sum("production round" in r for r in re.findall(r"<tr><th>.*?</tr>", panel)) == 1  # gen001 harvested nothing


def test_the_verdict_draws_the_learning_curve_on_the_fixed_test_set(tmp_path):
    c, _ = _campaign(tmp_path)
    gate = json.loads((c.output / "validation/gate.json").read_text())
    ft = lambda e, f: {"path": "training/gen000/data/test.pckl.gzip", "n_structures": 25,  # noqa: E731
                       "energy_rmse_meV_per_atom": e, "force_rmse_meV_per_A": f}
    gate["generations"] = [{**gate["generations"][0], "fixed_test": ft(7.2, 878.3)},
                           {"generation": "gen001", "status": "passed", "failed_checks": [], "fixed_test": ft(5.81, 99.5)}]
    _write(c.output / "validation/gate.json", gate)
    panel = _panel(open(build_report(c)["html"]).read())
    row = next(r for r in re.findall(r"<tr><th>.*?</tr>", panel, re.S) if "learning curve" in r)
    assert "fixed test set (25 structures)" in row
    assert "gen000 7.2 / 878 (failed) → gen001 5.8 / 100" in row and "href='../validation/gate.json'" in row
