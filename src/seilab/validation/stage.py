"""The validation stage: run every check group against the reference and write the report.

Outputs (``<output>/validation/<generation>/``): ``report.json`` (pass/fail per check, numbers,
thresholds, skipped checks and why, provenance) and the figures ``dimers.png`` (Fig. 3), ``eos.png``
(Fig. 4), ``rdf_<name>.png`` (Fig. 5), ``stability.png`` and ``parity.png`` (copied from training).
Reference-only results (dimer curves, EOS scans, reference MD RDFs) are cached in
``<output>/validation/reference_cache/`` and reused by later generations.

Inputs: crystalline phases from the chemistry stage (:func:`seilab.chemistry.load_relaxed_phases`);
amorphous and interface structures from ``<output>/sampling/**.extxyz`` (frames whose
``info['kind']`` or file name says amorphous / interface; last frame of each file) or else from the
dataset store (largest labelled structure of each phase and kind). Any of these can be passed in
directly (``structures=``); checks without inputs are listed under ``skipped``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable


from seilab import provenance
from seilab.errors import SeilabError
from seilab.results import DictResult

KINDS = ("crystalline", "amorphous", "interface")


# -- inputs --------------------------------------------------------------------------------------
def discover_structures(campaign, progress=None) -> tuple[dict, list[dict]]:
    """{'crystalline': {name: Atoms}, 'amorphous': {...}, 'interface': {...}} and notes on sources."""
    found: dict = {k: {} for k in KINDS}
    notes = []
    try:
        from seilab.chemistry import load_relaxed_phases
    except ImportError:  # pragma: no cover
        load_relaxed_phases = None
    for spec in campaign.phases:
        if load_relaxed_phases is None:
            break
        try:
            found["crystalline"][spec.name] = load_relaxed_phases(campaign, names=[spec.name])[spec.name]
        except SeilabError as exc:
            notes.append({"what": f"crystalline:{spec.name}", "reason": str(exc)})
    sampling = campaign.stage_dir("sampling")
    if sampling.is_dir():
        for path in sorted(sampling.rglob("*.extxyz")):
            if "work" in path.relative_to(sampling).parts[:-1]:
                continue  # a stage's intermediate files (raw packings, EOS runs), not sampled structures
            if not provenance.is_valid_artifact(path):
                continue
            kind = _kind_from_name(path)
            try:
                atoms = provenance.read_extxyz(path, index=-1)
            except SeilabError:
                continue
            kind = atoms.info.get("kind", kind)
            if kind in ("amorphous", "interface"):
                name = str(atoms.info.get("phase") or atoms.info.get("name") or path.stem)
                found[kind].setdefault(name, atoms)
        for k in ("amorphous", "interface"):
            if found[k]:
                notes.append({"what": f"{k}: {len(found[k])} from {sampling}", "reason": "source"})
    store_root = campaign.layout.dataset
    from seilab.reference.store import DatasetStore

    if DatasetStore.holds_labels(store_root) and (not found["amorphous"] or not found["interface"]):
        best: dict = {}
        for lab in DatasetStore(store_root):
            kind = lab.meta.get("kind")
            if kind in ("amorphous", "interface") and not found[kind]:
                key = (kind, lab.meta.get("phase") or lab.atoms.get_chemical_formula())
                if key not in best or len(lab.atoms) > len(best[key]):
                    best[key] = lab.atoms
        for (kind, name), atoms in best.items():
            a = atoms.copy()
            a.calc = None
            found[kind][name] = a
        for k in ("amorphous", "interface"):
            if any(kk == k for kk, _ in best):
                notes.append({"what": f"{k}: {sum(kk == k for kk, _ in best)} from the dataset store", "reason": "source"})
    return found, notes


def _kind_from_name(path: Path) -> str | None:
    s = str(path).lower()
    for k in ("amorphous", "interface"):
        if k in s:
            return k
    return None


# -- groups --------------------------------------------------------------------------------------
def _metrics_group(potential, s, fixed_test: Path | None = None, calc_factory=None) -> tuple[list, dict, list]:
    """Test-set RMSE checks (overall; pooled over ``s.crystalline_kinds``) and the errors on the campaign's
    fixed held-out set (``fixed_test``), which rank generations against each other (see the gate)."""
    from seilab.validation.report import check

    if potential.metrics is None or not Path(potential.metrics).is_file():
        return [], {}, [{"what": "metrics", "reason": "no metrics.json beside the potential"}]
    m = provenance.read_json(potential.metrics)
    test = m.get("test")
    if not test:
        return [], {"train": m.get("train")}, [{"what": "metrics", "reason": "no test set (training.test_fraction = 0)"}]
    e, f = test["energy_meV_per_atom"]["rmse"], test["force_meV_per_A"]["rmse"]
    checks = [check("test_energy_rmse", "metrics", e, s.max_test_energy_rmse_meV_per_atom, "<=", "meV/atom"),
              check("test_force_rmse", "metrics", f, s.max_test_force_rmse_meV_per_A, "<=", "meV/Å")]
    skipped = []
    kinds = [k for k in s.crystalline_kinds if k in (test.get("by_kind") or {})]
    if kinds:
        rows = [test["by_kind"][k] for k in kinds]
        n = sum(r["n_structures"] for r in rows)
        pooled = (sum(r["n_structures"] * r["energy_meV_per_atom"]["rmse"] ** 2 for r in rows) / n) ** 0.5
        checks.append(check("test_energy_rmse_crystalline", "metrics", pooled,
                            s.max_test_energy_rmse_crystalline_meV_per_atom, "<=",
                            f"meV/atom over {'+'.join(kinds)} ({n} structures)"))
    else:
        skipped.append({"what": "metrics:test_energy_rmse_crystalline",
                        "reason": f"no test structures of kinds {s.crystalline_kinds}"})
    out = {"train": m.get("train"), "test": test}
    if fixed_test is not None and Path(fixed_test).is_file() and calc_factory is not None:
        import pandas as pd

        from seilab.training.metrics import error_metrics, predict

        fm = error_metrics(predict(calc_factory(), pd.read_pickle(fixed_test, compression="gzip")))
        out["fixed_test"] = {"path": str(fixed_test), "n_structures": fm["n_structures"],
                             "energy_rmse_meV_per_atom": fm["energy_meV_per_atom"]["rmse"],
                             "force_rmse_meV_per_A": fm["force_meV_per_A"]["rmse"]}
    return checks, out, skipped


def _formation(campaign, structures: dict, model_factory, s, outdir: Path) -> tuple[list, dict, list, list]:
    from seilab.chemistry import load_reaction
    from seilab.chemistry.library import phase_formula
    from seilab.validation.formation import formation_group, plot_formation

    path = campaign.layout.reaction
    if not path.is_file():
        return [], {}, [{"what": "formation", "reason": f"{path} missing (run the chemistry stage)"}], []
    reaction = load_reaction(campaign)
    relaxed = {n: a for n, a in structures["crystalline"].items() if n in {r["phase"] for r in reaction["hull"]}}
    missing = sorted({r["phase"] for r in reaction["hull"]} - set(relaxed))
    if missing:
        return [], {}, [{"what": "formation", "reason": f"relaxed phases missing: {missing}"}], []
    checks, results = formation_group(model_factory(), relaxed, reaction,
                                      phase_formula(campaign.phase(campaign.reactants.anode)),
                                      phase_formula(campaign.phase(campaign.reactants.electrolyte)), s)
    figures = []
    if results.get("phases"):
        plot_formation(results, outdir / "formation.png")
        figures.append("formation.png")
    return checks, results, [], figures


def _rdf_group(structures: dict, model_factory, ref_calc, s, outdir: Path, cache, say) -> tuple[list, dict, list, list]:
    from seilab.reference.store import structure_hash
    from seilab.validation.md import run_md
    from seilab.validation.rdf import compare, plot_rdf, rdf, supercell
    from seilab.validation.report import check, fail

    checks, results, skipped, figures = [], {}, [], []
    todo = []
    for name, atoms in structures["crystalline"].items():
        if s.rdf_phases is None or name in s.rdf_phases:
            todo.append((f"crystalline:{name}", supercell(atoms, s.rdf_min_atoms)))
    if s.rdf_amorphous:
        for name, atoms in structures["amorphous"].items():
            todo.append((f"amorphous:{name}", atoms))
        if not structures["amorphous"]:
            skipped.append({"what": "rdf:amorphous", "reason": "no amorphous structures available"})
    # No temperature cap here: an amorphous snapshot quenched from a hot run heats up as it relaxes (for the
    # reference too), which is physics, not a blow-up; a real blow-up still stops the run through
    # non-finite numbers or the closest-pair floor. The stability group keeps the cap.
    md_kw = dict(ensemble="nvt", **s.rdf_md.model_dump(), seed=s.seed, max_temperature_factor=None,
                 min_distance_A=s.min_distance_A)
    for tag, atoms in todo:
        if len(atoms) > s.rdf_max_atoms:
            skipped.append({"what": f"rdf:{tag}", "reason": f"{len(atoms)} atoms > rdf_max_atoms {s.rdf_max_atoms}"})
            continue
        key = {"kind": "rdf", "structure": structure_hash(atoms),
               "md": {k: v for k, v in md_kw.items() if k != "ensemble"},
               "rdf": [s.rdf_r_max_A, s.rdf_bin_A, s.rdf_smearing_A]}
        ref = cache.get(key) if cache is not None else None
        if ref is None:
            say(f"rdf: reference MD {tag} ({len(atoms)} atoms, {s.rdf_md.equilibration_steps + s.rdf_md.steps} steps)")
            md_ref = run_md(atoms, ref_calc, **md_kw)
            if md_ref.failure or not md_ref.frames:
                skipped.append({"what": f"rdf:{tag}", "reason": f"reference MD failed: {md_ref.failure}"})
                continue
            ref = rdf(md_ref.frames, s.rdf_r_max_A, s.rdf_bin_A, s.rdf_smearing_A)
            ref["seconds"] = md_ref.seconds
            if cache is not None:
                cache.put(key, ref)
        say(f"rdf: model MD {tag}")
        md_mod = run_md(atoms, model_factory(gamma=False), gamma_calc=model_factory(), **md_kw)
        fname = f"rdf_{tag.replace(':', '_')}.png"
        if md_mod.failure or not md_mod.frames:
            # the figure still shows the reference and whatever the model produced before it failed
            mod = rdf(md_mod.frames or [atoms], s.rdf_r_max_A, s.rdf_bin_A, s.rdf_smearing_A)
            plot_rdf(f"{tag} (model MD failed)", mod, ref, compare(mod, ref), outdir / fname)
            figures.append(fname)
            checks.append(fail(f"rdf:{tag}", "rdf", f"model MD failed: {md_mod.failure}"))
            results[tag] = {"model_md": md_mod.summary(), "figure": fname}
            continue
        mod = rdf(md_mod.frames, s.rdf_r_max_A, s.rdf_bin_A, s.rdf_smearing_A)
        scores = compare(mod, ref)
        plot_rdf(tag, mod, ref, scores, outdir / fname)
        figures.append(fname)
        results[tag] = {"n_atoms": len(atoms), "similarity": scores, "model_md": md_mod.summary(),
                        "r_A": mod["r"], "model_total": mod["total"], "reference_total": ref["total"],
                        "figure": fname}
        checks.append(check(f"rdf_total:{tag}", "rdf", scores["total"], s.min_rdf_similarity, ">=", "similarity"))
        checks.append(check(f"rdf_partial:{tag}", "rdf", scores["worst_partial"], s.min_partial_rdf_similarity, ">=",
                            "worst partial similarity"))
    return checks, results, skipped, figures


def _stability_group(structures: dict, model_factory, s, outdir: Path, say) -> tuple[list, dict, list, list]:
    from seilab.validation.stability import plot_stability, screen

    checks, runs, skipped = [], {}, []
    for kind in ("interface", "amorphous"):
        items = list(structures[kind].items())
        if not items:
            skipped.append({"what": f"stability:{kind}", "reason": f"no {kind} structures available"})
            continue
        for name, atoms in items[: s.stability_max_structures]:
            if len(atoms) > s.stability_max_atoms:
                skipped.append({"what": f"stability:{kind}:{name}",
                                "reason": f"{len(atoms)} atoms > stability_max_atoms {s.stability_max_atoms}"})
                continue
            for ens in s.stability_ensembles:
                say(f"stability: {ens.upper()} {kind}:{name} ({len(atoms)} atoms, {s.stability_md.steps} steps)")
                run = screen(f"{kind}:{name}", atoms, model_factory(gamma=False), ens, s, seed=s.seed,
                             gamma_calc=model_factory())
                runs[f"{kind}:{name}:{ens}"] = run
                checks += run["checks"]
                skipped += run["skipped"]
    figures = []
    if runs:
        plot_stability(runs, outdir / "stability.png")
        figures.append("stability.png")
    return checks, {k: {"numbers": v["numbers"], "series": v["series"]} for k, v in runs.items()}, skipped, figures


# -- stage ---------------------------------------------------------------------------------------
class ValidationResult(DictResult):
    """``validation/<generation>/report.json`` (plus ``path`` and, for a campaign generation, ``gate``: the
    accepted generation after this one was ranked)."""

    def summary(self) -> dict:
        s = self.get("summary") or {}
        return {"passed": self.get("passed"), "generation": (self.get("potential") or {}).get("generation"),
                "n_checks": s.get("n_checks"), "n_gating": s.get("n_gating"), "n_failed": s.get("n_failed"),
                "failed": s.get("failed"), "advisory_failed": s.get("advisory_failed")}


def run_validation(campaign, *, progress: Callable[[str], None] | None = None, potential=None,
                   structures: dict | None = None, outdir: Path | None = None, reference_calc=None,
                   backend=None) -> ValidationResult:
    """Validate ``potential`` (default: the newest finished one) and write ``report.json`` + figures."""
    from seilab.reference import describe, get_calculator
    from seilab.training import get_backend, latest_potential
    from seilab.validation.dimers import binding_curves, plot_binding_curves
    from seilab.validation.eos import equations_of_state, plot_eos
    from seilab.validation.report import ReferenceCache, mark_advisory, summarize

    say = progress or (lambda msg: None)
    s = campaign.validation
    t_start = time.perf_counter()
    potential = potential or latest_potential(campaign)
    backend = backend or get_backend(potential.backend)
    outdir = Path(outdir) if outdir else campaign.stage_dir("validation") / (potential.generation or "custom")
    outdir.mkdir(parents=True, exist_ok=True)
    _limit_threads(s.threads)
    has_gamma = potential.asi is not None and Path(potential.asi).is_file()
    calcs: dict = {}

    def model_factory(gamma: bool = has_gamma):
        """The model's calculator (one per kind, loaded once: 0.35 s for the demo's potential); with
        ``gamma`` it also returns per-atom γ, which the MD groups evaluate on sampled frames only."""
        gamma = gamma and has_gamma
        if gamma not in calcs:
            calcs[gamma] = backend.calculator(potential, gamma=gamma)
        return calcs[gamma]

    if structures is None:
        structures, notes = discover_structures(campaign, say)
    else:
        structures = {k: dict(structures.get(k) or {}) for k in KINDS}
        notes = [{"what": "structures passed in directly", "reason": "source"}]
    sources = [n for n in notes if n["reason"] == "source"]
    skipped = [n for n in notes if n["reason"] != "source"]
    ref_desc = describe(campaign.reference)
    cache = ReferenceCache(campaign.stage_dir("validation") / "reference_cache", ref_desc)
    _ref = {}

    def ref_calc():
        if "calc" not in _ref:
            _ref["calc"] = reference_calc if reference_calc is not None else get_calculator(
                campaign.reference, directory=outdir / "reference_runs")
        return _ref["calc"]

    checks, results, figures = [], {}, []
    timings = {}

    def take(group: str, group_checks, group_results, group_skipped=(), group_figures=()) -> None:
        """Add one group's checks, results, skipped items and figure names to the report."""
        checks.extend(group_checks)
        results[group] = group_results
        skipped.extend(group_skipped)
        figures.extend(group_figures)

    for group in s.checks:
        t0 = time.perf_counter()
        if group == "metrics":
            fixed = campaign.layout.fixed_test
            take(group, *_metrics_group(potential, s, fixed, lambda: backend.calculator(potential)))
            parity = Path(potential.yaml).parent / "parity.png"
            if parity.is_file():
                shutil.copyfile(parity, outdir / "parity.png")
                figures.append("parity.png")
        elif group == "formation":
            take(group, *_formation(campaign, structures, model_factory, s, outdir))
        elif group == "dimers":
            say("dimers: binding curves for every element pair")
            out = binding_curves(model_factory(), _Lazy(ref_calc), campaign.elements, s, cache, say)
            plot_binding_curves(out["curves"], outdir / "dimers.png", s)
            take(group, out["checks"], out["curves"], group_figures=["dimers.png"])
        elif group == "eos":
            phases = {n: a for n, a in structures["crystalline"].items()
                      if (s.eos_phases is None or n in s.eos_phases)}
            for n, a in list(phases.items()):
                if len(a) > s.eos_max_atoms:
                    skipped.append({"what": f"eos:{n}", "reason": f"{len(a)} atoms > eos_max_atoms {s.eos_max_atoms}"})
                    del phases[n]
            if not phases:
                skipped.append({"what": "eos", "reason": "no crystalline phases available (run the chemistry stage)"})
            else:
                out = equations_of_state(model_factory(), _Lazy(ref_calc), phases, s, cache, say)
                plot_eos(out["phases"], outdir / "eos.png")
                take(group, out["checks"], out["phases"], group_figures=["eos.png"])
        elif group == "rdf":
            if not structures["crystalline"] and not structures["amorphous"]:
                skipped.append({"what": "rdf", "reason": "no crystalline or amorphous structures available"})
            else:
                take(group, *_rdf_group(structures, model_factory, _Lazy(ref_calc), s, outdir, cache, say))
        elif group == "stability":
            take(group, *_stability_group(structures, model_factory, s, outdir, say))
        timings[group] = round(time.perf_counter() - t0, 1)
    mark_advisory(checks, s.advisory_checks)
    summary = summarize(checks, skipped)
    report = {"passed": summary["passed"], "summary": summary, "potential": potential.as_dict(),
              "potential_sha256": provenance.sha256_file(potential.yaml), "groups_run": list(s.checks),
              "checks": checks, "skipped": skipped, "sources": sources, "figures": figures,
              "results": results, "timings_s": timings, "reference": ref_desc,
              "seconds": round(time.perf_counter() - t_start, 1)}
    provenance.write_json(outdir / "report.json", report,
                          provenance.record("validation", inputs=[potential.yaml], settings=s.model_dump(mode="json")))
    report["path"] = str(outdir / "report.json")
    if outdir.parent == campaign.stage_dir("validation"):
        from seilab.validation.gate import write_gate

        report["gate"] = write_gate(campaign)["accepted"]
    return ValidationResult(report)


class _Lazy:
    """An ASE-calculator stand-in that creates the reference calculator on first use."""

    def __init__(self, factory):
        self._factory = factory

    def __getattr__(self, name):
        return getattr(self._factory(), name)


def _limit_threads(n: int) -> None:
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:  # pragma: no cover
        pass
