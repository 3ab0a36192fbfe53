"""The campaign's stages in pipeline order, and the runner behind ``seilab run``.

Each stage is a function ``run(campaign) -> dict`` (a small JSON-able summary) living in its own
subpackage. The runner calls them in order and writes a completion marker
``<output>/.seilab/stages/<name>.json`` after each one finishes: its summary, its wall time and a key of
the settings it ran with. A stage whose marker exists with the same key, and whose main outputs are
still on disk, is skipped, so a rerun after a crash continues with the stage that was interrupted (which
itself resumes from its own files), and a stage whose outputs were deleted runs again.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from seilab import provenance
from seilab.errors import SeilabError


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: where its function lives and which config sections determine it."""

    name: str
    target: str  # "module:function", called as function(campaign) -> dict
    sections: tuple[str, ...]  # campaign sections its result depends on (for the skip key)
    description: str = ""
    outputs: tuple[str, ...] = ()  # paths under the campaign output that must exist for "done"

    def load(self) -> Callable:
        module, func = self.target.split(":")
        try:
            return getattr(importlib.import_module(module), func)
        except (ImportError, AttributeError) as exc:
            raise SeilabError(f"stage {self.name}: not available in this build ({exc})") from None


#: Pipeline order. Each stage only reads files that earlier stages wrote.
STAGES: tuple[Stage, ...] = (
    Stage("chemistry", "seilab.workflows.runners:chemistry", ("phases", "reactants", "chemistry", "reference"),
          "phases, relaxations, phase diagram, interface reaction", ("chemistry/reaction.json",)),
    Stage("sampling", "seilab.workflows.runners:sampling", ("sampling",), "first-generation structures",
          ("sampling/manifest.json",)),
    Stage("labelling", "seilab.workflows.runners:labelling", ("reference",), "reference single points",
          ("dataset/store.json",)),
    Stage("training", "seilab.workflows.runners:training", ("training",), "ACE fit with pacemaker",
          ("training",)),
    Stage("validation", "seilab.workflows.runners:validation", ("validation",), "validation report",
          ("validation",)),
    Stage("learning", "seilab.workflows.runners:learning", ("learning",), "active learning generations",
          ("learning/state.json",)),
    Stage("simulation", "seilab.workflows.runners:simulation", ("simulation", "gate"), "interface MD",
          ("simulation/latest.json",)),
    Stage("analysis", "seilab.workflows.runners:analysis", ("analysis",), "interphase analysis",
          ("analysis/analysis.json",)),
    Stage("transport", "seilab.workflows.runners:transport", ("transport",), "Onsager transport",
          ("transport/fluxes.json",)),
    Stage("report", "seilab.workflows.runners:report", (), "HTML report + summary.json",
          ("report/index.html", "report/summary.json")),
)


def stage_names() -> list[str]:
    return [s.name for s in STAGES]


def get_stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise SeilabError(f"unknown stage {name!r}; stages are: {', '.join(stage_names())}")


def marker_path(campaign, name: str) -> Path:
    return campaign.output / ".seilab" / "stages" / f"{name}.json"


def stage_key(campaign, stage: Stage) -> str:
    """Hash of the config sections that determine a stage's result, plus every earlier stage's key."""
    data = campaign.model_dump(mode="json")
    parts = []
    for s in STAGES:
        parts.append({k: data.get(k) for k in s.sections})
        if s.name == stage.name:
            break
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def missing_outputs(campaign, stage: Stage) -> list[str]:
    """The stage's main outputs that are not on disk (relative to the campaign output)."""
    return [o for o in stage.outputs if not (campaign.output / o).exists()]


def is_done(campaign, stage: Stage) -> bool:
    """Marker written with the current settings key, and the stage's main outputs still there."""
    path = marker_path(campaign, stage.name)
    if not path.is_file() or missing_outputs(campaign, stage):
        return False
    try:
        return json.loads(path.read_text()).get("key") == stage_key(campaign, stage)
    except (OSError, json.JSONDecodeError):
        return False


def run_stage(campaign, stage: Stage, force: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    """Run one stage unless it is done; write its completion marker. Returns the marker record.

    ``progress`` gets the stage's own messages (generations, fits, MD segments) where its function takes
    a ``progress`` argument."""
    if not force and is_done(campaign, stage):
        return {**json.loads(marker_path(campaign, stage.name).read_text()), "skipped": True}
    t0 = time.perf_counter()
    fn = stage.load()
    kwargs = {"progress": progress} if progress and "progress" in inspect.signature(fn).parameters else {}
    summary = fn(campaign, **kwargs) or {}
    seconds = time.perf_counter() - t0
    record = {"stage": stage.name, "key": stage_key(campaign, stage), "seconds": round(seconds, 2),
              "summary": summary}
    provenance.write_json(marker_path(campaign, stage.name), record,
                          provenance.record(f"run-{stage.name}", settings={"sections": list(stage.sections)}))
    return {**record, "skipped": False}


def build_report_quietly(campaign) -> None:
    """Write the report of whatever ran; a report that cannot be built must not hide the original error."""
    try:
        get_stage("report").load()(campaign)
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
    records = []
    for i, stage in enumerate(STAGES, 1):
        if only and stage.name not in only:
            continue
        say = progress or (lambda m: None)
        say(f"[{i}/{len(STAGES)}] {stage.name}: {stage.description}")
        try:
            rec = run_stage(campaign, stage, force=stage.name in force,
                            progress=(lambda m, n=stage.name: say(f"      {n}: {m}")) if progress else None)
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
        if stage.name == until:
            break
    return records
