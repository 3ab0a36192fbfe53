"""The campaign's stages in pipeline order, and the runner behind ``seilab run``.

Each stage is a function ``run_<stage>(campaign, *, progress=None)`` in its own subpackage, returning a
result with a ``summary()`` (:mod:`seilab.results`). The runner calls them in order and writes a completion
marker ``<output>/.seilab/stages/<name>.json`` after each one finishes: that summary, its wall time, a key of
the settings it ran with and the SHA-256 of every upstream file it read (``Stage.inputs``). A stage is
skipped only when its marker exists with the same key, its main outputs are still on disk and its inputs
are unchanged, so

* a rerun after a crash continues with the stage that was interrupted (which itself resumes from its own
  files): the marker of a stage is removed before the stage starts, so a stage killed mid-way is never
  taken for finished;
* a stage whose outputs were deleted, or whose upstream output changed (a re-run simulation under an
  old analysis), runs again;
* ``--force`` moves the stage's previous result aside (``.seilab/previous/<time>-<stage>/``, never
  deleted) and redoes it from nothing, caches included.

``run_campaign`` holds a lock on the output folder (``.seilab/lock``, see :mod:`seilab.lock`) so two
runs never write one campaign at once.
"""

from __future__ import annotations

import importlib
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from seilab import provenance
from seilab.errors import SeilabError
from seilab.lock import campaign_lock
from seilab import layout as L
from seilab.layout import STAGE_ORDER
from seilab.results import StageResult


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: where its function lives and which config sections determine it."""

    name: str
    target: str  # "module:run_<stage>", called as run_<stage>(campaign, progress=..., **options)
    sections: tuple[str, ...]  # campaign sections its result depends on (for the skip key)
    description: str = ""
    outputs: tuple[str, ...] = ()  # paths under the campaign output that must exist for "done"
    inputs: tuple[str, ...] = ()  # upstream files (globs under the output) whose content it depends on
    owns: tuple[str, ...] = ()  # what --force moves aside (globs under the output)
    options: tuple[tuple[str, object], ...] = ()  # keyword arguments of the campaign's stage (training: generation 0)

    def load(self) -> Callable:
        module, func = self.target.split(":")
        return getattr(importlib.import_module(module), func)

    def run(self, campaign, progress: Callable[[str], None] | None = None) -> StageResult:
        """The stage's work, as the runner does it (no marker, no skip): its result (``.summary()``)."""
        return self.load()(campaign, progress=progress, **dict(self.options))


def _after(stage: str) -> str:
    """The marker of an earlier stage as an input: rewritten whenever that stage runs again, so what ran
    after it reruns too (its own caches then decide how much is really redone)."""
    return f"{L.MARKERS}/{stage}.json"


