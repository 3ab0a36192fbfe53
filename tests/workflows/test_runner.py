"""Campaign runner: order, skip finished stages, continue after a crash; jobflow graph and local run."""

import json
import textwrap

import pytest

from seilab.config import load_config
from seilab.workflows import stages as st

import stage_fixtures

TINY = """
name: tiny
output: out
reactants: {anode: Li_bcc, electrolyte: Li2S}
phases: [{name: Li_bcc}, {name: Li2S}, {name: S_alpha}]
chemistry: {relax_max_steps: 40, relax_fmax_eV_per_A: 0.1}
"""


@pytest.fixture
def campaign(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(textwrap.dedent(TINY))
    return load_config(p)


@pytest.fixture
def toy_stages(monkeypatch):
    toy = tuple(st.Stage(n, f"stage_fixtures:{n}", ("chemistry",)) for n in ("first", "second", "third"))
    monkeypatch.setattr(st, "STAGES", toy)
    stage_fixtures.CALLS.clear()
    return toy


def test_crash_then_rerun_skips_finished_stages(campaign, toy_stages):
    with pytest.raises(RuntimeError, match="killed"):
        st.run_campaign(campaign)
    assert stage_fixtures.CALLS == ["first", "second"]
    assert st.is_done(campaign, toy_stages[0]) and not st.is_done(campaign, toy_stages[1])
    records = st.run_campaign(campaign)
    assert stage_fixtures.CALLS == ["first", "second", "second", "third"]
    assert [r["skipped"] for r in records] == [True, False, False]
    marker = json.loads(st.marker_path(campaign, "third").read_text())
    assert marker["stage"] == "third" and "provenance" in marker


def test_changed_settings_rerun_the_stage(campaign, toy_stages, tmp_path):
    (campaign.output).mkdir(parents=True, exist_ok=True)
    (campaign.output / "crash-once").write_text("x")
    st.run_campaign(campaign)
    changed = campaign.model_copy(update={"chemistry": campaign.chemistry.model_copy(update={"relax_max_steps": 7})})
    records = st.run_campaign(changed)
    assert [r["skipped"] for r in records] == [False, False, False]


def test_until_and_bad_names(campaign, toy_stages):
    (campaign.output).mkdir(parents=True, exist_ok=True)
    (campaign.output / "crash-once").write_text("x")
    assert [r["stage"] for r in st.run_campaign(campaign, until="second")] == ["first", "second"]
    from seilab.errors import SeilabError

    with pytest.raises(SeilabError, match="unknown stage"):
        st.run_campaign(campaign, until="nonsense")


def test_flow_graph_is_the_pipeline(campaign):
    from seilab.workflows.flows import campaign_flow

    flow = campaign_flow(campaign.output.parent / "c.yaml")
    names = [j.name for j in flow.jobs]
    assert names == [f"seilab-{n}" for n in st.stage_names()]
    graph = flow.graph
    for a, b in zip(flow.jobs, flow.jobs[1:]):
        assert graph.has_edge(a.uuid, b.uuid)  # each stage waits for the one before
    assert graph.number_of_edges() == len(flow.jobs) - 1
    short = campaign_flow(campaign.output.parent / "c.yaml", until="training")
    assert [j.name for j in short.jobs][-1] == "seilab-training"



@pytest.fixture
def owning_stages(monkeypatch):
    """first writes first.txt (which it owns); third reads it."""
    toy = (st.Stage("first", "stage_fixtures:first", ("chemistry",), owns=("first.txt",)),
           st.Stage("second", "stage_fixtures:second", ("chemistry",)),
           st.Stage("third", "stage_fixtures:third", ("chemistry",), inputs=("first.txt",)))
    monkeypatch.setattr(st, "STAGES", toy)
    stage_fixtures.CALLS.clear()
    return toy


def test_force_moves_the_result_aside_and_redoes_it(campaign, owning_stages):
    campaign.output.mkdir(parents=True, exist_ok=True)
    (campaign.output / "crash-once").write_text("x")
    st.run_campaign(campaign)
    (campaign.output / "first.txt").write_text("the old result")
    stage_fixtures.CALLS.clear()
    records = st.run_campaign(campaign, force=["first"])
    # third read first.txt when it held "1", which the redo wrote again: content, not time, decides
    assert [r["skipped"] for r in records] == [False, True, True]
    assert stage_fixtures.CALLS == ["first"]
    aside = list((campaign.output / ".seilab" / "previous").glob("*-first"))
    assert len(aside) == 1
    assert (aside[0] / "first.txt").read_text() == "the old result"  # moved, not deleted
    assert (aside[0] / ".seilab" / "stages" / "first.json").is_file()
    assert (campaign.output / "first.txt").read_text() == "1"


def test_killed_forced_stage_is_not_taken_for_finished(campaign, owning_stages):
    campaign.output.mkdir(parents=True, exist_ok=True)
    (campaign.output / "crash-once").write_text("x")
    st.run_campaign(campaign)
    (campaign.output / "crash-once").unlink()  # the forced second stage dies this time
    with pytest.raises(RuntimeError, match="killed"):
        st.run_campaign(campaign, force=["second"])
    assert not st.is_done(campaign, owning_stages[1])
    stage_fixtures.CALLS.clear()
    records = st.run_campaign(campaign)  # a plain rerun redoes it (it is not skipped on an old marker)
    assert [r["skipped"] for r in records] == [True, False, True]


def test_changed_input_reruns_the_stage_that_read_it(campaign, owning_stages):
    campaign.output.mkdir(parents=True, exist_ok=True)
    (campaign.output / "crash-once").write_text("x")
    st.run_campaign(campaign)
    (campaign.output / "first.txt").write_text("written again by a standalone command")
    assert st.why_not_done(campaign, owning_stages[2]) == "input changed: first.txt"
    msgs = []
    records = st.run_campaign(campaign, progress=msgs.append)
    assert [r["skipped"] for r in records] == [True, True, False]
    assert any("third: runs again (input changed: first.txt)" in m for m in msgs)
    marker = json.loads(st.marker_path(campaign, "third").read_text())
    assert marker["inputs"]["first.txt"] == st.provenance.sha256_file(campaign.output / "first.txt")


@pytest.mark.slow
def test_jobflow_local_run_matches_seilab_run(tmp_path):
    from seilab.workflows.flows import run_flow_locally

    outs = {}
    for engine in ("local", "jobflow"):
        p = tmp_path / f"{engine}.yaml"
        p.write_text(textwrap.dedent(TINY).replace("output: out", f"output: out-{engine}"))
        c = load_config(p)
        if engine == "local":
            st.run_campaign(c, until="chemistry")
        else:
            recs = run_flow_locally(p, until="chemistry")
            assert recs and recs[-1]["stage"] == "chemistry"
        data = json.loads((c.output / "chemistry" / "reaction.json").read_text())
        data.pop("provenance")
        outs[engine] = data
    assert outs["local"] == outs["jobflow"]


FANOUT = """
name: fanout
output: out
reactants: {anode: Li_bcc, electrolyte: Li2S}
phases: [{name: Li_bcc}, {name: Li2S}]
sampling: {target_atoms: 16, amorphous_target_atoms: 12, md: {steps: 4, sample_every: 2}, amorphous_eos_steps: 2,
           amorphous_production_steps: 2, rattle_copies: 1, strain_volume_fractions: [-0.08],
           anisotropic_strain_copies: 0, interface_anode_millers: [[1, 0, 0]],
           interface_electrolyte_millers: [[1, 0, 0]], interface_rattle_copies: 0}
"""


@pytest.mark.slow
def test_labelling_fans_out_one_job_per_batch(tmp_path, monkeypatch):
    """The flow's labelling job becomes one job per batch of unlabelled structures: every sampled
    structure is labelled once by the real reference, and a rerun fans out to nothing."""
    from ase.calculators.lj import LennardJones
    from jobflow.managers.local import run_locally
    from pymatgen.io.ase import AseAtomsAdaptor

    from seilab.chemistry.library import build_bundled
    from seilab.reference.calculators import get_calculator
    from seilab.reference.labelling import store_for
    from seilab.reference.store import structure_hash
    from seilab.sampling import run_sampling, sampled_frames
    from seilab.workflows import flows

    p = tmp_path / "c.yaml"
    p.write_text(textwrap.dedent(FANOUT))
    c = load_config(p)
    phases = {n: AseAtomsAdaptor.get_atoms(build_bundled(n)) for n in ("Li_bcc", "Li2S")}
    # the sampling stage is not under test here: a Lennard-Jones stand-in makes its structures quickly
    run_sampling(c, phases=phases, factory=lambda: LennardJones(sigma=2.0, epsilon=0.02, rc=5.0, smooth=True),
                 progress=False)
    frames = sampled_frames(c)
    monkeypatch.setattr(flows, "LABEL_BATCH", 7)
    n_batches = -(-len(frames) // 7)
    assert n_batches >= 2, "the test needs more than one batch"

    def run_labelling_flow():
        flow = flows.campaign_flow(p, only=["labelling"])
        responses = run_locally(flow, create_folders=False, ensure_success=True, log=False)
        return [r for resp in responses.values() for r in resp.values()]

    first = run_labelling_flow()
    batch_outputs = [r.output for r in first if isinstance(r.output, dict) and "labelled" in r.output
                     and "stage" not in r.output]
    assert len(batch_outputs) == n_batches
    unique = {structure_hash(f) for f in frames}
    assert sum(o["labelled"] for o in batch_outputs) == len(unique)
    store = store_for(c)
    assert set(store.hashes()) == unique and len(store) == len(unique)
    # the labels are the reference's own numbers
    probe = frames[-1].copy()
    probe.calc = get_calculator(c.reference)
    stored = next(a for a in store.frames() if structure_hash(a) == structure_hash(frames[-1]))
    assert stored.get_potential_energy() == pytest.approx(probe.get_potential_energy(), abs=1e-4)

    again = run_labelling_flow()  # nothing left: no batch jobs, nothing labelled twice
    assert not [r for r in again if isinstance(r.output, dict) and "labelled" in r.output and "stage" not in r.output]
    assert len(store_for(c)) == len(unique)


def test_a_stage_whose_outputs_were_deleted_runs_again(campaign, monkeypatch):
    toy = (st.Stage("first", "stage_fixtures:first", ("chemistry",), outputs=("first.txt",)),
           st.Stage("third", "stage_fixtures:third", ("chemistry",)))
    monkeypatch.setattr(st, "STAGES", toy)
    stage_fixtures.CALLS.clear()
    st.run_campaign(campaign)
    assert st.is_done(campaign, toy[0]) and st.missing_outputs(campaign, toy[0]) == []
    assert [r["skipped"] for r in st.run_campaign(campaign)] == [True, True]
    (campaign.output / "first.txt").unlink()
    assert st.missing_outputs(campaign, toy[0]) == ["first.txt"] and not st.is_done(campaign, toy[0])
    assert [r["skipped"] for r in st.run_campaign(campaign)] == [False, True]
    assert stage_fixtures.CALLS == ["first", "third", "first"]


def test_every_pipeline_stage_names_its_outputs():
    assert all(s.outputs for s in st.STAGES)


def test_a_campaign_that_stops_still_writes_its_report(campaign, monkeypatch):
    from seilab.errors import SeilabError

    toy = tuple(st.Stage(n, f"stage_fixtures:{n}", ("chemistry",)) for n in ("first", "refused", "third", "report"))
    monkeypatch.setattr(st, "STAGES", toy)
    stage_fixtures.CALLS.clear()
    with pytest.raises(SeilabError, match="no potential passed validation"):
        st.run_campaign(campaign)
    assert stage_fixtures.CALLS == ["first", "refused", "report"]   # the report says where it stopped
    stage_fixtures.CALLS.clear()
    with pytest.raises(SeilabError):
        st.run_campaign(campaign, until="refused")                # a partial run asked for no report
    assert stage_fixtures.CALLS == ["refused"]


# the files each real stage hands on (what the STAGES' inputs name), written by stand-in stage functions
HANDOFFS = {"chemistry": ["chemistry/reaction.json"], "sampling": ["sampling/manifest.json"],
            "labelling": ["dataset/store.json"], "training": ["training/gen000/done.json"],
            "validation": ["validation/gen000/report.json", "validation/gate.json"],
            "learning": ["learning/state.json", "training/gen001/done.json", "validation/gen001/report.json"],
            "simulation": ["simulation/latest.json", "simulation/run-lammps-x/dump.lammpstrj"],
            "analysis": ["analysis/analysis.json"], "transport": ["transport/fluxes.json"],
            "report": ["report/index.html", "report/summary.json"]}


@pytest.fixture
def standin_stages(monkeypatch):
    """The real STAGES (settings sections, inputs, outputs, owned paths) with stand-in functions."""
    ran = []

    def load(self):
        from stage_fixtures import Result

        def fn(campaign, *, progress=None, **options):  # the stage contract (options: the stage table's)
            ran.append(self.name)
            for rel in HANDOFFS[self.name]:
                (campaign.output / rel).parent.mkdir(parents=True, exist_ok=True)
                (campaign.output / rel).write_text(self.name)
            return Result()
        return fn

    monkeypatch.setattr(st.Stage, "load", load)
    return ran


def test_real_stage_wiring_reruns_what_read_a_changed_file(campaign, standin_stages):
    st.run_campaign(campaign)
    assert standin_stages == st.stage_names()
    standin_stages.clear()
    assert all(r["skipped"] for r in st.run_campaign(campaign)) and standin_stages == []

    # `seilab simulate` run alone rewrote the trajectory: analysis and what follows it run again
    (campaign.output / "simulation/run-lammps-x/dump.lammpstrj").write_text("a longer run")
    st.run_campaign(campaign)
    assert standin_stages == ["analysis", "transport", "report"]

    # --force labelling: the dataset (its label cache) is moved aside, and every later stage reruns
    standin_stages.clear()
    st.run_campaign(campaign, force=["labelling"])
    assert standin_stages == st.stage_names()[2:]
    (aside,) = (campaign.output / ".seilab" / "previous").glob("*-labelling")
    assert (aside / "dataset" / "store.json").is_file()


@pytest.mark.parametrize("stage", st.stage_names())
def test_force_moves_aside_everything_a_stage_would_skip_from(campaign, standin_stages, stage):
    """After move_aside a stage has no outputs left to be skipped on; learning takes its refits
    (training/gen001, validation/gen001) but leaves the first fit and its validation."""
    st.run_campaign(campaign)
    s = st.get_stage(stage)
    st.move_aside(campaign, s)
    assert st.missing_outputs(campaign, s) == list(s.outputs)
    assert not st.marker_path(campaign, stage).exists()
    if stage == "learning":
        assert not (campaign.output / "training/gen001").exists()
        assert not (campaign.output / "validation/gen001").exists()
        assert (campaign.output / "training/gen000/done.json").is_file()
        assert (campaign.output / "validation/gen000/report.json").is_file()


def test_a_marker_without_input_hashes_is_not_trusted(campaign, owning_stages):
    campaign.output.mkdir(parents=True, exist_ok=True)
    (campaign.output / "crash-once").write_text("x")
    st.run_campaign(campaign)
    path = st.marker_path(campaign, "third")
    old = st.provenance.read_json(path)
    old.pop("inputs")  # as an earlier seilab wrote it
    st.provenance.write_json(path, old)
    assert st.why_not_done(campaign, owning_stages[2]) == "marker predates input hashes"
    assert st.is_done(campaign, owning_stages[0])  # a stage that reads no upstream file: its key decides


def test_production_rounds_run_learning_then_simulation_again_while_one_is_due(campaign, standin_stages,
                                                                               monkeypatch):
    """After the simulation, `seilab run` runs learning (the harvest) and simulation again while
    ``production_round_due`` gives a reason (here: twice), then goes on with analysis."""
    from seilab.learning import stage as learning_stage

    due = iter(["halted on γ, round 1 of 2", "halted on γ, round 2 of 2", None])
    monkeypatch.setattr(learning_stage, "production_round_due", lambda c: next(due))
    messages = []
    records = st.run_campaign(campaign, progress=messages.append)
    names = st.stage_names()
    i = names.index("simulation") + 1
    assert standin_stages == names[:i] + ["learning", "simulation"] * 2 + names[i:]
    assert [r["stage"] for r in records] == standin_stages
    assert "[6/10] learning: runs again (halted on γ, round 2 of 2)" in messages
    # nothing due: the rounds do not run, and a finished campaign stays skipped
    standin_stages.clear()
    monkeypatch.setattr(learning_stage, "production_round_due", lambda c: None)
    assert all(r["skipped"] for r in st.run_campaign(campaign)) and standin_stages == []


def test_analysis_workers_and_cluster_do_not_rerun_a_finished_analysis(campaign, standin_stages):
    """analysis.workers / cluster decide where frames are analysed, not the numbers (tests/analysis/
    test_parallel.py): a campaign finished serially is skipped when rerun on 2 Slurm workers; a real analysis
    setting still reruns the analysis and what reads it."""
    from seilab.cli.workflows import with_analysis_execution

    st.run_campaign(campaign)
    standin_stages.clear()
    parallel = with_analysis_execution(campaign, 2, "slurm")
    assert (parallel.analysis.workers, parallel.analysis.cluster) == (2, "slurm")
    assert all(r["skipped"] for r in st.run_campaign(parallel)) and standin_stages == []
    changed = with_analysis_execution(campaign, 2, None)
    changed = changed.model_copy(update={"analysis": changed.analysis.model_copy(update={"bin_width_A": 1.0})})
    st.run_campaign(changed)
    assert standin_stages == ["analysis", "transport", "report"]


def test_production_rounds_are_not_part_of_any_stage_key(campaign):
    """learning.production_rounds tells the runner whether to loop; no stage's result depends on it, so a
    finished campaign is not rerun when it changes (learning.harvest_budget does change the result)."""
    before = {s.name: st.stage_key(campaign, s) for s in st.STAGES}
    rounds = campaign.model_copy(update={"learning": campaign.learning.model_copy(update={"production_rounds": 3})})
    assert {s.name: st.stage_key(rounds, s) for s in st.STAGES} == before
    budget = campaign.model_copy(update={"learning": campaign.learning.model_copy(update={"harvest_budget": 48})})
    changed = [s.name for s in st.STAGES if st.stage_key(budget, s) != before[s.name]]
    assert changed == st.stage_names()[st.stage_names().index("learning"):]


def test_the_report_reruns_when_a_hand_off_it_shows_changes(campaign):
    """`seilab simulate` alone writes simulation/latest.json but no runner marker: the report's inputs include the
    hand-offs it shows, so `seilab run --only report` notices (its inputs were the markers only)."""
    from seilab import layout as L

    report = next(s for s in st.STAGES if s.name == "report")
    latest = campaign.layout.simulation_latest
    latest.parent.mkdir(parents=True, exist_ok=True)
    latest.write_text('{"status": "halted"}')
    before = st.input_hashes(campaign, report)
    assert before[L.SIMULATION_LATEST] == st.provenance.sha256_file(latest)
    latest.write_text('{"status": "halted", "halt_diagnosis": {}}')
    assert st.input_hashes(campaign, report)[L.SIMULATION_LATEST] != before[L.SIMULATION_LATEST]
    assert {L.GATE, L.ANALYSIS, L.FLUXES, L.AUDIT} <= set(report.inputs)
