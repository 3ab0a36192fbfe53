"""Stage entry points for the campaign runner and the jobflow jobs: ``function(campaign) -> summary``.

Each calls its stage's ``run_<stage>(campaign, progress=...)`` (``run_chemistry``, ``run_sampling``,
``run_labelling``, ``run_training``, ``run_validation``, ``run_learning``, ``run_simulation``,
``run_analysis``, ``run_transport``; the report's ``build_report``) and keeps the scalars the runner's
table and the jobflow outputs show. Each imports its stage lazily, so a campaign that stops early never
imports TensorFlow or LAMMPS.
"""

from __future__ import annotations


def chemistry(campaign, progress=None) -> dict:
    from seilab.chemistry.stage import run_chemistry

    result = run_chemistry(campaign, progress=progress)
    li_rich = [k for k in result["kinks"] if 0 < k["x_anode"] < 1]
    return {"products": result["products"], "stable_phases": result["stable_phases"],
            "anode_rich_products": li_rich[-1]["products"] if li_rich else [],
            "n_kinks": len(result["kinks"])}


def report(campaign) -> dict:
    from seilab.report import build_report

    return build_report(campaign)


def sampling(campaign) -> dict:
    from seilab.sampling.pipeline import run_sampling

    manifest = run_sampling(campaign, progress=False)
    return {"files": len(manifest.get("files", [])), "total_frames": manifest.get("total_frames"),
            "frames_per_kind": manifest.get("frames_per_kind"), "interface_pairs": manifest.get("interface_pairs")}


def labelling(campaign, progress=None) -> dict:
    from seilab.labelling.stage import run_labelling

    return _label_summary(run_labelling(campaign, progress=progress))


def _label_summary(report) -> dict:
    d = report.as_dict()
    d["failed"] = len(d.get("failed") or [])
    return {k: v for k, v in d.items() if isinstance(v, (int, float, str))}


def unlabelled_indices(campaign) -> list[int]:
    """Indices (into the sampling manifest's frames) of structures the dataset store lacks."""
    from seilab.reference.labelling import store_for
    from seilab.sampling.pipeline import sampled_frames

    store = store_for(campaign)
    return [i for i, atoms in enumerate(sampled_frames(campaign)) if atoms not in store]


def label_indices(campaign, indices: list[int]) -> dict:
    """Label one batch of sampled structures (a jobflow fan-out job); resumable like the stage."""
    import functools

    from seilab.reference.calculators import get_calculator
    from seilab.reference.labelling import label_structures, store_for
    from seilab.sampling.pipeline import sampled_frames

    frames = sampled_frames(campaign)
    batch = [frames[i] for i in indices]
    store = store_for(campaign)
    report = label_structures(batch, store, functools.partial(get_calculator, campaign.reference),
                              workers=1, threads=campaign.reference.threads, progress=False)
    store.write_summary()
    return _label_summary(report)


def training(campaign, progress=None) -> dict:
    from seilab.training.stage import run_training

    result = run_training(campaign, generation=0, progress=progress)  # the first fit; refits are learning's
    test = (result.metrics or {}).get("test") or {}
    return {"potential": str(result.potential.yaml), "generation": result.generation,
            "test_energy_meV_per_atom": test.get("energy_meV_per_atom"),
            "test_force_meV_per_A": test.get("force_meV_per_A")}


def validation(campaign, progress=None) -> dict:
    from seilab.validation.stage import run_validation

    report = run_validation(campaign, progress=progress)
    return {k: report[k] for k in ("passed", "n_passed", "n_failed", "n_checks") if k in report}


def learning(campaign, progress=None) -> dict:
    from seilab.learning.stage import run_learning

    r = run_learning(campaign, progress=progress)
    gens = r.get("generations") or []
    last = gens[-1] if gens else {}
    return {"stop_reason": r.get("stop_reason"), "generations": len(gens),
            "final_potential": (r.get("final_potential") or {}).get("generation"),
            "accepted_potential": (r.get("accepted_potential") or {}).get("generation"),
            "dataset_size": last.get("dataset_size"),
            "test_force_rmse_meV_per_A": last.get("test_force_rmse_meV_per_A"),
            "candidates_per_source": r.get("candidates_per_source"),
            "harvest_generations": r.get("harvest_generations")}


def simulation(campaign, progress=None) -> dict:
    from seilab.simulation.stage import production_trajectory, run_simulation

    result = run_simulation(campaign, progress=progress)
    d = result.as_dict()
    out = {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool)) or v is None}
    out["validated"] = production_trajectory(campaign).get("potential_gate", {}).get("validated")
    if campaign.simulation.audit:
        from seilab.simulation.audit import run_audit

        audit = run_audit(campaign, progress=progress)
        errors = (audit.get("errors") or {}).get("all") or {}
        out["audit_subcells"] = audit.get("n_subcells")
        out["audit_force_rmse_meV_per_A"] = (errors.get("force_meV_per_A") or {}).get("rmse")
        out["audit_warnings"] = len(audit.get("warnings") or [])  # run_audit has printed them
    return out


def analysis(campaign, progress=None) -> dict:
    from seilab.analysis.stage import run_analysis
    from seilab.simulation.stage import production_trajectory

    result = run_analysis(campaign, progress=progress)
    out = {k: v for k, v in result.to_dict()["summary"].items() if isinstance(v, (int, float, str))}
    # of the potential that made the trajectory
    out["validated"] = (production_trajectory(campaign).get("potential_gate") or {}).get("validated")
    return out


def transport(campaign) -> dict:
    from seilab.transport.stage import run_transport

    return run_transport(campaign)