#: Pipeline order. Each stage only reads files that earlier stages wrote.
STAGES: tuple[Stage, ...] = (
    Stage("chemistry", "seilab.chemistry.stage:run_chemistry", ("phases", "reactants", "chemistry", "reference"),
          "phases, relaxations, phase diagram, interface reaction", (L.REACTION,),
          owns=("chemistry",)),
    Stage("sampling", "seilab.sampling.pipeline:run_sampling", ("sampling",), "first-generation structures",
          (L.SAMPLING_MANIFEST,), inputs=(_after("chemistry"), L.REACTION), owns=("sampling",)),
    Stage("labelling", "seilab.labelling.stage:run_labelling", ("reference",), "reference single points",
          (L.DATASET_STORE,), inputs=(_after("sampling"), L.SAMPLING_MANIFEST), owns=(L.DATASET,)),
    Stage("training", "seilab.training.stage:run_training", ("training",), "ACE fit (pacemaker or linear ACE)",
          ("training",), inputs=(_after("labelling"), L.DATASET_STORE), owns=("training",),
          options=(("generation", 0),)),  # the first fit; the refits are learning's
    Stage("validation", "seilab.validation.stage:run_validation", ("validation",), "validation report",
          ("validation",), inputs=(_after("training"), "training/gen000/done.json"), owns=("validation",)),
    Stage("learning", "seilab.learning.stage:run_learning", ("learning",), "active learning generations",
          (L.LEARNING_STATE,),
          inputs=(_after("validation"), "training/gen000/done.json", "validation/gen000/report.json"),
          # the refits are the learning stage's products, though they live beside the first fit
          owns=("learning", "training/gen00[1-9]", "training/gen0[1-9]?", "training/gen[1-9]??",
                "validation/gen00[1-9]", "validation/gen0[1-9]?", "validation/gen[1-9]??")),
    Stage("simulation", "seilab.simulation.stage:run_simulation", ("simulation", "gate"), "interface MD",
          (L.SIMULATION_LATEST,), inputs=(_after("learning"), L.GATE), owns=("simulation",),
          options=(("audit", True),)),  # and the audit of the potential on the run (simulation.audit)
    Stage("analysis", "seilab.analysis.stage:run_analysis", ("analysis",), "interphase analysis",
          (L.ANALYSIS,), inputs=(_after("simulation"), L.SIMULATION_LATEST, "simulation/run-*/dump.lammpstrj",
                                               "simulation/run-*/trajectory.extxyz"), owns=("analysis",)),
    Stage("transport", "seilab.transport.stage:run_transport", ("transport",), "Onsager transport",
          (L.FLUXES,), inputs=(_after("analysis"), L.REACTION, L.GATE,
                                              L.ANALYSIS), owns=("transport",)),
    Stage("report", "seilab.report.build:run_report", (), "HTML report + summary.json",
          (L.REPORT_HTML, L.REPORT_SUMMARY),
          # the runner's markers, and the hand-offs it shows (a stage run alone, e.g. `seilab simulate`, writes
          # no marker but changes its hand-off)
          inputs=(f"{L.MARKERS}/*.json", L.GATE, L.LEARNING_SUMMARY, L.SIMULATION_LATEST, L.AUDIT, L.ANALYSIS,
                  L.FLUXES, L.TRANSPORT_SUMMARY), owns=("report",)),
)


if tuple(s.name for s in STAGES) != STAGE_ORDER:  # pragma: no cover - a programming error, caught on import
    raise ImportError("seilab.workflows.stages.STAGES is not in seilab.layout.STAGE_ORDER")


def stage_names() -> list[str]:
    return [s.name for s in STAGES]


def get_stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise SeilabError(f"unknown stage {name!r}; stages are: {', '.join(stage_names())}")


def marker_path(campaign, name: str) -> Path:
    return campaign.layout.marker(name)


def _not_in_key() -> dict[str, tuple[str, ...]]:
    """Per section, the fields that decide where or how often a stage runs but not its result (the
    analysis' workers / cluster: the parallel path gives the serial numbers; learning.production_rounds:
    whether the runner runs learning and simulation again after a halted production run, each run's
    result unchanged); left out of the key, so changing them neither reruns a stage nor invalidates the
    markers written before they existed."""
    from seilab.settings.analysis import EXECUTION_FIELDS
    from seilab.settings.learning import RUNNER_FIELDS

    return {"analysis": EXECUTION_FIELDS, "learning": RUNNER_FIELDS}


def stage_key(campaign, stage: Stage) -> str:
    """Hash of the config sections that determine a stage's result, plus every earlier stage's key."""
    data = campaign.model_dump(mode="json")
    for section, fields in _not_in_key().items():
        if isinstance(data.get(section), dict):
            data[section] = {k: v for k, v in data[section].items() if k not in fields}
    parts = []
    for s in STAGES:
        parts.append({k: data.get(k) for k in s.sections})
        if s.name == stage.name:
            break
    return provenance.digest(parts, 16)


def missing_outputs(campaign, stage: Stage) -> list[str]:
    """The stage's main outputs that are not on disk (relative to the campaign output)."""
    return [o for o in stage.outputs if not campaign.layout.path(o).exists()]


