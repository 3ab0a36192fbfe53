"""The transport stage: Onsager L for the tie-line phases with the accepted potential; fluxes J = −L∇μ.

:func:`run_transport` (the stage function; the runner and the jobflow flow call it) runs the MD campaign
(:mod:`.campaign`) for the phases chosen by ``transport.phases`` (:func:`transport_phases`), predicts
the fluxes (:mod:`.fluxes`) with ∇μ = Δμ / width, the width from the analysis stage's measured interphase
thickness when there is one (:func:`interface_width`), and compares them with the interface MD's measured
flux only like with like (:func:`compare_with_interface`). Writes ``<output>/transport/fluxes.json``,
``transport_summary.json`` and the figures (Fig. 8, S9).

It sits after the analysis stage in the pipeline: it reads ``analysis/analysis.json``, the chemistry
result and the validation gate, never imports a later stage.
"""

from __future__ import annotations

from seilab.results import DictResult


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


class TransportResult(DictResult):
    """``transport/fluxes.json``: J = −L∇μ per phase and temperature, the failed runs, the comparison with
    the interface MD, the potential and its gate record (plus ``n_phases`` and ``n_runs`` of this run)."""

    def summary(self) -> dict:
        rows = self.get("phases") or []
        return {"phases": self.get("n_phases"), "runs": self.get("n_runs"),
                "validated": (self.get("potential_gate") or {}).get("validated"),
                "failed": [f"{f['phase']}@{f['temperature_K']:.0f}K" for f in self.get("failed") or []],
                "signs": {f"{r['phase']}@{r['temperature_K']:.0f}K": " ".join(
                    f"{s}{v}" if v in ("+", "-") else f"{s} not resolved" for s, v in r["sign"].items())
                    for r in rows}}


def run_transport(campaign, *, progress=None) -> TransportResult:
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
    from seilab.transport.campaign import Phase, run_campaign
    from seilab.transport.figures import plot_fluxes, plot_p_coefficients
    from seilab.transport.fluxes import driving_forces, host_frame_label, predict_fluxes
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
    say = None
    if progress is not None:  # the campaign reports frames per phase as dicts; the stage says one line each
        def say(d: dict) -> None:
            progress(f"{d['phase']} {d['temperature_K']:g} K: {d['frames_done']}/{d['frames_total']} frames")
    entries = run_campaign([Phase(n, relaxed[n]) for n in names], calc, runs, campaign.transport,
                           progress=say, on_error="record")
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
    fluxes = {
        "grad_mu_eV_per_A": grad_mu, "interface_width_A": width["value_A"], "interface_width": width,
        "units": {"J": "ions Å^-2 ps^-1, positive toward the metal", "L": "1/(eV Å ps)"},
        "frame": "; ".join(sorted({r["frame"] for r in rows})), "host_frame": host_frame_label(HOST), "sign_rule": "+/- only when |J| > 2 sigma, "
                                                                              "else 'not resolved'",
        "phases": rows, "failed": failures, "measured_interface_flux": measured, "comparison": comparison,
        "potential": str(potential.yaml), "potential_gate": gate, "runs": str(runs)}
    provenance.write_json(campaign.layout.fluxes, fluxes, provenance.record(
        "transport", inputs=[potential.yaml], settings=campaign.transport.model_dump(mode="json")))
    return TransportResult(fluxes, n_phases=len(names), n_runs=len(entries))


def run_tag(potential, settings) -> str:
    """``<generation>-<sha of the potential>-<sha of the MD-defining settings>``: the folder of one set of MD runs.

    A newer potential, or a change of a setting that defines the MD (thermostat, NpT stage, melt, time
    step, ...), gets its own folder instead of meeting the campaign's "made with different settings"
    error; raising ``md.steps`` (not MD-defining) extends the existing trajectories.
    """

    from seilab import provenance
    from seilab.settings.base import settings_values
    from seilab.transport.campaign import _CELL_KEYS, _MD_KEYS

    md = settings_values(settings, sorted(set(_MD_KEYS) | set(_CELL_KEYS)))
    md_sha = provenance.digest(md, 8)
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
    from seilab.transport.fluxes import compare_fluxes

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

    path = campaign.layout.analysis
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

    path = campaign.layout.analysis
    if not path.is_file():
        return None
    flux = read_json(path).get("flux") or {}
    times = flux.get("times_ps") or []
    net = flux.get("net_per_area_per_nm2") or {}
    if len(times) < 2 or not net or times[-1] <= times[0]:
        return None
    dt = times[-1] - times[0]
    return {s: float(v[-1]) / 100.0 / dt for s, v in net.items() if v}  # nm^-2 -> Å^-2
