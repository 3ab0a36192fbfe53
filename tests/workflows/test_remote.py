"""The campaign through jobflow-remote, on a `shell` and on a `slurm` worker, and LAMMPS on 2 MPI ranks
inside a Slurm allocation.

What runs: the project file users start from (examples/jobflow-remote-project.yaml: its `slurm` worker and
a `shell` copy of it, both `type: local`), with this machine's paths; `seilab.workflows.flows.submit_campaign`
(what `seilab submit` calls) puts a tiny campaign's flow (chemistry → sampling → labelling, the labelling
fanned out into three batch jobs) in the queue with each stage's `cluster:` resources; jobflow-remote's
`Runner` (driven in this process with `run_all_jobs`) submits every job to the worker's scheduler (on
Slurm: `sbatch`; `scripts/slurm-up.sh` starts a one-node cluster), downloads and completes them. Checked:
every job COMPLETED, and the outputs (reaction, sampled structures, labels) equal `seilab run`'s on the
same campaign file.

What it does NOT cover here: the MongoDB queue and the `jf` daemon/CLI (`jf runner start`, `jf job list`,
`jf admin reset`): no MongoDB server can be installed on this machine (../shared/STACK.md, "Distributed
engines"), so the queue is a `MemoryStore` (mongomock) and the jobstore a file-backed `MontyStore`.
With SEILAB_MONGO_URI=mongodb://... set, both are real MongoDB stores (`MongoURIStore`, a database of
their own, dropped afterwards) instead. Nor remote (ssh) workers or more than one node.

The Slurm tests skip with a reason only when `sinfo` is absent or the cluster is not up (run
`bash scripts/slurm-up.sh`, as root); the LAMMPS one also when no LAMMPS with ML-PACE and MPI is built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import yaml

from fixtures.slurm import slurm_up

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "jobflow-remote-project.yaml"
PROJECT = "seilab-test"

CAMPAIGN = """
name: remote
output: out
reactants: {anode: Li_bcc, electrolyte: Li2S}
phases: [{name: Li_bcc}, {name: Li2S}, {name: S_alpha}]
chemistry: {relax_max_steps: 20, relax_fmax_eV_per_A: 0.2}
sampling: {phases: [Li_bcc, Li2S], md: {temperatures_K: [600], steps: 4, sample_every: 2},
           interface_md_temperatures_K: [600], target_atoms: 16, amorphous_target_atoms: 12, amorphous_eos_steps: 2,
           amorphous_production_steps: 2, rattle_copies: 1, strain_volume_fractions: [-0.08],
           anisotropic_strain_copies: 0, interface_anode_millers: [[1, 0, 0]],
           interface_electrolyte_millers: [[1, 0, 0]], interface_rattle_copies: 0}
cluster:
  default: {cores_per_rank: 1, walltime_min: 10}
  label_batch_structures: 6
  stages:
    sampling: {walltime_min: 15}
