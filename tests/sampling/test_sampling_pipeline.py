"""The sampling stage end to end (Lennard-Jones stand-in), its resume, labelling and commands."""

import pytest
from sampling_helpers import bundled_atoms, exploding, lj, small_campaign

from seilab import provenance
from seilab.errors import SeilabError
from seilab.reference.labelling import label_structures
from seilab.reference.store import DatasetStore, structure_hash
from seilab.sampling import run_sampling, sampled_frames
from seilab.geometry import min_distance

PHASES = ("Li_bcc", "Li7P3S11", "Li2S")
KINDS = {"crystalline", "amorphous", "interface", "perturbed", "hot_md", "interface_md"}


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    out = tmp_path_factory.mktemp("campaign")
    campaign = small_campaign(out, PHASES)
    phases = {n: bundled_atoms(n) for n in PHASES}
    manifest = run_sampling(campaign, phases=phases, factory=lj, progress=False)
    return campaign, phases, manifest


def test_every_kind_phase_and_temperature_is_covered(sampled):
    campaign, _, manifest = sampled
    frames = sampled_frames(campaign)
    assert len(frames) == manifest["total_frames"]
    by_kind = {}
    for f in frames:
        by_kind.setdefault(f.info["kind"], []).append(f)
    assert set(by_kind) == KINDS
    for kind in ("crystalline", "amorphous", "hot_md"):
        assert {f.info["phase"] for f in by_kind[kind]} == set(PHASES), kind
    temps = {(f.info["phase"], f.info["temperature_K"]) for f in by_kind["hot_md"]}
    assert temps == {(p, t) for p in PHASES for t in (300.0, 900.0, 1500.0)}
    s = campaign.sampling
    assert len(by_kind["hot_md"]) == len(PHASES) * 3 * (s.md.steps // s.md.sample_every)
    assert len({f.info["phase"] for f in by_kind["interface"]}) == 2
    assert manifest["interface_pairs"] and all(c["kept"] >= 1 for c in manifest["interface_pairs"].values())
    # interface MD: the smallest interface of each plane pair (both fit under interface_md_max_atoms) x 2 temperatures
    pairs = {f.info["phase"] for f in by_kind["interface"]}
    assert {(f.info["phase"], f.info["temperature_K"]) for f in by_kind["interface_md"]} == {
        (p, t) for p in pairs for t in (300.0, 900.0)}
    assert len(by_kind["interface_md"]) == 2 * 2 * (s.interface_md_steps // s.interface_md_stride)
    listed = [f for f in manifest["files"] if f["kind"] == "interface_md"]
    assert len(listed) == 4 and all(f["path"].startswith("interface_md/") for f in listed)
    assert manifest["frames_per_kind"]["interface_md"] == len(by_kind["interface_md"])
    assert {m["phase"] for m in manifest["interface_md"]} == pairs


def test_no_two_atoms_closer_than_the_floor_anywhere(sampled):
    campaign, _, _ = sampled
    closest = min(min_distance(f) for f in sampled_frames(campaign))
    assert closest >= campaign.sampling.min_distance_A


def test_amorphous_density_within_15_percent(sampled):
    campaign, phases, manifest = sampled
    for f in sampled_frames(campaign):
        if f.info["kind"] != "amorphous":
            continue
        xtal = phases[f.info["phase"]]
        ratio = (len(f) / f.get_volume()) / (len(xtal) / xtal.get_volume())
        assert abs(ratio - 1) <= 0.15, f.info["phase"]
    assert all(abs(a["density_ratio"] - 1) <= 0.15 for a in manifest["amorphous"].values())


def test_rerun_computes_nothing_and_repairs_damage(sampled, capsys):
    campaign, phases, manifest = sampled
    again = run_sampling(campaign, phases=phases, factory=exploding, progress=False)
    assert again["files"] == manifest["files"]
    # a modified output is regenerated (sidecar hash mismatch), the others are kept
    target = campaign.stage_dir("sampling") / "hot_md" / "Li2S_900K.extxyz"
    other = campaign.stage_dir("sampling") / "hot_md" / "Li2S_300K.extxyz"
    mtime = other.stat().st_mtime_ns
    target.write_text(target.read_text().replace("Li", "Na", 1))
    assert not provenance.is_valid_artifact(target)
    capsys.readouterr()
    lines = []  # a progress callable (what `seilab run` passes) gets the step lines, and no progress bar is drawn
    run_sampling(campaign, phases=phases, factory=lj, progress=lines.append)
    assert provenance.is_valid_artifact(target) and other.stat().st_mtime_ns == mtime
    assert any(line.startswith("MD: 1 runs to do") for line in lines), lines
    assert "sampling MD" not in capsys.readouterr().err


def test_labelling_the_sampled_set(sampled, tmp_path):
    campaign, _, _ = sampled
    frames = sampled_frames(campaign)
    store = DatasetStore(tmp_path / "dataset", reference={"name": "lj"})
    report = label_structures(frames, store, lj, progress=False)
    unique = {structure_hash(f) for f in frames}
    assert len(store) == len(unique) == report.labelled
    assert report.total_atoms == sum(len(store.get(h).atoms) for h in unique)
    assert {r["kind"] for r in report.rows} == KINDS
    again = label_structures(frames, store, exploding, progress=False)
    assert again.labelled == 0 and again.already_in_store == len(unique)


def test_commands_run_from_a_config(tmp_path, monkeypatch, capsys):
    """`seilab sample` / `seilab label` on a YAML, chemistry output written by hand."""
    import seilab.reference.calculators as calculators
    import seilab.sampling.pipeline as pipeline
    from seilab.chemistry import phases_dir
    from seilab.config import load_config
    from seilab.cli.sampling import label, sample

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "name: t\noutput: out\nreactants: {anode: Li_bcc, electrolyte: Li7P3S11}\n"
        "phases: [{name: Li_bcc}, {name: Li7P3S11}, {name: Li2S}]\n"
        "sampling:\n  phases: [Li2S]\n  target_atoms: 24\n  amorphous_target_atoms: 12\n  md: {steps: 2, sample_every: 2, "
        "temperatures_K: [900]}\n  amorphous_eos_steps: 2\n  amorphous_production_steps: 2\n"
        "  interface_anode_millers: [[1, 1, 0]]\n  interface_electrolyte_millers: [[1, 0, 1]]\n")
    with pytest.raises(SeilabError, match="chemistry.*missing"):
        sample(cfg)
    campaign = load_config(cfg)
    for name in ("Li_bcc", "Li7P3S11", "Li2S"):
        provenance.write_extxyz(phases_dir(campaign) / f"{name}.extxyz", [bundled_atoms(name)],
                                provenance.record("test"))
    monkeypatch.setattr(pipeline, "reference_factory", lambda ref: lj)
    monkeypatch.setattr(calculators, "get_calculator", lambda ref, directory=None: lj())
    sample(cfg)
    out = capsys.readouterr().out
    assert "Li_bcc(110)|Li7P3S11(101)" in out and "hot_md" in out
    manifest = provenance.read_json(campaign.stage_dir("sampling") / "manifest.json")
    assert {f["kind"] for f in manifest["files"]} == KINDS
    label(cfg)
    out = capsys.readouterr().out
    assert "total" in out and f"{manifest['total_frames']}" in out


def test_md_jobs_in_two_spawned_processes_match_serial(tmp_path):
    """run_jobs with 2 workers gives the same (seeded) trajectories as one process."""
    import numpy as np
    from sampling_helpers import small_settings

    from seilab.sampling.common import run_jobs
    from seilab.sampling.crystalline import generate_crystalline
    from seilab.sampling.hot_md import hot_md_jobs

    s = small_settings(target_atoms=24, md={"temperatures_K": [300, 1500]})
    out = {}
    for workers, sub in ((1, "serial"), (2, "parallel")):
        cryst = generate_crystalline({"Li2S": bundled_atoms("Li2S")}, s, tmp_path / sub)
        jobs = hot_md_jobs(cryst, s, tmp_path / sub)
        assert len(jobs) == 2
        summaries = run_jobs(jobs, lj, workers, progress=False)
        assert [x["temperature_K"] for x in summaries] == [300.0, 1500.0]
        out[sub] = [provenance.read_extxyz(tmp_path / sub / "hot_md" / f"Li2S_{t}K.extxyz") for t in (300, 1500)]
        assert hot_md_jobs(cryst, s, tmp_path / sub) == []  # finished runs are not jobs any more
    for a, b in zip(out["serial"], out["parallel"]):
        assert len(a) == len(b) == s.md.steps // s.md.sample_every
        for fa, fb in zip(a, b):
            assert np.allclose(fa.positions, fb.positions)


def test_changed_settings_regenerate_outputs(tmp_path):
    """A valid output made with other settings is redone, not reused; unchanged ones are kept."""
    from sampling_helpers import small_settings

    from seilab.sampling.common import run_jobs
    from seilab.sampling.crystalline import generate_crystalline
    from seilab.sampling.hot_md import hot_md_jobs, hot_md_path
    from seilab.sampling.perturbations import generate_perturbations

    s = small_settings(target_atoms=24, md={"temperatures_K": [900]})
    cryst = generate_crystalline({"Li2S": bundled_atoms("Li2S")}, s, tmp_path)
    run_jobs(hot_md_jobs(cryst, s, tmp_path), lj, 1, progress=False)
    generate_perturbations(cryst, [], s, tmp_path)
    out = hot_md_path(tmp_path, "Li2S", 900)
    assert len(provenance.read_extxyz(out)) == 2
    longer = s.model_copy(update={"md": s.md.model_copy(update={"steps": 9})})
    assert len(hot_md_jobs(cryst, longer, tmp_path)) == 1  # stale: md.steps changed
    assert hot_md_jobs(cryst, s, tmp_path) == []
    run_jobs(hot_md_jobs(cryst, longer, tmp_path), lj, 1, progress=False)
    assert len(provenance.read_extxyz(out)) == 3
    pert = tmp_path / "perturbed" / "Li2S.extxyz"
    mtime = pert.stat().st_mtime_ns
    generate_perturbations(cryst, [], longer, tmp_path)  # MD settings do not matter here
    assert pert.stat().st_mtime_ns == mtime
    generate_perturbations(cryst, [], longer.model_copy(update={"rattle_copies": 3}), tmp_path)
    assert len(provenance.read_extxyz(pert)) == 3 + 2 + 1
    # a different relaxed phase regenerates the crystalline cell
    other = bundled_atoms("Li2S")
    other.set_cell(other.cell * 1.01, scale_atoms=True)
    before = provenance.read_extxyz(cryst["Li2S"], index=0).get_volume()
    generate_crystalline({"Li2S": other}, s, tmp_path)
    assert provenance.read_extxyz(cryst["Li2S"], index=0).get_volume() == pytest.approx(before * 1.01**3)
