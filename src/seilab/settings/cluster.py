"""Settings of a campaign on a cluster (the ``cluster:`` section of the campaign YAML).

What each stage's job asks of the batch system when the campaign is submitted with jobflow-remote
(``seilab submit CONFIG --project P --worker W``, :func:`seilab.workflows.flows.submit_campaign`): cores
per rank, MPI ranks, wall time and memory, for every stage (``default``) and per stage (``stages``).
They become the job's qtoolkit resources (on Slurm: ``--ntasks``, ``--cpus-per-task``, ``--time``,
``--mem-per-cpu``); the worker's own ``resources`` (partition, account, ...) are kept beside them.
A ``shell`` worker reserves nothing, so there they are not used. ``seilab run`` ignores the section, except
that an analysis on a Slurm Dask cluster (``analysis.cluster: slurm``) sizes its worker jobs by the analysis
stage's entry (:mod:`seilab.analysis.parallel`).

Import-light on purpose (pydantic only): a shared leaf below the campaign model (:mod:`seilab.config`),
like :mod:`seilab.settings.base`. Stage names are checked when the flow is built (``seilab.workflows``).

Example::

    cluster:
      default: {cores_per_rank: 1, walltime_min: 60}
      label_batch_structures: 20          # labelling fans out into one job per 20 structures
      stages:
        training: {cores_per_rank: 8, walltime_min: 240}
        simulation: {mpi_ranks: 64, walltime_min: 720}   # equals simulation.mpi_ranks (mpirun -np)
"""

from __future__ import annotations

from pydantic import Field

from seilab.settings.base import Settings


class StageResources(Settings):
    """What one stage's job reserves; unset fields fall back to ``cluster.default``, then the worker's."""

    mpi_ranks: int | None = Field(None, ge=1, le=65536, description="MPI ranks (Slurm --ntasks); for the "
                                  "simulation (learning) stage it defaults to, and must equal, simulation.mpi_ranks "
                                  "(learning.mpi_ranks)")
    cores_per_rank: int | None = Field(None, ge=1, le=1024, description="cores per rank (Slurm --cpus-per-task)")
    walltime_min: float | None = Field(None, gt=0, le=525600, description="wall-clock limit, minutes (Slurm --time)")
    memory_per_core_MB: int | None = Field(None, ge=1, description="memory per core, MB (Slurm --mem-per-cpu)")


class ClusterSettings(Settings):
    """Per-stage resources of the campaign's jobs on a batch system, and the labelling fan-out."""

    default: StageResources = Field(default_factory=StageResources, description="every stage's job")
    stages: dict[str, StageResources] = Field(default_factory=dict, description="stage name -> its job's resources")
    label_batch_structures: int | None = Field(None, ge=1, le=100000, description="structures per labelling "
                                               "job when the labelling stage fans out (default 50)")

    def for_stage(self, stage: str) -> StageResources:
        """The resources of ``stage``'s job: its own fields over ``default`` (unset ones stay None)."""
        own = self.stages.get(stage)
        merged = self.default.model_dump()
        if own is not None:
            merged.update({k: v for k, v in own.model_dump().items() if v is not None})
        return StageResources(**merged)


__all__ = ["ClusterSettings", "StageResources"]
