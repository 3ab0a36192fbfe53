"""Stage entry points for the campaign runner and the jobflow jobs: ``function(campaign) -> summary``.

Each imports its stage lazily, so a campaign that stops early never imports TensorFlow or LAMMPS.
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


def labelling(campaign) -> dict:
    from seilab.labelling.stage import label_campaign

    report = label_campaign(campaign, progress=False)
    return _label_summary(report)


def _label_summary(report) -> dict:
    d = report.as_dict() if hasattr(report, "as_dict") else {}
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
    metrics = getattr(result, "metrics", None) or {}
    pot = getattr(result, "potential", None)
    test = metrics.get("test") or {}
    return {"potential": str(pot.yaml) if pot is not None else None, "generation": getattr(result, "generation", None),
            "test_energy_meV_per_atom": test.get("energy_meV_per_atom"),
            "test_force_meV_per_A": test.get("force_meV_per_A")}


def validation(campaign, progress=None) -> dict:
    from seilab.validation.stage import run_validation

    report = run_validation(campaign, progress=progress)
    if isinstance(report, dict):
        return {k: report[k] for k in ("passed", "n_passed", "n_failed", "n_checks") if k in report}
    return {}


def learning(campaign, progress=None) -> dict:
    from seilab.learning.stage import run_learning

    r = run_learning(campaign, progress=progress)
    gens = r.get("generations") or []
    last = gens[-1] if gens else {}
    return {"stop_reason": r.get("stop_reason"), "generations": len(gens),
            "final_potential": (r.get("final_potential") or {}).get("generation"),
            "accepted_potential": (r.get("accepted_potential") or {}).get("generation"),
            "dataset_size": last.get("dataset_size"),
            "test_force_rmse_meV_per_A": last.get("test_force_rmse_meV_per_A")}


def simulation(campaign, progress=None) -> dict:
    from seilab.simulation.stage import run_simulation

    result = run_simulation(campaign, progress=progress)
    d = result.as_dict()
    out = {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool)) or v is None}
    out["validated"] = _latest_trajectory(campaign).get("potential_gate", {}).get("validated")
    if campaign.simulation.audit:
        from seilab.simulation.audit import run_audit

        audit = run_audit(campaign, progress=progress)
        errors = (audit.get("errors") or {}).get("all") or {}
        out["audit_subcells"] = audit.get("n_subcells")
        out["audit_force_rmse_meV_per_A"] = (errors.get("force_meV_per_A") or {}).get("rmse")
        out["audit_warnings"] = len(audit.get("warnings") or [])  # run_audit has printed them
    return out


def _latest_trajectory(campaign):
    from seilab.provenance import read_json
    from seilab.errors import SeilabError

    latest = campaign.stage_dir("simulation") / "latest.json"
    if not latest.is_file():
        raise SeilabError(f"{latest}: missing; run the simulation stage first")
    info = read_json(latest)
    for key in ("trajectory", "dump", "trajectory_path"):
        if info.get(key):
            return info
    raise SeilabError(f"{latest}: names no trajectory")


def analysis(campaign) -> dict:
    from pathlib import Path

    from seilab.analysis.pipeline import analyze_trajectory

    info = _latest_trajectory(campaign)
    traj = Path(info.get("trajectory") or info.get("dump") or info.get("trajectory_path"))
    settings = campaign.analysis
    if getattr(settings, "type_map", None) in (None, [], ()) and "type_map" in type(settings).model_fields:
        settings = settings.model_copy(update={"type_map": list(campaign.elements)})
    result = analyze_trajectory(traj, settings=settings, out_dir=campaign.stage_dir("analysis"))
    d = result.to_dict() if hasattr(result, "to_dict") else {}
    out = {k: v for k, v in d.get("summary", {}).items() if isinstance(v, (int, float, str))} if isinstance(d, dict) else {}
    out["validated"] = (info.get("potential_gate") or {}).get("validated")  # of the potential that made the trajectory
    return out


def transport_phases(campaign, reaction: dict) -> list[str]:
    """Phase names that get an Onsager run, from ``transport.phases`` and the chemistry result."""
    mode = campaign.transport.phases
    if mode == "all":
        return [p.name for p in campaign.phases]
    if mode == "stable":
        return list(reaction["stable_phases"])
    names = [campaign.reactants.anode]
    for k in reaction["kinks"]:
        if 0 < k["x_anode"] < 1:
            names += [p for p in k["products"] if p not in names]
    names.append(campaign.reactants.electrolyte)
    return list(dict.fromkeys(names))


def transport(campaign) -> dict:
    """Onsager L for the tie-line phases with the newest potential; fluxes J = −L∇μ; figures.

    ∇μ = Δμ / width with the width from the analysis stage's measured interphase thickness when there is one
    (else the ``transport.interface_width_A`` setting); ``fluxes.json`` states which (``interface_width``).
    Fluxes are in the barycentric frame (Σ m_i J_i = 0) and also relative to the S sublattice (``J_host``);
    a sign is given only when |J| > 2σ. The comparison with the interface MD's measured flux is made only for
    runs at the interface MD's temperature (:func:`compare_with_interface`).

    The MD runs live in ``transport/runs/<generation>-<sha of the potential>-<sha of the MD settings>/``
    (:func:`run_tag`), so a newer potential or protocol never reuses trajectories of an older one. A phase whose MD blows up is recorded as failed
    (``failed.json``, and in ``transport_summary.json``) and the others go on; the stage fails only
    when every phase failed."""
    import shutil

    from seilab import provenance
    from seilab.analysis.transport.campaign import Phase, run_campaign
    from seilab.analysis.transport.figures import plot_fluxes, plot_p_coefficients
    from seilab.analysis.transport.fluxes import driving_forces, host_frame_label, predict_fluxes
    from seilab.chemistry import load_reaction, load_relaxed_phases
    from seilab.errors import SeilabError
    from seilab.training.backends import get_backend
    from seilab.validation.gate import gated_potential

    reaction = load_reaction(campaign)
    cp = reaction.get("chemical_potential_distance", {})
    if "mu_anode_eV" not in cp:
        raise SeilabError("chemistry/reaction.json: no chemical-potential distance, cannot form grad_mu")
    width = interface_width(campaign)
    grad_mu = driving_forces(cp["mu_anode_eV"], cp["mu_electrolyte_eV"], width["value_A"])
    names = transport_phases(campaign, reaction)
    relaxed = load_relaxed_phases(campaign, names=set(names))
    potential, gate = gated_potential(campaign, "transport")
    calc = get_backend(campaign.training.backend).calculator(potential)
    out = campaign.stage_dir("transport")
    runs = out / "runs" / run_tag(potential, campaign.transport)
    entries = run_campaign([Phase(n, relaxed[n]) for n in names], calc, runs, campaign.transport,
                           on_error="record")
    failed = [e for e in entries if e.result is None]  # blown up ('failed') or still crystalline ('not_amorphous')
    ok = [e for e in entries if e.result is not None]
    if not ok:
        raise SeilabError(f"transport: every phase's MD blew up or stayed crystalline with {potential.yaml} "
                          f"(first: {failed[0].error}); see {runs}/*/failed.json and */equilibration.json")
    shutil.copyfile(runs / "transport_summary.json", out / "transport_summary.json")
    results = [e.result for e in ok]
    rows, predicted = [], []
    for e in ok:
        f = predict_fluxes(e.result, grad_mu)
        predicted.append((e.phase, f))
        rows.append(flux_row(e.phase, e.temperature_K, e.composition, f, e.result))
    plot_fluxes(results, grad_mu, out / "fig8_fluxes.png")
    try:
        plot_p_coefficients(results, out / "figS9_L_P.png", temperature_K=None)
    except SeilabError:
        pass  # no P-containing phase
    measured = measured_interface_flux(campaign)
    T_md = campaign.simulation.temperature_K
    comparison = compare_with_interface(predicted, measured, T_md) if measured else None
    failures = [{"phase": e.phase, "temperature_K": e.temperature_K, "status": e.status, "error": e.error}
                for e in failed]
    provenance.write_json(out / "fluxes.json", {
        "grad_mu_eV_per_A": grad_mu, "interface_width_A": width["value_A"], "interface_width": width,
        "units": {"J": "ions Å^-2 ps^-1, positive toward the metal", "L": "1/(eV Å ps)"},
        "frame": "; ".join(sorted({r["frame"] for r in rows})), "host_frame": host_frame_label(HOST), "sign_rule": "+/- only when |J| > 2 sigma, "
                                                                              "else 'not resolved'",
        "phases": rows, "failed": failures, "measured_interface_flux": measured, "comparison": comparison,
        "potential": str(potential.yaml), "potential_gate": gate, "runs": str(runs)},
        provenance.record("transport", inputs=[potential.yaml], settings=campaign.transport.model_dump(mode="json")))
    return {"phases": len(names), "runs": len(entries), "validated": gate["validated"], "failed": [f"{f['phase']}@{f['temperature_K']:.0f}K"
                                                                   for f in failures],
            "signs": {f"{r['phase']}@{r['temperature_K']:.0f}K": " ".join(f"{s}{v}" if v in ("+", "-") else f"{s} not resolved" for s, v in r["sign"].items())
                      for r in rows}}


def run_tag(potential, settings) -> str:
    """``<generation>-<sha of the potential>-<sha of the MD-defining settings>``: the folder of one set of MD runs.

    A newer potential, or a change of a setting that defines the MD (thermostat, NpT stage, melt, time
    step, ...), gets its own folder instead of meeting the campaign's "made with different settings"
    error; raising ``n_steps`` (not MD-defining) extends the existing trajectories.
    """
    import hashlib
    import json

    from seilab import provenance
    from seilab.analysis.transport.campaign import _CELL_KEYS, _MD_KEYS

    md = {k: getattr(settings, k) for k in sorted(set(_MD_KEYS) | set(_CELL_KEYS))}
    md_sha = hashlib.sha256(json.dumps(md, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{potential.generation or potential.directory.name}-{provenance.sha256_file(potential.yaml)[:10]}-{md_sha}"


HOST = "S"  # the host sublattice of the host-fixed frame


def flux_row(phase: str, temperature_K: float, composition, f, result) -> dict:
    """One ``fluxes.json`` row: J ± σ (Student-t interval too) in the barycentric frame and relative to the
    S sublattice, signs only where |J| > 2σ, and the species whose L is not diffusive."""
    row = {"phase": phase, "temperature_K": temperature_K, "composition": composition,
           "J": {s: float(j) for s, j in zip(f.species, f.J)},
           "J_err": {s: float(j) for s, j in zip(f.species, f.J_err)},
           "J_ci": {s: float(j) for s, j in zip(f.species, f.J_ci)}, "confidence": f.confidence,
           "J_err_method": f.J_err_method, "frame": f.frame, "sign": f.signs(),
           "onsager_status": result.status, "not_diffusive": list(result.not_diffusive)}
    if HOST in f.species and f.counts and f.counts[f.species.index(HOST)] > 0:
        h = f.in_host_frame(HOST)
        row.update({"J_host": {s: float(j) for s, j in zip(h.species, h.J)},
                    "J_host_err": {s: float(j) for s, j in zip(h.species, h.J_err)},
                    "sign_host": h.signs(), "host_frame": h.frame})
    return row


def compare_with_interface(predicted, measured: dict, interface_temperature_K: float) -> dict:
    """Predicted (``[(phase, FluxResult)]``) vs the interface MD's measured flux, like with like: only runs at the
    interface MD's temperature are compared (each phase on its own, resolved signs only); otherwise
    ``{"status": "not comparable", "why": ...}`` naming both temperatures."""
    from seilab.analysis.transport.fluxes import compare_fluxes

    temps = sorted({float(f.temperature_K) for _, f in predicted})
    same = [(ph, f) for ph, f in predicted if abs(float(f.temperature_K) - float(interface_temperature_K)) < 1e-6]
    if not same:
        return {"status": "not comparable", "interface_temperature_K": float(interface_temperature_K),
                "transport_temperatures_K": temps,
                "why": f"the transport runs are at {', '.join(f'{t:g}' for t in temps)} K, the interface MD at "
                       f"{float(interface_temperature_K):g} K: fluxes at different temperatures are not compared"}
    return {"status": "compared", "interface_temperature_K": float(interface_temperature_K),
            "transport_temperatures_K": temps, "measured_frame": "lab (counted across the initial interface plane)",
            "phases": {ph: compare_fluxes(f, measured) for ph, f in same}}


def interface_width(campaign) -> dict:
    """Width over which Δμ drops: the analysis stage's final interphase thickness (Å) when it measured one (> 0),
    else the ``transport.interface_width_A`` setting; ``{"value_A", "source"}``."""
    from seilab.provenance import read_json

    path = campaign.stage_dir("analysis") / "analysis.json"
    if path.is_file():
        t = (read_json(path).get("summary") or {}).get("final_thickness_A")
        if isinstance(t, (int, float)) and t == t and t > 0:
            return {"value_A": float(t), "source": "measured: final interphase thickness, analysis/analysis.json "
                                                   "summary.final_thickness_A"}
    return {"value_A": float(campaign.transport.interface_width_A),
            "source": "setting transport.interface_width_A (the analysis stage measured no interphase thickness)"}


def measured_interface_flux(campaign) -> dict | None:
    """Net flux per species across the initial interface (ions Å⁻² ps⁻¹, + toward the metal), from the
    analysis stage: the final net crossings per area divided by the elapsed time."""
    from seilab.provenance import read_json

    path = campaign.stage_dir("analysis") / "analysis.json"
    if not path.is_file():
        return None
    flux = read_json(path).get("flux") or {}
    times = flux.get("times_ps") or []
    net = flux.get("net_per_area_per_nm2") or {}
    if len(times) < 2 or not net or times[-1] <= times[0]:
        return None
    dt = times[-1] - times[0]
    return {s: float(v[-1]) / 100.0 / dt for s, v in net.items() if v}  # nm^-2 -> Å^-2