"""
UNTIL = "labelling"


def _stores(root: Path) -> tuple[dict, dict, str | None]:
    uri = os.environ.get("SEILAB_MONGO_URI")
    if uri:
        db = f"seilab_test_{uuid.uuid4().hex[:8]}"
        return ({"store": {"type": "MongoURIStore", "uri": uri, "database": db, "collection_name": "jobs"}},
                {"docs_store": {"type": "MongoURIStore", "uri": uri, "database": db, "collection_name": "outputs"}},
                db)
    # a file-backed jobstore: an in-memory one fails with "Cannot use MongoClient after close"
    return ({"store": {"type": "MemoryStore", "collection_name": "jobs"}},
            {"docs_store": {"type": "MontyStore", "database_path": str(root / "jobstore"), "database_name": "seilab",
                            "collection_name": "outputs", "storage": "sqlite"}},
            None)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """examples/jobflow-remote-project.yaml with this machine's paths, and a `shell` copy of its worker."""
    import jobflow_remote

    root = tmp_path_factory.mktemp("jfremote")
    spec = yaml.safe_load(EXAMPLE.read_text())
    slurm = spec["workers"]["slurm"]
    assert (slurm["type"], slurm["scheduler_type"]) == ("local", "slurm")  # what the README tells users
    env = {"PATH": f"{Path(sys.executable).parent}:$PATH",  # the venv's python and `jf`
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "tests"), str(REPO / "tests" / "workflows")]),
           "OMP_NUM_THREADS": "1", "SEILAB_SLURM_DIR": os.environ.get("SEILAB_SLURM_DIR", "/tmp/seilab-slurm")}
    if os.environ.get("SEILAB_TEST_CACHE"):
        env["SEILAB_TEST_CACHE"] = os.environ["SEILAB_TEST_CACHE"]
    pre_run = "\n".join(f"export {k}={v}" for k, v in env.items())
    pre_run += '\nexport SLURM_CONF=${SLURM_CONF:-$SEILAB_SLURM_DIR/slurm.conf}\n'
    slurm.update(work_dir=str(root / "work-slurm"), pre_run=pre_run)
    spec["workers"]["shell"] = {**slurm, "scheduler_type": "shell", "work_dir": str(root / "work-shell")}
    spec["workers"]["shell"].pop("resources")  # a shell worker reserves nothing
    spec["queue"], spec["jobstore"], db = _stores(root)
    spec.update(name=PROJECT, base_dir=str(root / "base"),
                runner={k: 1 for k in ("delay_checkout", "delay_check_run_status", "delay_advance_status",
                                       "delay_refresh_limited", "delay_update_batch")})  # defaults: 30 s
    (root / "projects").mkdir()
    (root / "projects" / f"{PROJECT}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    old = jobflow_remote.SETTINGS.projects_folder  # read at import: set it on the object
    jobflow_remote.SETTINGS.projects_folder = str(root / "projects")
    yield root
    jobflow_remote.SETTINGS.projects_folder = old
    if db:
        import pymongo

        pymongo.MongoClient(os.environ["SEILAB_MONGO_URI"]).drop_database(db)


def _write_campaign(folder: Path, name: str) -> Path:
    p = folder / f"{name}.yaml"
    p.write_text(textwrap.dedent(CAMPAIGN).replace("output: out", f"output: out-{name}"))
    return p


def outputs(config: Path) -> dict:
    """What the three stages produced: the reaction (less provenance), the sampled structures in order,
    and every label (structure hash → energy, max |force|)."""
    import numpy as np

    from seilab.config import load_config
    from seilab.reference.labelling import store_for
    from seilab.reference.store import structure_hash
    from seilab.sampling import sampled_frames

    c = load_config(config)
    reaction = json.loads((c.output / "chemistry" / "reaction.json").read_text())
    reaction.pop("provenance")
    labels = {structure_hash(a): (round(a.get_potential_energy(), 6), round(float(np.abs(a.get_forces()).max()), 5))
              for a in store_for(c).frames()}
    return {"reaction": reaction, "sampled": [structure_hash(f) for f in sampled_frames(c)], "labels": labels}


@pytest.fixture(scope="module")
def seilab_run(tmp_path_factory):
    """`seilab run` on the campaign (a subprocess, with the workers' OMP_NUM_THREADS=1)."""
    folder = tmp_path_factory.mktemp("seilab-run")
    config = _write_campaign(folder, "local")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    t0 = time.time()
    out = subprocess.run([sys.executable, "-m", "seilab.cli", "run", str(config), "--until", UNTIL], env=env,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    print(f"seilab run: {time.time() - t0:.1f} s")
    return outputs(config)


def run_in_runner(worker: str, submit):
    """Reset the queue, ``submit(job_controller)``, run every job with an in-process Runner; returns
    {job name: [state, ...]} of every job in the queue, the seconds it took, and the runner."""
    from jobflow_remote.jobs.runner import Runner

    runner = Runner(project_name=PROJECT)
    runner.job_controller.reset(max_limit=0)
    t0 = time.time()
    submit(runner.job_controller)
    runner.run_all_jobs(max_seconds=900)
    states = {}
    for info in runner.job_controller.get_jobs_info():
        states.setdefault(info.name, []).append(info.state.value)
        assert info.worker == worker and info.remote.process_id  # a pid (shell) or a Slurm job id
        script = (Path(info.run_dir) / "submit.sh").read_text()
        assert ("#SBATCH" in script) == (worker == "slurm"), script  # sbatch's script on the slurm worker
    return states, time.time() - t0, runner


@pytest.mark.slow
@pytest.mark.parametrize("worker", ["shell", "slurm"])
def test_campaign_through_jobflow_remote_matches_seilab_run(worker, project, seilab_run, tmp_path):
    if worker == "slurm" and (why := slurm_up()):
        pytest.skip(why)
    from seilab.workflows.flows import submit_campaign

    config = _write_campaign(tmp_path, worker)
    states, seconds, _ = run_in_runner(worker, lambda jc: submit_campaign(config, project=PROJECT, worker=worker,
                                                                          until=UNTIL, job_controller=jc))
    print(f"{worker}: {sum(map(len, states.values()))} jobs in {seconds:.1f} s")
    batches = sorted(n for n in states if n.startswith("seilab-labelling-batch-"))
    assert len(batches) == 3, states  # 17 structures in batches of 6
    # store_inputs: jobflow's own job that hands the replaced labelling job's output on to its children
    assert set(states) == {"seilab-chemistry", "seilab-sampling", "seilab-labelling", "seilab-labelling-finish",
                           "store_inputs", *batches}
    assert all(s == ["COMPLETED"] for s in states.values()), states
    got = outputs(config)
    assert got["reaction"] == seilab_run["reaction"]
    assert got["sampled"] == seilab_run["sampled"]
    assert got["labels"].keys() == seilab_run["labels"].keys()
    for h, (e, f) in seilab_run["labels"].items():
        assert got["labels"][h] == pytest.approx((e, f), abs=2e-5), h


def test_stage_resources_reach_the_slurm_submission_script(project, tmp_path):
    """The campaign's cluster: resources (and the worker's partition) are the #SBATCH lines Slurm gets;
    a shell worker gets none. Nothing runs: the jobs stay in the queue."""
    import jobflow_remote
    from jobflow_remote.jobs.runner import Runner

    from seilab.config import load_config
    from seilab.workflows.flows import campaign_flow, set_stage_resources

    config = _write_campaign(tmp_path, "script")
    campaign = load_config(config)
    proj = jobflow_remote.ConfigManager().get_project(PROJECT)
    flow = campaign_flow(config, until=UNTIL)
    res = set_stage_resources(flow, campaign, proj.workers["slurm"])
    io = proj.workers["slurm"].get_scheduler_io()
    header = io.get_submission_script(["true"], res["seilab-sampling"])
    assert "#SBATCH --time=0-0:15:0" in header and "#SBATCH --cpus-per-task=1" in header
    assert "#SBATCH --partition=debug" in header  # the worker's own resources are kept
    assert io.get_submission_script(["true"], res["seilab-chemistry"]).count("--time=0-0:10:0") == 1
    assert set(set_stage_resources(campaign_flow(config, until=UNTIL), campaign, proj.workers["shell"]).values()) == {None}
    runner = Runner(project_name=PROJECT)
    runner.job_controller.reset(max_limit=0)
    from seilab.workflows.flows import submit_campaign

    ids = submit_campaign(config, project=PROJECT, worker="slurm", until=UNTIL, job_controller=runner.job_controller)
    assert len(ids) == 3
    sampling = next(i for i in runner.job_controller.get_jobs_info() if i.name == "seilab-sampling")
    doc = runner.job_controller.get_job_doc(db_id=sampling.db_id)
    assert doc.resources.time_limit == 15 * 60 and doc.resources.scheduler_kwargs == {"partition": "debug"}


def test_submit_errors_are_one_line(project, tmp_path):
    from seilab.errors import SeilabError
    from seilab.workflows.flows import submit_campaign

    config = _write_campaign(tmp_path, "errors")
    with pytest.raises(SeilabError, match=r"--worker gpu: not a worker of jobflow-remote project seilab-test "
                                          r"\(workers: shell, slurm\)"):
        submit_campaign(config, project=PROJECT, worker="gpu")
    with pytest.raises(SeilabError, match="jobflow-remote project nowhere: ") as exc:
        submit_campaign(config, project="nowhere", worker="slurm")
    assert "\n" not in str(exc.value)
    bad = tmp_path / "bad.yaml"
    bad.write_text(config.read_text().replace("    sampling: {walltime_min: 15}", "    smapling: {walltime_min: 15}"))
    with pytest.raises(SeilabError, match="cluster.stages: unknown stage 'smapling'"):
        submit_campaign(bad, project=PROJECT, worker="slurm")
    mpi = tmp_path / "mpi.yaml"
    mpi.write_text(config.read_text().replace("    sampling: {walltime_min: 15}", "    simulation: {mpi_ranks: 4}"))
    with pytest.raises(SeilabError, match=r"cluster.stages.simulation.mpi_ranks: 4 differs from simulation.mpi_ranks \(1\)"):
        submit_campaign(mpi, project=PROJECT, worker="slurm")


@pytest.mark.slow
def test_lammps_on_two_mpi_ranks_inside_a_slurm_allocation(project, tmp_path):
    """One LAMMPS ML-PACE job through the slurm worker with the resources of `mpi_ranks: 2`: Slurm
    allocates 2 tasks, mpirun starts 2 ranks inside it, and the energies equal a serial run's."""
    if why := slurm_up():
        pytest.skip(why)
    from seilab.md.lammps import build_info, find_lmp

    lmp = find_lmp()
    if lmp is None:
        pytest.skip("LAMMPS with ML-PACE not built (make lammps)")
    if not build_info(lmp).get("mpi"):
        pytest.skip(f"{lmp} was built without MPI")
    import jobflow_remote
    from ase.io import write

    from fixtures.simulation import demo_potential
    from remote_jobs import lammps_md
    from seilab.simulation.interface import build_interface, bulk_phases
    from seilab.workflows.flows import worker_resources

    import tempfile

    cache = Path(os.environ.get("SEILAB_TEST_CACHE") or Path(tempfile.gettempdir()) / "seilab-test-cache")
    pot = demo_potential(cache / "simulation", functions_per_element=12, per_phase=5, interfaces=2, maxiter=30)
    bulk = bulk_phases(None)
    atoms = build_interface(bulk["Li_bcc"], bulk["Li7P3S11"], 300, aspect_ratio=1.0,
                            anode_name="Li_bcc", electrolyte_name="Li7P3S11")
    structure = tmp_path / "interface.extxyz"
    write(structure, atoms)
    serial = lammps_md.original(str(structure), str(pot.yaml), str(tmp_path / "serial"), 1)
    assert serial["procs"] == [1]

    proj = jobflow_remote.ConfigManager().get_project(PROJECT)
    j = lammps_md(str(structure), str(pot.yaml), str(tmp_path / "mpi"), 2)
    q = worker_resources({"mpi_ranks": 2, "walltime_min": 5}, proj.workers["slurm"])
    states, seconds, runner = run_in_runner("slurm", lambda jc: jc.add_flow(j, worker="slurm", resources=q))
    print(f"LAMMPS on 2 ranks through Slurm: {seconds:.1f} s")
    assert states == {"lammps_md": ["COMPLETED"]}
    runner.jobstore.connect()
    out = runner.jobstore.get_output(j.uuid)
    assert out["slurm_job"] and out["slurm_ntasks"] == "2"  # inside an allocation of 2 tasks
    assert out["procs"] == [2] and out["status"] == "finished" and out["steps"] == 10
    assert out["pe0_eV"] == pytest.approx(serial["pe0_eV"], abs=1e-6)
    assert out["etot_eV"] == pytest.approx(serial["etot_eV"], abs=1e-4)
