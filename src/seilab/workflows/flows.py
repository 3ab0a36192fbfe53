"""The campaign as a jobflow ``Flow``: one job per stage, chained in pipeline order.

Locally the flow runs with ``jobflow.run_locally``; on a cluster :func:`submit_campaign` (``seilab submit
CONFIG --project P --worker W``) puts the same flow in jobflow-remote's queue, each stage's job carrying
the resources of the campaign's ``cluster:`` section (:mod:`seilab.settings.cluster`), and jobflow-remote's runner
(the ``jf runner`` daemon) submits them to the worker's batch system. Jobs take the config *path* (a
string), so each runs anywhere the campaign's output folder is visible, and they share results through the
files every stage writes, exactly like ``seilab run``. Labelling fans out: the labelling job replaces itself
by one job per batch of unlabelled structures (``cluster.label_batch_structures``), which inherit its
worker and resources.
"""

from __future__ import annotations

from pathlib import Path

from jobflow import Flow, Response, job

from seilab.workflows.stages import STAGES, get_stage, stage_names

#: Structures per labelling job when the labelling stage fans out.
LABEL_BATCH = 50


@job
def stage_job(config: str, stage: str, after: list | None = None) -> dict:
    """Run one stage of the campaign in ``config`` (skipped when already done)."""
    from seilab.config import load_config
    from seilab.lock import campaign_lock
    from seilab.workflows.stages import run_stage

    if stage == "labelling":
        batches = labelling_batches(config)
        if len(batches) > 1:
            jobs = [label_batch_job(config, b) for b in batches]
            for k, j in enumerate(jobs):
                j.name = f"seilab-labelling-batch-{k + 1}"
            finish = stage_job(config, "labelling-finish", [j.output for j in jobs])
            finish.name = "seilab-labelling-finish"
            return Response(replace=Flow(jobs + [finish], output=finish.output))
    if stage == "labelling-finish":
        stage = "labelling"
    campaign = load_config(config)
    with campaign_lock(campaign.output):  # one writer per campaign, as for `seilab run`
        rec = run_stage(campaign, get_stage(stage))
    return {"stage": rec["stage"], "seconds": rec["seconds"], "skipped": rec["skipped"], "summary": rec["summary"]}


@job
def label_batch_job(config: str, batch: list[int]) -> dict:
    """Label one batch of sampled structures (indices into the sampling manifest)."""
    from seilab.config import load_config
    from seilab.labelling.stage import label_batch

    return label_batch(load_config(config), batch).summary()


def labelling_batches(config: str) -> list[list[int]]:
    from seilab.config import load_config
    from seilab.labelling.stage import unlabelled_indices

    campaign = load_config(config)
    todo = unlabelled_indices(campaign)
    size = campaign.cluster.label_batch_structures or LABEL_BATCH
    return [todo[i:i + size] for i in range(0, len(todo), size)]


def campaign_flow(config: str | Path, only: list[str] | None = None, until: str | None = None) -> Flow:
    """The flow graph: one job per stage in pipeline order, each depending on the one before."""
    config = str(Path(config).resolve())
    jobs = []
    for name in stage_names():
        if only and name not in only:
            continue
        j = stage_job(config, name, [jobs[-1].output] if jobs else None)
        j.name = f"seilab-{name}"
        jobs.append(j)
        if name == until:
            break
    return Flow(jobs, output=[j.output for j in jobs], name="seilab-campaign")


def run_flow_locally(config: str | Path, only: list[str] | None = None, until: str | None = None) -> list[dict]:
    """Run the campaign flow in this process with ``jobflow.run_locally``; returns stage records."""
    from jobflow.managers.local import run_locally

    flow = campaign_flow(config, only=only, until=until)
    responses = run_locally(flow, create_folders=False, ensure_success=True, log=False)
    records = []
    for j in flow.jobs:
        resp = responses.get(j.uuid, {})
        out = max(resp.items())[1].output if resp else None
        if isinstance(out, dict):
            records.append(out)
    return records


