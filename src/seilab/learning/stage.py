"""The active-learning loop (paper 2.5-2.6): explore → subcells → select → label → refit → validate.

Layout of ``<output>/learning/``::

    state.json                 where the loop stands (generations, steps done, status, stop reason)
    learning.json              the per-generation summary table (written when the loop stops)
    learning_curve.png         test errors, dataset size and γ > 1 fraction per generation
    gen001/                    generation 1: explores with the starting potential (training gen000)
        start.json             the potential this generation starts from (+ its hash)
        explore/<run>.extxyz   MD frames with per-atom γ (one file per run, skipped when done)
        explore/<run>.md/      a LAMMPS run's folder (seilab.md: input, logs, thermo.csv, gamma.csv, run.json;
                               restarts and dumps while it runs)
        explore/summary.json   γ statistics per run, per batch and overall, the engine (step "explore")
        harvest/request.json   a harvest generation's sources (path, SHA-256, origin: cli | production)
        harvest/frames.extxyz  the production frames kept, with per-atom γ; harvest.json ("harvest")
        candidates.extxyz/json frames and subcells with γ in the window           (step "candidates")
        select/                pace_select input/output; selected.extxyz, selection.json  ("select")
        labels.json            what the reference labelled into the dataset store   ("label")
        fit.json               the refitted training generation and its metrics      ("fit")
        validation.json        pass/fail of the validation suite on the new model    ("validate")
        reassess.json          γ of this generation's frames under the new model     ("reassess"; frames
                               over 1,000 atoms of a LAMMPS exploration graded by a LAMMPS single point)
        generation.json        the generation's summary (written last: generation finished)
    gen002/ ...                explores with the potential fitted in gen001, and so on

Every step writes its output atomically with a *key* (a hash of its inputs and settings); a rerun
skips a step whose output exists with the same key, so ``seilab learn CONFIG`` after a kill continues
with the step that was interrupted (exploration per MD run, a LAMMPS run from its newest restart file
(:mod:`seilab.learning.explore`), labelling per structure through the
dataset store, fitting from pacemaker's checkpoints). A generation whose starting potential changed
on disk is restarted from scratch.

The loop stops when a generation is *converged* (from ``min_generations`` on: fit loss below
``loss_threshold``, test force RMSE below ``force_rmse_threshold_meV_per_A`` when set, validation
passed when ``require_validation_pass``, and no regression on the fixed test set beyond
``max_fixed_test_regression``), when no candidate lies in the γ window, or after ``max_generations``.
A refit that regressed is kept on disk but the next generation starts again from the better
potential.

**Harvest of the production run** (:mod:`seilab.learning.harvest`). ``seilab learn CONFIG --harvest
PATH`` (a LAMMPS text dump or extxyz, with per-atom γ or graded here), and, with
``learning.harvest_production`` (default), the campaign's production run when ``simulation/latest.json``
says it *halted* on γ, give frames whose atoms in the γ window become subcell candidates beside the
explored ones (info ``batch`` = ``production``; counts per source kind, ``explore`` / ``production``, in
each generation's summary and in ``state.json``). The rule: a source not harvested before (by its SHA-256;
any generation's ``harvest/request.json``) joins the next generation that *starts*; when the loop has
stopped already (converged, no candidates, max_generations), that is one **extra** generation beyond the
stop (and beyond ``max_generations``), which stops the loop again (``harvested``, unless ``converged`` or
``no_candidates``). So after ``seilab simulate`` halts, ``seilab learn CONFIG`` runs one generation on the
production run's frames; rerunning it does nothing more. A harvest generation resumes like any other
(its request is on disk; labels go through the dataset store, so a subcell labelled earlier is not
labelled again). ``seilab run`` keeps its order (learning before simulation) and does not rerun a
finished learning stage for this; ``seilab run --force learning`` would move every generation aside. When the loop stops it writes the gate's verdicts (``validation/gate.json``): the potential
handed on to the production stages is the *best accepted* generation, not the last one
(:mod:`seilab.validation.gate`).
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np

from seilab import provenance
from seilab.errors import SeilabError
from seilab.results import DictResult
from seilab.training.stage import LEARNED_KIND

STATE = "state.json"
SUMMARY = "learning.json"
STEPS = ("explore", "harvest", "candidates", "select", "label", "fit", "validate", "reassess")
REQUEST = "request.json"


def learning_dir(campaign) -> Path:
    return campaign.stage_dir("learning")


def gen_dir(campaign, g: int) -> Path:
    return learning_dir(campaign) / f"gen{g:03d}"


def _key(*parts) -> str:
    return provenance.digest(parts, 24)


def _read(path: Path) -> dict:
    return provenance.load_json(path) or {}


def potential_sha(pot) -> str:
    h = provenance.sha256_file(pot.yaml)
    if pot.asi is not None and Path(pot.asi).is_file():
        h += provenance.sha256_file(pot.asi)
    return hashlib.sha256(h.encode()).hexdigest()[:24]


def _settings_dump(s, *names) -> dict:
    return {n: getattr(s, n) for n in names}


# ============================================================================================ steps
class _Ctx:
    """What every step of one generation needs."""

    def __init__(self, campaign, g: int, base, backend, reference_factory, say):
        self.campaign = campaign
        self.s = campaign.learning
        self.g = g
        self.dir = gen_dir(campaign, g)
        self.base = base
        self.base_sha = potential_sha(base)
        self.backend = backend
        self.reference_factory = reference_factory
        self.say = say
        self._calc = None
        self.elements = list(base.elements or campaign.elements)
        self.harvest = False  # a generation that harvests production / --harvest frames

    def model_calc(self):
        from seilab.learning.gamma import model_calculator

        if self._calc is None:
            self._calc = model_calculator(self.base, self.backend, gamma=True)
        return self._calc

    def cutoff(self) -> float:
        from seilab.learning.gamma import potential_cutoff

        return self.s.subcell_cutoff_A or potential_cutoff(self.base)


def _aggregate(runs: list[dict]) -> dict:
    """n_atoms-weighted γ statistics over runs (each run's stats are over its kept frames)."""
    rs = [r for r in runs if r["gamma"].get("n_atoms")]
    if not rs:
        return {"runs": len(runs), "n_atoms": 0, "max": None, "mean": None, "frac_gt_1": None,
                "frac_in_window": None, "halted": sum(1 for r in runs if r.get("halted"))}
    w = np.array([r["gamma"]["n_atoms"] for r in rs], dtype=float)

    def avg(k):
        return float(np.sum(w * np.array([r["gamma"][k] for r in rs])) / w.sum())

    return {"runs": len(runs), "n_atoms": int(w.sum()), "max": float(max(r["gamma"]["max"] for r in rs)),
            "mean": avg("mean"), "frac_gt_1": avg("frac_gt_1"), "frac_in_window": avg("frac_in_window"),
            "halted": sum(1 for r in runs if r.get("halted"))}


def _step_explore(ctx: _Ctx) -> dict:
    from seilab.learning.explore import build_jobs, discover_sources, exploration_engine, job_key, run_job

    s = ctx.s.for_harvest() if ctx.harvest else ctx.s
    sources, notes = discover_sources(ctx.campaign, settings=s)
    jobs = build_jobs(ctx.campaign, sources, ctx.g, s)
    engine = exploration_engine(s, ctx.base)
    key = _key("explore", ctx.base_sha, sorted(job_key(j, ctx.base_sha, s, engine) for j in jobs))
    path = ctx.dir / "explore" / "summary.json"
    done = provenance.record_for(path, key)
    if done:
        ctx.say(f"gen{ctx.g:03d} explore: {len(done['runs'])} runs done earlier, skipped")
        return done
    if not jobs:
        raise SeilabError("learning.batches: no structures to explore (run the chemistry and sampling stages)")
    ctx.say(f"gen{ctx.g:03d} explore: {len(jobs)} MD runs in {engine.upper() if engine == 'lammps' else 'ASE'}"
            + (f" ({s.mpi_ranks} MPI ranks each)" if engine == "lammps" and s.mpi_ranks > 1 else "")
            + (" (learning.engine: auto)" if s.engine == "auto" else "")
            + (" (learning.harvest_exploration)" if s is not ctx.s else ""))
    runs = []
    t0 = time.perf_counter()
    for i, job in enumerate(jobs, 1):
        rec = run_job(job, _LazyCalc(ctx), s, ctx.dir / "explore", ctx.base_sha, engine=engine, potential=ctx.base,
                      elements=ctx.elements)
        g = rec["gamma"]
        ctx.say(f"gen{ctx.g:03d} explore [{i}/{len(jobs)}] {job.name} ({len(job.atoms)} atoms): "
                + ("done earlier" if rec.get("skipped") else
                   f"{rec['steps_run']} steps in {rec['seconds']:.1f} s, {rec['frames']} frames, max γ "
                   f"{g['max'] if g['max'] is not None else float('nan'):.3g}"
                   + (f", halted ({rec['reason']})" if rec["halted"] else "")))
        rec.pop("skipped", None)
        runs.append(rec)
    batches = {b: _aggregate([r for r in runs if r["batch"] == b]) for b in s.batches}
    summary = {"key": key, "generation": ctx.g, "potential": ctx.base.as_dict(), "notes": notes, "runs": runs,
               "engine": engine, "seconds": round(time.perf_counter() - t0, 1),
               "interface_atoms": max((r["n_atoms"] for r in runs if r["batch"] == "interface"), default=None),
               "batches": batches, "total": _aggregate(runs)}
    provenance.write_json(path, summary, provenance.record("learning.explore", settings=s.model_dump(mode="json")))
    return summary


class _LazyCalc:
    """Builds the model calculator only when an MD run actually has to run."""

    def __init__(self, ctx: _Ctx):
        self._ctx = ctx

    def __getattr__(self, name):
        return getattr(self._ctx.model_calc(), name)


def _exploration_frames(ctx: _Ctx, explore: dict, batch: str | None = None):
    """Every kept exploration frame, streamed file by file and frame by frame (frames can be large)."""
    from seilab.learning.explore import iter_frames

    for r in explore["runs"]:
        if batch is not None and r["batch"] != batch:
            continue
        path = ctx.dir / "explore" / f"{r['name']}.extxyz"
        if not path.is_file():
            raise SeilabError(f"{path}: exploration frames missing; delete {ctx.dir / 'explore' / 'summary.json'} "
                              "and rerun")
        yield from iter_frames(path)


def _pair_floors(ctx: _Ctx) -> dict[str, float]:
    """``learning.min_pair_distance_fraction`` × each element pair's shortest distance in the first
    generation's training data ("A-B" → Å); {} when off or when that data is missing."""
    import pandas as pd

    from seilab.geometry import pair_minima
    from seilab.training.stage import generation_name

    frac = ctx.s.min_pair_distance_fraction
    train = ctx.campaign.layout.training_split(generation_name(0), "train")
    if not frac or not train.is_file():
        return {}
    minima = pair_minima(pd.read_pickle(train, compression="gzip")["ase_atoms"])
    return {k: round(frac * v, 4) for k, v in sorted(minima.items())}


def _step_harvest(ctx: _Ctx, request: dict) -> dict:
    """The harvested production frames of this generation (:mod:`seilab.learning.harvest`), kept in
    ``harvest/frames.extxyz`` so that the generation no longer depends on the run folder."""
    from seilab.learning.gamma import per_atom_gamma
    from seilab.learning.harvest import describe_source, harvest_frames

    s = ctx.s
    floors = _pair_floors(ctx)
    sources = request["sources"]
    key = _key("harvest", [src["sha256"] for src in sources], ctx.base_sha, floors, _settings_dump(
        s, "gamma_window", "subcell_min_gamma", "gamma_halt", "harvest_max_frames", "min_distance_A"))
    folder = ctx.dir / "harvest"
    path, xyz = folder / "harvest.json", folder / "frames.extxyz"
    done = provenance.record_for(path, key)
    if done and (done["frames"] == 0 or provenance.is_valid_artifact(xyz)):
        ctx.say(f"gen{ctx.g:03d} harvest: {done['frames']} frames harvested earlier, skipped")
        return done
    for src in sources:  # the request was written when the generation started
        now = describe_source(Path(src["path"]), src["origin"])
        if now["sha256"] != src["sha256"]:
            raise SeilabError(f"{src['path']}: changed since gen{ctx.g:03d} asked to harvest it; delete "
                              f"{folder / REQUEST} (and rerun) to harvest its present content")
    frames, report = harvest_frames(sources, s, ctx.elements, floors,
                                    grade=lambda a: per_atom_gamma(a, ctx.model_calc()), say=ctx.say)
    if frames:
        provenance.write_extxyz(xyz, frames, provenance.record("learning.harvest", key=key))
    rec = {"key": key, "generation": ctx.g, **report}
    provenance.write_json(path, rec, provenance.record("learning.harvest", settings=s.model_dump(mode="json")))
    return rec


def _harvest_frames(ctx: _Ctx, harvest: dict | None):
    from seilab.learning.explore import iter_frames

    if harvest and harvest["frames"]:
        yield from iter_frames(ctx.dir / "harvest" / "frames.extxyz")


def _per_batch(frames) -> dict[str, int]:
    """How many of ``frames`` come from each batch (info ``batch``: bulk, amorphous, interface, production)."""
    out: dict[str, int] = {}
    for a in frames:
        b = str(a.info.get("batch", "?"))
        out[b] = out.get(b, 0) + 1
    return out


def _step_candidates(ctx: _Ctx, explore: dict, harvest: dict | None = None) -> dict:
    import itertools

    from seilab.learning.harvest import EXPLORE, PRODUCTION, source_kind
    from seilab.learning.select import make_candidates

    s = ctx.s
    cutoff = ctx.cutoff()
    floors = _pair_floors(ctx)
    parts = ["candidates", explore["key"], cutoff, floors, _settings_dump(
        s, "gamma_window", "subcell_atoms", "subcell_vacuum_A", "subcells_per_frame", "subcell_min_gamma",
        "subcell_duplicate_tol_A", "min_distance_A", "subcell_boundary_A")]
    if harvest is not None:  # (a generation without harvest keeps the key it always had)
        parts.append(harvest["key"])
    key = _key(*parts)
    path = ctx.dir / "candidates.json"
    xyz = ctx.dir / "candidates.extxyz"
    done = provenance.record_for(path, key)
    if done and (done["report"]["candidates"] == 0 or provenance.is_valid_artifact(xyz)):
        ctx.say(f"gen{ctx.g:03d} candidates: {done['report']['candidates']} found earlier, skipped")
        return done
    frames = itertools.chain(_exploration_frames(ctx, explore), _harvest_frames(ctx, harvest))
    cands, report = make_candidates(frames, s, cutoff, ctx.elements, pair_floors=floors)
    kinds = [source_kind(a) for a in cands]
    report["candidates_per_source"] = {EXPLORE: kinds.count(EXPLORE), PRODUCTION: kinds.count(PRODUCTION)}
    report["candidates_per_batch"] = _per_batch(cands)
    if cands:
        provenance.write_extxyz(xyz, cands, provenance.record("learning.candidates", key=key))
    ctx.say(f"gen{ctx.g:03d} candidates: {report['candidates']} ({report['candidates_whole']} whole frames, "
            f"{report['candidates_subcells']} subcells) from {report['frames']} frames"
            + (f"; {report['candidates_per_source'][PRODUCTION]} from the production run" if harvest else ""))
    rec = {"key": key, "generation": ctx.g, "cutoff_A": cutoff, "pair_floors_A": floors, "report": report}
    provenance.write_json(path, rec, provenance.record("learning.candidates"))
    return rec


def _step_select(ctx: _Ctx, cand: dict) -> dict:
    from seilab.learning.select import cap_candidates, d_optimal, random_subset
    from seilab.sampling.common import seed_for

    s = ctx.s
    budget = s.harvest_budget if (ctx.harvest and s.harvest_budget) else s.budget_per_generation
    key = _key("select", cand["key"], ctx.base_sha, s.selection, budget, s.max_candidates, s.seed)
    path = ctx.dir / "select" / "selection.json"
    xyz = ctx.dir / "select" / "selected.extxyz"
    done = provenance.record_for(path, key)
    if done and (done["n_selected"] == 0 or provenance.is_valid_artifact(xyz)):
        ctx.say(f"gen{ctx.g:03d} select: {done['n_selected']} selected earlier, skipped")
        return done
    cands = provenance.read_extxyz(ctx.dir / "candidates.extxyz") if cand["report"]["candidates"] else []
    pool = cap_candidates(cands, s.max_candidates)
    t0 = time.perf_counter()
    if not pool:
        chosen = []
    elif s.selection == "random":
        chosen = random_subset(len(pool), budget, seed_for(s.seed, ctx.g, "select"))
    else:
        chosen = d_optimal(pool, ctx.base, ctx.elements, budget, ctx.dir / "select", s.threads)
    selected = [pool[i] for i in chosen]
    if selected:
        provenance.write_extxyz(xyz, selected, provenance.record("learning.select", key=key))
    from seilab.learning.harvest import EXPLORE, PRODUCTION, source_kind

    batches = _per_batch(selected)
    kinds = [source_kind(a) for a in selected]
    rec = {"key": key, "generation": ctx.g, "method": s.selection, "pool": len(pool), "n_selected": len(selected),
           "per_batch": batches, "per_source": {EXPLORE: kinds.count(EXPLORE), PRODUCTION: kinds.count(PRODUCTION)}, "gamma_max": [float(a.info.get("gamma_max", np.nan)) for a in selected],
           "n_atoms": [len(a) for a in selected], "seconds": round(time.perf_counter() - t0, 2)}
    provenance.write_json(path, rec, provenance.record("learning.select"))
    ctx.say(f"gen{ctx.g:03d} select ({s.selection}): {len(selected)} of {len(pool)} candidates {batches}")
    return rec


def _step_label(ctx: _Ctx, sel: dict) -> dict:
    from seilab.reference.labelling import label_structures, store_for
    from seilab.reference.store import structure_hash

    key = _key("label", sel["key"])
    path = ctx.dir / "labels.json"
    store = store_for(ctx.campaign)
    done = provenance.record_for(path, key)
    if done and all(h in store for h in done["hashes"] if h not in set(done.get("failed_hashes", []))):
        ctx.say(f"gen{ctx.g:03d} label: {len(done['hashes'])} structures labelled earlier, skipped")
        return done
    frames = provenance.read_extxyz(ctx.dir / "select" / "selected.extxyz")
    tagged = []
    for a in frames:
        b = a.copy()
        b.info = {"kind": LEARNED_KIND, "phase": str(a.info.get("phase", "")),
                  "source": f"gen{ctx.g:03d}:{a.info.get('batch', '')}:{a.info.get('source', '')}"}
        for arr in [k for k in b.arrays if k not in ("numbers", "positions", "force_weight")]:
            del b.arrays[arr]
        tagged.append(b)
    report = label_structures(tagged, store, ctx.reference_factory, workers=ctx.s.workers,
                              threads=ctx.campaign.reference.threads, progress=False)
    rec = {"key": key, "generation": ctx.g, "hashes": [structure_hash(a) for a in tagged],
           "labelled": report.labelled, "already_in_store": report.already_in_store,
           "duplicates": report.duplicates, "failed": report.failed,
           "failed_hashes": [f[0] for f in report.failed], "label_seconds": round(report.label_seconds, 2),
           "dataset_size": len(store)}
    provenance.write_json(path, rec, provenance.record("learning.label", reference=store.reference))
    store.write_summary()
    ctx.say(f"gen{ctx.g:03d} label: {report.labelled} new labels ({report.already_in_store} already in the store, "
            f"{len(report.failed)} failed); dataset {len(store)} structures")
    return rec


def _fit_loss(pot) -> float | None:
    """The final pacemaker loss stored in the potential's metadata (``_loss``), when present."""
    try:
        import yaml

        with open(pot.yaml) as fh:
            meta = (yaml.safe_load(fh) or {}).get("metadata") or {}
        loss = meta.get("_loss")
        return float(loss) if loss is not None else None
    except Exception:
        return None


def _fixed_test(ctx: _Ctx, pot) -> dict | None:
    """Errors of the starting and the new potential on one *fixed* held-out set: the test set of the
    potential the loop started from (the training stage's test set grows with the dataset, so its
    RMSE is not comparable across generations)."""
    import pandas as pd

    from seilab.training.backend import Potential
    from seilab.training.metrics import error_metrics, predict

    start = _read(gen_dir(ctx.campaign, 1) / "start.json")
    if not start:
        return None
    path = Path(start["potential"]["yaml"]).parent / "data" / "test.pckl.gzip"
    if not path.is_file():
        return None
    df = pd.read_pickle(path, compression="gzip")

    def errors(p):
        m = error_metrics(predict(ctx.backend.calculator(p), df))
        return {"energy_rmse_meV_per_atom": m["energy_meV_per_atom"]["rmse"],
                "force_rmse_meV_per_A": m["force_meV_per_A"]["rmse"],
                "force_mae_meV_per_A": m["force_meV_per_A"]["mae"]}

    first = Potential.from_dict(start["potential"])
    return {"path": str(path), "n_structures": len(df), "start_potential": first.generation,
            "start": errors(first), "base": errors(ctx.base), "new": errors(pot)}


def _step_fit(ctx: _Ctx, labels: dict) -> dict:
    from seilab.training.backend import Potential
    from seilab.training.stage import finished_record, run_training

    refit = ctx.campaign.refit_training()  # training settings + learning.refit
    key = _key("fit", labels["key"], ctx.base_sha, refit.model_dump(
        mode="json", exclude={"threads", "timeout_s", "display_step"}))
    path = ctx.dir / "fit.json"
    done = provenance.record_for(path, key)
    if done:
        pot = Potential.from_dict(done["potential"])
        if finished_record(pot.yaml.parent) is not None and pot.yaml.is_file() \
                and provenance.sha256_file(pot.yaml) == done.get("yaml_sha256"):
            ctx.say(f"gen{ctx.g:03d} fit: {done['training_generation']} fitted earlier, skipped")
            return done
    campaign = ctx.campaign if refit is ctx.campaign.training else ctx.campaign.model_copy(update={"training": refit})
    # generation=None: the training stage resumes its newest unfinished generation or starts a new one after
    # the newest; never "base + 1", which after a regressed refit (the next generation starts again from an
    # older base) would overwrite that refit's training generation
    result = run_training(campaign, generation=None, init_from=ctx.base, backend=ctx.backend, progress=ctx.say)
    pot = result.potential
    rec = {"key": key, "generation": ctx.g, "training_generation": result.generation, "skipped_fit": result.skipped,
           "potential": pot.as_dict(), "yaml_sha256": provenance.sha256_file(pot.yaml),
           "metrics": {k: result.metrics.get(k) for k in ("train", "test")}, "loss": _fit_loss(pot),
           "fixed_test": _fixed_test(ctx, pot)}
    provenance.write_json(path, rec, provenance.record("learning.fit"))
    test = (result.metrics.get("test") or {})
    ctx.say(f"gen{ctx.g:03d} fit: {result.generation}"
            + (f", test force RMSE {test['force_meV_per_A']['rmse']:.0f} meV/Å" if test else "")
            + (f", loss {rec['loss']:.4g}" if rec["loss"] is not None else ""))
    return rec


def _step_validate(ctx: _Ctx, fit: dict) -> dict | None:
    from seilab.training.backend import Potential
    from seilab.validation.gate import report_path

    s = ctx.s
    if not s.validation:
        return None
    checks = list(s.validation_checks) if s.validation_checks is not None else list(ctx.campaign.validation.checks)
    key = _key("validate", fit["yaml_sha256"], checks, ctx.campaign.validation.model_dump(mode="json"))
    path = ctx.dir / "validation.json"
    done = provenance.record_for(path, key)
    gen = fit["potential"].get("generation")
    if done and gen and not report_path(ctx.campaign, gen).is_file():
        done = None  # the report was moved aside (seilab run --force validation): the gate needs it again
    if done:
        ctx.say(f"gen{ctx.g:03d} validate: {'passed' if done['passed'] else 'failed'} earlier, skipped")
        return done
    from seilab.validation.report import failed_checks
    from seilab.validation.stage import run_validation

    campaign = ctx.campaign
    if s.validation_checks is not None:
        campaign = campaign.model_copy(update={"validation": campaign.validation.model_copy(update={"checks": checks})})
    pot = Potential.from_dict(fit["potential"])
    report = run_validation(campaign, potential=pot, backend=ctx.backend, progress=ctx.say)
    failed = failed_checks(report.get("checks", []))
    rec = {"key": key, "generation": ctx.g, "passed": bool(report["passed"]), "checks": checks,
           "n_checks": len(report.get("checks", [])), "failed": failed, "report": report.get("path"),
           "skipped": [x.get("what") for x in report.get("skipped", [])]}
    advisory = rec["advisory_failed"] = report["summary"]["advisory_failed"]
    provenance.write_json(path, rec, provenance.record("learning.validate"))
    ctx.say(f"gen{ctx.g:03d} validate: {'passed' if rec['passed'] else 'failed'} "
            f"({rec['n_checks'] - len(failed) - len(advisory)}/{rec['n_checks']} checks"
            + (f"; {len(advisory)} advisory failed: {', '.join(advisory)})" if advisory else ")"))
    return rec


#: frames above this many atoms are graded in LAMMPS when the exploration ran there (pyace builds its neighbour
#: list in a time that grows with the square of the atom count: 0.17 s for 2,020 atoms, 3.4 s for 9,696)
LAMMPS_GRADE_MIN_ATOMS = 1000


def _grade_large_in_lammps(frame, pot, elements, small):
    """Per-atom γ of ``frame``: a LAMMPS ``pace/extrapolation`` single point for a large frame (the
    exploration's own γ; it agrees with pyace's to 1e-7), ``small(frame)`` otherwise."""
    if len(frame) <= LAMMPS_GRADE_MIN_ATOMS:
        return small(frame)
    from seilab.md.lammps import LammpsEngine

    return np.asarray(LammpsEngine().single_point(frame, pot, elements, extrapolation=True)["gamma"], dtype=float)


def _step_reassess(ctx: _Ctx, explore: dict, fit: dict) -> dict | None:
    from seilab.learning.gamma import gamma_stats, model_calculator, per_atom_gamma
    from seilab.training.backend import Potential

    if not ctx.s.reassess:
        return None
    pot = Potential.from_dict(fit["potential"])
    key = _key("reassess", explore["key"], potential_sha(pot))
    path = ctx.dir / "reassess.json"
    done = provenance.record_for(path, key)
    if done:
        return done
    calc = model_calculator(pot, ctx.backend, gamma=True)
    grade = functools.partial(per_atom_gamma, calc=calc)
    if explore.get("engine") == "lammps":  # large frames in LAMMPS: the same γ, without pyace's neighbour list
        grade = functools.partial(_grade_large_in_lammps, pot=pot, elements=ctx.elements, small=grade)
    per_batch: dict = {}
    for b in sorted({r["batch"] for r in explore["runs"]}):
        per_batch[b] = [grade(f) for f in _exploration_frames(ctx, explore, b)]
    w = ctx.s.gamma_window
    rec = {"key": key, "generation": ctx.g, "potential": pot.as_dict(),
           "batches": {b: gamma_stats(gs, w) for b, gs in per_batch.items()},
           "total": gamma_stats([g for gs in per_batch.values() for g in gs], w)}
    provenance.write_json(path, rec, provenance.record("learning.reassess"))
    t = rec["total"]
    if t["n_atoms"]:
        ctx.say(f"gen{ctx.g:03d} reassess: same frames under {pot.generation}: max γ {t['max']:.3g}, "
                f"γ>1 on {100 * t['frac_gt_1']:.1f}% of atoms (was {100 * explore['total']['frac_gt_1']:.1f}%)")
    return rec


# ============================================================================================ loop
def regressed(s, fit: dict | None) -> bool | None:
    """Whether the refit is worse than the potential it started from on the fixed test set, beyond
    ``max_fixed_test_regression`` (relative, energy or force RMSE); None without fixed-test errors."""
    ft = (fit or {}).get("fixed_test") or {}
    base, new = ft.get("base"), ft.get("new")
    if not base or not new:
        return None
    tol = 1.0 + s.max_fixed_test_regression
    return bool(new["energy_rmse_meV_per_atom"] > tol * base["energy_rmse_meV_per_atom"]
                or new["force_rmse_meV_per_A"] > tol * base["force_rmse_meV_per_A"])


def _converged(s, g: int, fit: dict | None, val: dict | None) -> tuple[bool, dict]:
    crit: dict = {}
    if fit is not None:
        worse = regressed(s, fit)
        if worse is not None:
            crit["no_regression"] = not worse
        if s.loss_threshold is not None:
            crit["loss"] = fit.get("loss") is not None and fit["loss"] <= s.loss_threshold
        if s.force_rmse_threshold_meV_per_A is not None:
            test = (fit.get("metrics") or {}).get("test")
            crit["force_rmse"] = bool(test) and test["force_meV_per_A"]["rmse"] <= s.force_rmse_threshold_meV_per_A
    if s.require_validation_pass and s.validation:
        crit["validation"] = bool(val and val.get("passed"))
    ok = fit is not None and g >= s.min_generations and bool(crit) and all(crit.values())
    return ok, crit


def _summary(g: int, steps: dict) -> dict:
    ex, ha, ca, se, la, fi, va, re_ = (steps.get(k) for k in STEPS)
    test = ((fi or {}).get("metrics") or {}).get("test") or {}
    train = ((fi or {}).get("metrics") or {}).get("train") or {}
    fixed = (fi or {}).get("fixed_test") or {}
    fixed_start, fixed_new = fixed.get("start") or {}, fixed.get("new") or {}
    out = {
        "generation": g,
        "start_potential": (ex or {}).get("potential", {}).get("generation"),
        "explore_gamma": (ex or {}).get("total"),
        "explore_gamma_per_batch": (ex or {}).get("batches"),
        "explore_engine": (ex or {}).get("engine", "ase" if ex else None),
        "explore_interface_atoms": (ex or {}).get("interface_atoms"),
        "candidates_per_batch": (ca or {}).get("report", {}).get("candidates_per_batch"),
        "explore_seconds": (ex or {}).get("seconds"),
        "candidates": (ca or {}).get("report", {}).get("candidates"),
        "candidates_report": (ca or {}).get("report"),
        "selected": (se or {}).get("n_selected"),
        "selected_per_batch": (se or {}).get("per_batch"),
        "candidates_per_source": (ca or {}).get("report", {}).get("candidates_per_source"),
        "selected_per_source": (se or {}).get("per_source"),
        "harvest": None if ha is None else {"frames": ha["frames"], "sources": [
            {k: src.get(k) for k in ("path", "origin", "sha256", "frames_in_file", "frames_read", "kept",
                                     "kept_above_halt", "outside_window", "close_contact", "nonfinite", "unreadable",
                                     "graded", "atoms_in_window", "seconds")} for src in ha["sources"]]},
        "labelled": (la or {}).get("labelled"),
        "dataset_size": (la or {}).get("dataset_size"),
        "training_generation": (fi or {}).get("training_generation"),
        "n_train": train.get("n_structures"), "n_test": test.get("n_structures"),
        "test_energy_rmse_meV_per_atom": (test.get("energy_meV_per_atom") or {}).get("rmse"),
        "test_energy_mae_meV_per_atom": (test.get("energy_meV_per_atom") or {}).get("mae"),
        "test_force_rmse_meV_per_A": (test.get("force_meV_per_A") or {}).get("rmse"),
        "test_force_mae_meV_per_A": (test.get("force_meV_per_A") or {}).get("mae"),
        "loss": (fi or {}).get("loss"),
        "fixed_test_structures": fixed.get("n_structures"),
        "fixed_test_force_rmse_start_meV_per_A": fixed_start.get("force_rmse_meV_per_A"),
        "fixed_test_force_rmse_meV_per_A": fixed_new.get("force_rmse_meV_per_A"),
        "fixed_test_energy_rmse_start_meV_per_atom": fixed_start.get("energy_rmse_meV_per_atom"),
        "fixed_test_energy_rmse_meV_per_atom": fixed_new.get("energy_rmse_meV_per_atom"),
        "validation_passed": (va or {}).get("passed") if va else None,
        "validation_failed_checks": (va or {}).get("failed") if va else None,
        "reassess_gamma": (re_ or {}).get("total") if re_ else None,
    }
    return out


class _State:
    def __init__(self, campaign, say):
        self.path = learning_dir(campaign) / STATE
        self.data = _read(self.path) or {}
        self.data.setdefault("generations", {})
        self.say = say

    def step(self, g: int, step: str, status: str = "done") -> None:
        gen = self.data["generations"].setdefault(str(g), {"steps": {}})
        gen["steps"][step] = status
        self.data.update(status="running", current_generation=g, stop_reason=None)
        self.write()

    def finish_generation(self, g: int, summary: dict) -> None:
        gen = self.data["generations"].setdefault(str(g), {"steps": {}})
        gen["summary"] = summary
        self.write()

    def stop(self, reason: str, g: int) -> None:
        self.data.update(status="stopped", stop_reason=reason, last_generation=g)
        self.write()

    def write(self) -> None:
        self.data["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        provenance.write_json(self.path, self.data)


def _start(campaign, g: int, base_candidate, say) -> object:
    """The potential generation ``g`` starts from; an unfinished generation whose recorded start no
    longer matches the files is wiped and restarted."""
    from seilab.training.backend import Potential

    gdir = gen_dir(campaign, g)
    rec = _read(gdir / "start.json")
    if rec:
        pot = Potential.from_dict(rec["potential"])
        same = pot.yaml.is_file() and potential_sha(pot) == rec.get("sha")
        if same and (base_candidate is None or potential_sha(base_candidate) == rec.get("sha")):
            return pot
        say(f"gen{g:03d}: its starting potential changed; restarting this generation")
        shutil.rmtree(gdir)
    if base_candidate is None:
        raise SeilabError("learning: no starting potential")
    gdir.mkdir(parents=True, exist_ok=True)
    provenance.write_json(gdir / "start.json",
                          {"potential": base_candidate.as_dict(), "sha": potential_sha(base_candidate)},
                          provenance.record("learning.start"))
    return base_candidate


def _harvest_requests(campaign) -> list[tuple[int, dict]]:
    """(generation, source) for every source a generation asked to harvest (its ``harvest/request.json``),
    oldest generation first."""
    root = learning_dir(campaign)
    if not root.is_dir():
        return []
    return [(int(d.name[3:]), src) for d in sorted(root.glob("gen[0-9]*")) if d.name[3:].isdigit()
            for src in _read(d / "harvest" / REQUEST).get("sources", [])]


def _harvested(campaign) -> dict[str, int]:
    """sha256 → generation for every source a generation asked to harvest."""
    out: dict[str, int] = {}
    for g, src in _harvest_requests(campaign):
        out.setdefault(src["sha256"], g)
    return out


def _pending_harvest(campaign, paths, say) -> list[dict]:
    """Sources to harvest that no generation has asked for yet (``--harvest`` paths, the halted production run)."""
    from seilab.learning.harvest import resolve_sources

    sources = resolve_sources(campaign, paths, say)
    if not sources:
        return []
    done = _harvested(campaign)
    fresh = []
    for src in sources:
        if src["sha256"] in done:
            say(f"harvest: {src['path']} was harvested by gen{done[src['sha256']]:03d} already; not again")
        else:
            fresh.append(src)
    return fresh


class LearningResult(DictResult):
    """``learning/learning.json``: every generation's row, the stop reason, the accepted and final potentials."""

    def summary(self) -> dict:
        gens = self.get("generations") or []
        last = gens[-1] if gens else {}
        return {"stop_reason": self.get("stop_reason"), "generations": len(gens),
                "final_potential": (self.get("final_potential") or {}).get("generation"),
                "accepted_potential": (self.get("accepted_potential") or {}).get("generation"),
                "dataset_size": last.get("dataset_size"),
                "test_force_rmse_meV_per_A": last.get("test_force_rmse_meV_per_A"),
                "candidates_per_source": self.get("candidates_per_source"),
                "harvest_generations": self.get("harvest_generations")}


def run_learning(campaign, *, progress: Callable[[str], None] | None = None, backend=None,
                 reference_factory: Callable[[], object] | None = None, harvest=None) -> LearningResult:
    """Run (or resume) the active-learning loop of ``campaign``; returns the summary (also in
    ``<output>/learning/learning.json``).

    ``reference_factory`` is the (picklable, zero-argument) factory of the reference calculator the
    labeller uses (default: the campaign's reference); ``backend`` the MLIP backend (default:
    ``training.backend``); ``harvest``: paths of production trajectories / γ dumps whose frames give
    candidates (:mod:`seilab.learning.harvest`; with ``learning.harvest_production`` the halted production
    run of ``simulation/latest.json`` is added). Sources not harvested before join the next generation
    that starts; when the loop has already stopped, that is one *extra* generation beyond its stop
    (also beyond ``max_generations``), after which it stops again (``harvested``, or ``converged`` /
    ``no_candidates``). A source harvested by an earlier generation (same bytes) is not harvested again.
    """
    from seilab.training.backend import Potential
    from seilab.training.backends import get_backend
    from seilab.training.stage import latest_potential

    say = progress or (lambda m: None)
    s = campaign.learning
    root = learning_dir(campaign)
    if not (gen_dir(campaign, 1) / "start.json").is_file():
        latest_potential(campaign)  # a clear error before anything is written when there is no potential
    pending = _pending_harvest(campaign, harvest, say)
    root.mkdir(parents=True, exist_ok=True)
    backend = backend or get_backend(campaign.training.backend)
    if reference_factory is None:
        from seilab.reference.calculators import get_calculator

        reference_factory = functools.partial(get_calculator, campaign.reference)
    state = _State(campaign, say)
    generations: list[dict] = []
    stop_reason = "max_generations"
    next_base = None
    t_start = time.perf_counter()
    stopped = False  # the loop had stopped before generation g: g is an extra (harvest) generation
    g = 0
    while True:
        g += 1
        gdir = gen_dir(campaign, g)
        request = _read(gdir / "harvest" / REQUEST) or None
        finished = _read(gdir / "generation.json")
        if finished.get("summary"):
            summary = finished["summary"]
            if finished.get("fit_potential") and not summary.get("regressed"):
                next_base = Potential.from_dict(finished["fit_potential"])
            elif _read(gdir / "start.json").get("potential"):  # a regressed refit: the next starts from this base
                next_base = Potential.from_dict(_read(gdir / "start.json")["potential"])
            # the stop decision is re-made with the current settings (thresholds, max_generations)
            stop = "no_candidates" if finished.get("stop") == "no_candidates" else None
            if stop is None:
                converged, crit = _converged(s, g, _read(gdir / "fit.json") or None,
                                             _read(gdir / "validation.json") or None)
                summary.update(converged=converged, convergence=crit)
                stop = "converged" if converged else _limit_stop(s, g, stopped)
            summary["stop"] = stop
            summary["extra_generation"] = stopped
            generations.append(summary)
            state.finish_generation(g, summary)
            say(f"gen{g:03d}: finished earlier" + (f" ({stop})" if stop else ""))
            if stop:
                stop_reason = stop
                if not (pending or (gen_dir(campaign, g + 1) / "harvest" / REQUEST).is_file()):
                    break
                stopped = True
            continue
        if request is None and pending and (stopped or not (gdir / "start.json").is_file()):
            request = {"sources": pending, "extra": stopped}
            pending = []
        if stopped and request is None:
            break  # (only a harvest request runs a generation after the loop stopped)
        if g == 1 and not (gdir / "start.json").is_file():
            next_base = latest_potential(campaign)
        base = _start(campaign, g, next_base, say)
        if request is not None and not (gdir / "harvest" / REQUEST).is_file():
            provenance.write_json(gdir / "harvest" / REQUEST, request, provenance.record("learning.harvest-request"))
        say(f"gen{g:03d}: exploring with {base.generation or base.yaml}"
            + (f" (+ harvest of {len(request['sources'])} production file(s)"
               + ("; an extra generation after the loop stopped" if stopped else "") + ")" if request else ""))
        ctx = _Ctx(campaign, g, base, backend, reference_factory, say)
        ctx.harvest = request is not None
        steps: dict = {}
        steps["explore"] = _step_explore(ctx)
        state.step(g, "explore")
        if request is not None:
            steps["harvest"] = _step_harvest(ctx, request)
            state.step(g, "harvest")
        steps["candidates"] = _step_candidates(ctx, steps["explore"], steps.get("harvest"))
        state.step(g, "candidates")
        steps["select"] = _step_select(ctx, steps["candidates"])
        state.step(g, "select")
        stop = None
        fit = val = None
        if steps["select"]["n_selected"] == 0:
            stop = "no_candidates"
            say(f"gen{g:03d}: nothing selected (no candidate in the γ window {tuple(s.gamma_window)}, or none "
                "extends the active set); stopping")
        else:
            steps["label"] = _step_label(ctx, steps["select"])
            state.step(g, "label")
            fit = steps["fit"] = _step_fit(ctx, steps["label"])
            state.step(g, "fit")
            val = steps["validate"] = _step_validate(ctx, fit)
            state.step(g, "validate", "done" if val is not None else "off")
            steps["reassess"] = _step_reassess(ctx, steps["explore"], fit)
            state.step(g, "reassess", "done" if steps["reassess"] is not None else "off")
        summary = _summary(g, steps)
        summary["regressed"] = regressed(s, fit)
        converged, crit = _converged(s, g, fit, val)
        summary["convergence"] = crit
        summary["converged"] = converged
        if stop is None and converged:
            stop = "converged"
        if stop is None:
            stop = _limit_stop(s, g, stopped)
        summary["stop"] = stop
        summary["extra_generation"] = stopped
        provenance.write_json(gdir / "generation.json",
                              {"summary": summary, "stop": stop, "extra": stopped,
                               "fit_potential": fit["potential"] if fit else None},
                              provenance.record("learning.generation", settings=s.model_dump(mode="json")))
        state.finish_generation(g, summary)
        generations.append(summary)
        if fit and not summary.get("regressed"):
            next_base = Potential.from_dict(fit["potential"])
        elif fit:  # the learning curve must go down: the next generation starts again from the better model
            say(f"gen{g:03d}: the refit is worse on the fixed test set than {base.generation}; the next "
                f"generation starts from {base.generation} again (with the new labels)")
        if stop:
            stop_reason = stop
            if not (pending or (gen_dir(campaign, g + 1) / "harvest" / REQUEST).is_file()):
                break
            stopped = True
    _compare(generations)
    from seilab.validation.gate import describe, write_gate

    gate = write_gate(campaign)
    accepted = gate["accepted"]
    if accepted:
        say(f"accepted potential: {accepted['generation']} (passed every validation check; best on the fixed "
            "test set among accepted generations)")
    elif gate["best"] is not None:
        say(f"no generation passed validation: {describe(gate['best'])}")
    per_source: dict = {}
    for gsum in generations:
        for k, v in (gsum.get("candidates_per_source") or {}).items():
            per_source[k] = per_source.get(k, 0) + int(v)
    result = {"generations": generations, "stop_reason": stop_reason, "candidates_per_source": per_source,
              "harvest_generations": [gs["generation"] for gs in generations if gs.get("harvest")],
              "accepted_potential": accepted,
              "final_potential": next_base.as_dict() if next_base else None,
              "seconds_this_run": round(time.perf_counter() - t_start, 1)}
    state.data["summary"] = {k: v for k, v in result.items() if k != "generations"}
    state.stop(stop_reason, generations[-1]["generation"] if generations else 0)
    provenance.write_json(root / SUMMARY, result,
                          provenance.record("learning", settings=s.model_dump(mode="json")))
    result["path"] = str(root / SUMMARY)
    if generations:
        from seilab.learning.figures import plot_learning_curve

        plot_learning_curve(generations, root / "learning_curve.png")
    return LearningResult(result)


def _limit_stop(s, g: int, extra: bool) -> str | None:
    """The stop of a generation that did not converge: an extra (harvest) generation after a stopped loop
    stops it again; a regular one at ``max_generations``."""
    if extra:
        return "harvested"
    return "max_generations" if g >= s.max_generations else None


def _compare(generations: list[dict]) -> None:
    """Mark, for each generation after the first, whether its exploration had fewer extrapolative atoms."""
    prev = None
    for gsum in generations:
        cur = (gsum.get("explore_gamma") or {}).get("frac_gt_1")
        gsum["frac_gt_1_reduced_vs_previous"] = (None if prev is None or cur is None else bool(cur < prev))
        prev = cur if cur is not None else prev


def production_round_due(campaign) -> str | None:
    """Why ``seilab run`` should run this stage again after the simulation (a *production round*), or None.

    Due when the latest production run halted on γ, its extrapolative frames were not harvested by any
    generation yet, and fewer than ``learning.production_rounds`` generations harvested a production run.
    """
    from seilab.learning.harvest import PRODUCTION, production_source

    s = campaign.learning
    if not s.production_rounds or not s.harvest_production:
        return None
    src = production_source(campaign)
    requests = _harvest_requests(campaign)
    if src is None or any(x["sha256"] == src["sha256"] for _, x in requests):
        return None
    rounds = len({g for g, x in requests if x.get("origin") == PRODUCTION})
    if rounds >= s.production_rounds:
        return None
    return (f"the production run halted on γ (max {src.get('max_gamma') or float('nan'):.3g} at step "
            f"{src.get('steps_done')}); production round {rounds + 1} of {s.production_rounds}")