def input_hashes(campaign, stage: Stage) -> dict[str, str]:
    """SHA-256 of every existing file matching ``stage.inputs`` (paths relative to the output; a pattern
    matching nothing is recorded as ``"missing"``). The report's own marker is not its input."""
    out: dict[str, str] = {}
    root = campaign.output
    for pattern in stage.inputs:
        hits = sorted(p for p in root.glob(pattern) if p.is_file() and p != marker_path(campaign, stage.name))
        if not hits:
            out[pattern] = "missing"
        for p in hits:
            out[p.relative_to(root).as_posix()] = provenance.sha256_file(p)
    return out


def why_not_done(campaign, stage: Stage, inputs: dict[str, str] | None = None) -> str | None:
    """None when the stage is done (marker of the current settings key, main outputs on disk, inputs
    unchanged since it ran), else the reason in a few words. ``inputs``: :func:`input_hashes` when the
    caller has them already."""
    path = marker_path(campaign, stage.name)
    if not path.is_file():
        return "not run yet"
    missing = missing_outputs(campaign, stage)
    if missing:
        return f"output missing: {missing[0]}"
    try:
        marker = provenance.read_json(path)
    except SeilabError:
        return "marker unreadable"
    if marker.get("key") != stage_key(campaign, stage):
        return "settings changed"
    if stage.inputs and "inputs" not in marker:
        return "marker predates input hashes"  # it cannot show that its inputs are unchanged
    if stage.inputs:
        now = inputs if inputs is not None else input_hashes(campaign, stage)
        changed = sorted(k for k in set(now) | set(marker["inputs"]) if now.get(k) != marker["inputs"].get(k))
        if changed:
            return f"input changed: {changed[0]}" + (f" (+{len(changed) - 1} more)" if len(changed) > 1 else "")
    return None


def is_done(campaign, stage: Stage) -> bool:
    """Marker written with the current settings key, main outputs still there, inputs unchanged."""
    return why_not_done(campaign, stage) is None


def owned_paths(campaign, stage: Stage) -> list[Path]:
    """The existing files and folders that hold the stage's result (what ``--force`` moves aside)."""
    root = campaign.output
    return sorted({p for pattern in stage.owns for p in root.glob(pattern)})


def move_aside(campaign, stage: Stage) -> Path | None:
    """Move the stage's result and marker to ``.seilab/previous/<UTC time>-<stage>/`` (same relative
    paths); returns that folder, or None when there was nothing to move."""
    paths = owned_paths(campaign, stage)
    marker = marker_path(campaign, stage.name)
    if marker.is_file():
        paths.append(marker)
    if not paths:
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    dest = campaign.layout.previous / f"{stamp}-{stage.name}"
    for p in paths:
        target = dest / p.relative_to(campaign.output)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(p), str(target))
    return dest


def run_stage(campaign, stage: Stage, force: bool = False, progress: Callable[[str], None] | None = None,
              on_rerun: Callable[[str], None] | None = None, rerun: str | None = None) -> dict:
    """Run one stage unless it is done; write its completion marker. Returns the marker record.

    ``force`` moves the previous result aside first (:func:`move_aside`). The marker is removed before
    the stage starts and written only when it returns, so a killed stage is rerun, never skipped.
    ``progress`` gets the stage's own messages (generations, fits, MD segments); ``on_rerun`` gets the reason when a stage that ran before runs again.
    ``rerun``: a reason to run a finished stage again without moving its result aside (its own caches
    decide what is redone; the production rounds use it for the learning stage)."""
    say = progress or (lambda m: None)
    inputs = input_hashes(campaign, stage)  # hashed once: to decide, and to record what the stage reads
    why = None if force else (rerun or why_not_done(campaign, stage, inputs))
    if not force and why is None:
        return {**provenance.read_json(marker_path(campaign, stage.name)), "skipped": True}
    if on_rerun is not None and why not in (None, "not run yet"):  # None: forced (run_stage says so)
        on_rerun(why)
    if force:
        aside = move_aside(campaign, stage)
        if aside is not None:
            say(f"--force: previous result moved to {aside}")
    else:
        marker_path(campaign, stage.name).unlink(missing_ok=True)
    t0 = time.perf_counter()
    summary = stage.run(campaign, progress=progress).summary()
    seconds = time.perf_counter() - t0
    # run_id: a marker is new each time its stage runs, so the stages after it (which hash it) rerun too
    record = {"stage": stage.name, "key": stage_key(campaign, stage), "run_id": uuid.uuid4().hex,
              "seconds": round(seconds, 2), "inputs": inputs, "summary": summary}
    provenance.write_json(marker_path(campaign, stage.name), record,
                          provenance.record(f"run-{stage.name}", settings={"sections": list(stage.sections)}))
    return {**record, "skipped": False}