def stage_resources(campaign, stage: str) -> dict:
    """The resources the campaign asks for ``stage``'s job: ``cluster.stages[stage]`` over
    ``cluster.default``; the simulation (learning) stage's MPI ranks default to ``simulation.mpi_ranks``
    (``learning.mpi_ranks``, each LAMMPS exploration run's) and must equal it: that is how many ranks
    ``mpirun -np`` starts inside the allocation. Unset keys are left out."""
    from seilab.errors import SeilabError

    unknown = sorted(set(campaign.cluster.stages) - set(stage_names()))
    if unknown:
        raise SeilabError(f"cluster.stages: unknown stage {unknown[0]!r} (stages: {', '.join(stage_names())})")
    res = {k: v for k, v in campaign.cluster.default.model_dump().items() if v is not None}
    own = campaign.cluster.stages.get(stage)
    if own is not None:
        res.update({k: v for k, v in own.model_dump().items() if v is not None})
    if stage in ("simulation", "learning"):  # the stages whose MD runs under mpirun (seilab.md's LAMMPS engine)
        ranks = getattr(campaign, stage).mpi_ranks
        if own is not None and own.mpi_ranks is not None and own.mpi_ranks != ranks:
            raise SeilabError(f"cluster.stages.{stage}.mpi_ranks: {own.mpi_ranks} differs from "
                              f"{stage}.mpi_ranks ({ranks}), the ranks mpirun starts")
        if ranks > 1 or "mpi_ranks" in res:
            res["mpi_ranks"] = ranks
    return res


def worker_resources(res: dict, worker):
    """``res`` (from :func:`stage_resources`) as the job resources of a jobflow-remote ``worker``: a qtoolkit
    ``QResources`` (one task unless ``mpi_ranks`` says more) whose ``scheduler_kwargs`` keep the worker's own ``resources`` (partition, account, ...)
    except the keys that ``res`` sets. None when there is nothing to ask, or on a ``shell`` worker (which
    reserves nothing: jobs run as plain processes)."""
    from qtoolkit.core.data_objects import QResources

    if not res or worker.scheduler_type == "shell":
        return None
    q = QResources(processes=res.get("mpi_ranks", 1), threads_per_process=res.get("cores_per_rank"),
                   time_limit=int(round(res["walltime_min"] * 60)) if "walltime_min" in res else None,
                   memory_per_thread=res.get("memory_per_core_MB"))
    io = worker.get_scheduler_io()
    ours = set(io.check_convert_qresources(q))
    kept = {k: v for k, v in dict(worker.resources or {}).items() if k not in ours}
    if kept:
        q.scheduler_kwargs = kept
    return q


def set_stage_resources(flow: Flow, campaign, worker) -> dict:
    """Attach each stage's resources to its job in ``flow`` for ``worker`` (jobs generated at run time,
    the labelling batches, inherit them); returns ``{job name: QResources or None}``."""
    from jobflow_remote import set_run_config

    out = {}
    for j in flow.jobs:
        stage = j.name.removeprefix("seilab-")
        q = worker_resources(stage_resources(campaign, stage), worker)
        if q is not None:
            set_run_config(j, resources=q)
        out[j.name] = q
    return out


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def submit_campaign(config: str | Path, project: str | None = None, worker: str | None = None,
                    only: list[str] | None = None, until: str | None = None, job_controller=None) -> list[str]:
    """Put the campaign flow in jobflow-remote's queue of ``project`` for ``worker`` (the project's first
    worker when None), each stage's job with its ``cluster:`` resources; returns the queue's job ids.

    ``jf runner start`` (jobflow-remote's daemon) then submits and follows the jobs; ``jf job list`` shows
    them. ``job_controller`` (a jobflow-remote ``JobController``) replaces the project's queue, as the tests
    do with an in-process Runner. Errors (no such project or worker, bad resources) are one-line
    :class:`~seilab.errors.SeilabError`.
    """
    from seilab.config import load_config
    from seilab.errors import SeilabError

    campaign = load_config(config)
    try:
        from jobflow_remote import ConfigManager

        proj = ConfigManager().get_project(project)
    except ImportError:
        raise SeilabError("seilab submit needs jobflow-remote (pip install jobflow-remote==1.0.1)") from None
    except Exception as exc:  # jobflow-remote's ConfigError and friends: no project, a broken project file
        raise SeilabError(f"jobflow-remote project {project or '(default)'}: {_one_line(exc)}") from None
    if worker is None:
        if not proj.workers:
            raise SeilabError(f"jobflow-remote project {proj.name}: no workers configured")
        worker = next(iter(proj.workers))
    if worker not in proj.workers:
        raise SeilabError(f"--worker {worker}: not a worker of jobflow-remote project {proj.name} "
                          f"(workers: {', '.join(sorted(proj.workers)) or 'none'})")
    flow = campaign_flow(config, only=only, until=until)
    try:
        set_stage_resources(flow, campaign, proj.workers[worker])
    except SeilabError:
        raise
    except Exception as exc:  # qtoolkit: a resource the worker's scheduler cannot express
        raise SeilabError(f"cluster: worker {worker} ({proj.workers[worker].scheduler_type}): {_one_line(exc)}") from None
    controller = job_controller if job_controller is not None else proj.get_job_controller()
    return controller.add_flow(flow, worker=worker)


__all__ = ["campaign_flow", "run_flow_locally", "submit_campaign", "stage_resources", "set_stage_resources",
           "stage_job", "label_batch_job", "STAGES"]
