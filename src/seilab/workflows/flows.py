"""The campaign as a jobflow ``Flow``: one job per stage, chained in pipeline order.

Locally the flow runs with ``jobflow.run_locally``; on a cluster submit the same flow with
jobflow-remote (``jf`` CLI, see the README). Jobs take the config *path* (a string), so each runs
anywhere the campaign's output folder is visible, and they share results through the files every stage
writes, exactly like ``seilab run``. Labelling fans out: the labelling job replaces itself by one job per
batch of unlabelled structures.
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
            finish = stage_job(config, "labelling-finish", [j.output for j in jobs])
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
    from seilab.workflows.runners import label_indices

    return label_indices(load_config(config), batch)


def labelling_batches(config: str) -> list[list[int]]:
    from seilab.config import load_config
    from seilab.workflows.runners import unlabelled_indices

    campaign = load_config(config)
    todo = unlabelled_indices(campaign)
    return [todo[i:i + LABEL_BATCH] for i in range(0, len(todo), LABEL_BATCH)]


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


__all__ = ["campaign_flow", "run_flow_locally", "stage_job", "label_batch_job", "STAGES"]