def build_report_quietly(campaign) -> None:
    """Write the report of whatever ran; a report that cannot be built must not hide the original error."""
    try:
        get_stage("report").run(campaign)
    except Exception:  # noqa: BLE001 (best effort by design)
        pass


def run_campaign(campaign, only: list[str] | None = None, until: str | None = None, force: list[str] = (),
                 progress: Callable[[str], None] | None = None) -> list[dict]:
    """Run the pipeline in order (skipping finished stages); returns one record per stage run."""
    names = stage_names()
    if until is not None and until not in names:
        raise SeilabError(f"--until: unknown stage {until!r}; stages are: {', '.join(names)}")
    for n in list(only or []) + list(force):
        get_stage(n)
    with campaign_lock(campaign.output):
        return _run_locked(campaign, only, until, force, progress)


def _run_locked(campaign, only, until, force, progress) -> list[dict]:
    records = []
    for i, stage in enumerate(STAGES, 1):
        if only and stage.name not in only:
            continue
        say = progress or (lambda m: None)
        say(f"[{i}/{len(STAGES)}] {stage.name}: {stage.description}")
        try:
            rec = run_stage(campaign, stage, force=stage.name in force,
                            progress=(lambda m, n=stage.name: say(f"      {n}: {m}")) if progress else None,
                            on_rerun=lambda why, i=i, n=stage.name: say(f"[{i}/{len(STAGES)}] {n}: runs again ({why})"))
        except SeilabError:
            # a campaign that stops (the acceptance gate refusing the potential, a failed stage) still gets
            # its report, which says where and why it stopped; the error itself goes on to the caller
            if stage.name != "report" and (not only or "report" in only) and until in (None, "report"):
                say(f"[{i}/{len(STAGES)}] {stage.name}: stopped; writing the report of what ran")
                build_report_quietly(campaign)
            raise
        if rec["skipped"]:
            say(f"[{i}/{len(STAGES)}] {stage.name}: skipped (done earlier, in {rec['seconds']:.1f} s)")
        else:
            say(f"[{i}/{len(STAGES)}] {stage.name}: done in {rec['seconds']:.1f} s")
        records.append(rec)
        if stage.name == "simulation":  # (with --only too: the campaign file asked for the rounds)
            records += _production_rounds(campaign, say, progress)
        if stage.name == until:
            break
    return records


def _production_rounds(campaign, say, progress) -> list[dict]:
    """The paper's loop closed on the production run (``learning.production_rounds``): while the latest
    production run halted on γ and a round is left, the learning stage runs again (it harvests that run
    into one extra generation, labelled, refitted and validated) and then the simulation, with the
    potential the gate then hands on (a new potential starts a new run; the same one finds its run done)."""
    from seilab.learning.stage import production_round_due

    records = []
    names = stage_names()
    while True:
        why = production_round_due(campaign)
        if why is None:
            return records
        for name in ("learning", "simulation"):
            i, stage = names.index(name) + 1, get_stage(name)
            say(f"[{i}/{len(STAGES)}] {name}: runs again ({why})")
            rec = run_stage(campaign, stage, rerun=why,
                            progress=(lambda m, n=name: say(f"      {n}: {m}")) if progress else None)
            say(f"[{i}/{len(STAGES)}] {name}: done in {rec['seconds']:.1f} s" if not rec["skipped"] else
                f"[{i}/{len(STAGES)}] {name}: skipped (done earlier, in {rec['seconds']:.1f} s)")
            records.append(rec)
