"""The simulation stage: build the interface at ``simulation.n_atoms`` and run production MD.

Artefacts under ``<output>/simulation/``:

* ``interface_<N>.extxyz`` (+ sidecar): the built interface (per-atom ``interface_side``)
* ``run-<engine>-<fingerprint>/``: one MD run (see :mod:`seilab.md.engine` for its files);
  the fingerprint covers structure, potential and dynamics settings but not ``steps``, so rerunning
  the same command resumes a killed run and raising ``steps`` extends a finished one
* ``latest.json``: which run folder the last call used, its status and speed
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

from seilab import provenance
from seilab.errors import SeilabError
from seilab.results import scalars
from seilab.md.engine import MDResult, MDSpec, Potential, write_lammps_data
from seilab.md.engines import get_engine


def resolve_potential(campaign, potential=None) -> tuple[Potential, dict]:
    """(files, gate record) of ``potential`` (path / Potential, the user's choice: not judged by the
    gate) or of the campaign's accepted potential (:func:`seilab.validation.gate.gated_potential`:
    refused when nothing passed validation, unless ``gate.allow_unvalidated``)."""
    if potential is not None:
        return Potential.from_any(potential, field_name="--potential"), {
            "validated": None, "why": "potential given explicitly; not judged by the gate"}
    from seilab.validation.gate import gated_potential

    try:
        pot, gate = gated_potential(campaign, "simulation")
    except SeilabError as exc:
        raise SeilabError(f"{exc} (or pass --potential PATH.yaml)") from None
    return Potential.from_any(pot), gate


def interface_structure(campaign, settings, potential: Potential | None = None,
                        progress: Callable[[str], None] | None = None):
    """The interface at ``settings.n_atoms`` (built once, then read from ``interface_<N>.extxyz``)."""
    from seilab.simulation.interface import build_interface, bulk_phases, sampling_seed

    say = progress or (lambda m: None)
    folder = campaign.stage_dir("simulation")
    an, el = campaign.reactants.anode, campaign.reactants.electrolyte
    path = folder / f"interface_{settings.n_atoms}.extxyz"
    build_keys = ("n_atoms", "anode_miller", "electrolyte_miller", "anode_fraction", "aspect_ratio", "gap_A",
                  "max_strain", "max_match_area_A2", "use_sampling_interfaces")
    wanted = {k: getattr(settings, k) for k in build_keys}
    wanted = provenance._jsonable(wanted)
    if provenance.is_valid_artifact(path):
        side = provenance.read_json(provenance.sidecar_path(path))
        if side.get("settings") == wanted:
            atoms = provenance.read_extxyz(path, index=-1)
            say(f"interface: {len(atoms)} atoms from {path}")
            return atoms, path
    bulk = bulk_phases(campaign, (an, el))
    seed = None
    if settings.use_sampling_interfaces:
        calc = None
        if potential is not None and potential.yaml is not None:
            from seilab.md.ase_engine import ace_calculator

            calc = ace_calculator(potential)
        seed = sampling_seed(campaign, settings.anode_miller, settings.electrolyte_miller, calculator=calc, bulk=bulk)
        if seed is not None:
            say(f"interface: lattice match of the lowest-energy sampling interface ({seed.info.get('seed_file')}, "
                f"{seed.info['interface_energy_eV_per_A2']:.4f} eV/Å²)")
    atoms = build_interface(bulk[an], bulk[el], settings.n_atoms, anode_miller=settings.anode_miller,
                            electrolyte_miller=settings.electrolyte_miller, anode_fraction=settings.anode_fraction,
                            aspect_ratio=settings.aspect_ratio, gap_A=settings.gap_A, max_strain=settings.max_strain,
                            max_area_A2=settings.max_match_area_A2, seed_cell=seed, anode_name=an,
                            electrolyte_name=el)
    info = atoms.info["interface"]
    info["bulk_origin"] = {n: bulk[n].info.get("origin", "relaxed") for n in (an, el)}
    if seed is not None:
        info["seed_file"] = seed.info.get("seed_file")
    say(f"interface: built {len(atoms)} atoms ({info['inplane_replicas']} in-plane, electrolyte x"
        f"{info['electrolyte_repeats']}, anode x{info['anode_repeats']}, anode strain {info['anode_strain']:.2%}, "
        f"gaps {info['gap_A'][0]:.2f} / {info['gap_A'][1]:.2f} Å, {info['gap_choice']})")
    rec = provenance.record("simulation-interface", settings=wanted, interface=info)
    import json

    atoms.info = {"interface": json.dumps(provenance._jsonable(info))}  # extxyz keeps flat values only
    provenance.write_extxyz(path, [atoms], rec)
    return atoms, path


@dataclass
class SimulationResult(MDResult):
    """The production run (an :class:`~seilab.md.engine.MDResult`), whether its potential passed validation
    (``validated``; None: no gate record), and the audit of the potential on it when the run made one
    (``audit``, as in ``simulation/audit.json``)."""

    validated: bool | None = None
    audit: dict | None = None

    def summary(self) -> dict:
        out = scalars(MDResult.as_dict(self))
        out["validated"] = self.validated
        if self.audit is not None:
            errors = (self.audit.get("errors") or {}).get("all") or {}
            out["audit_subcells"] = self.audit.get("n_subcells")
            out["audit_force_rmse_meV_per_A"] = (errors.get("force_meV_per_A") or {}).get("rmse")
            out["audit_warnings"] = len(self.audit.get("warnings") or [])  # run_audit has printed them
        return out


def run_simulation(campaign, *, progress: Callable[[str], None] | None = None, potential=None, settings=None,
                   audit: bool = False) -> SimulationResult:
    """Build the interface and run MD with ``campaign.simulation`` (or ``settings``); resumable.

    ``audit``: then also audit the potential on the trajectory (:func:`seilab.simulation.audit.run_audit`)
    when ``simulation.audit`` is on, as the campaign's simulation stage does (``seilab simulate`` runs
    the MD only)."""
    say = progress or (lambda m: None)
    settings = settings or campaign.simulation
    pot, gate = resolve_potential(campaign, potential)
    if gate.get("validated") is False:
        say(f"WARNING: running on {gate['generation']}, which did not pass validation "
            f"(gate.allow_unvalidated); every result of this run is marked unvalidated")
    if settings.gamma_every and (pot.asi is None or pot.yaml is None):
        raise SeilabError(f"simulation.gamma_every: γ monitoring needs the potential's .yaml and .asi "
                          f"({pot.yaml or pot.yace} has no active set); set gamma_every: 0 or compute it")
    elements = tuple(campaign.elements)
    atoms, ipath = interface_structure(campaign, settings, pot, progress=say)
    atoms.info = {}
    spec = MDSpec.from_settings(settings, atoms, pot, elements).validate()
    folder = campaign.stage_dir("simulation")
    run_dir = folder / f"run-{settings.engine}-{spec.fingerprint()[:10]}"
    run_dir.mkdir(parents=True, exist_ok=True)
    if settings.engine == "lammps" and not (run_dir / "structure.data").is_file():
        write_lammps_data(run_dir / "structure.data", atoms, elements)
    engine = get_engine(settings.engine)
    ok, why = engine.available()
    if not ok:
        raise SeilabError(f"simulation.engine: {why}")
    result = engine.run(spec, run_dir, progress=say)
    halt = None
    if result.status == "halted" and result.extrapolative is not None and "interface_side" in atoms.arrays:
        from seilab.simulation.audit import describe_halt, halt_diagnosis

        try:  # who stopped it, for the report; a diagnosis never fails a finished run
            halt = halt_diagnosis(result.extrapolative, atoms, campaign.learning.gamma_window[1],
                                  settings.audit_interphase_half_width_A)
        except SeilabError as exc:
            say(f"halt diagnosis skipped: {exc}")
        if halt:
            say(describe_halt(halt))
    provenance.write_json(campaign.layout.simulation_latest, {"run_dir": str(run_dir), "interface": str(ipath),
                                                   **result.as_dict(), "potential_gate": gate,
                                                   "halt_diagnosis": halt},
                          provenance.record("simulation", inputs=[ipath], settings=settings.model_dump(mode="json"),
                                            engine_info=result.info))
    audited = None
    if audit and campaign.simulation.audit:
        from seilab.simulation.audit import run_audit

        audited = run_audit(campaign, progress=progress)
    return SimulationResult(**{f.name: getattr(result, f.name) for f in fields(result)},
                            validated=gate.get("validated"), audit=audited)


def production_trajectory(campaign) -> dict:
    """The stage's hand-off ``simulation/latest.json`` (``trajectory``, ``status``, ``potential_gate`` ...),
    ``trajectory`` always set; a one-line error when it is missing or names no trajectory."""
    latest = campaign.layout.simulation_latest
    if not latest.is_file():
        raise SeilabError(f"{latest}: missing; run the simulation stage first")
    info = provenance.read_json(latest)
    for key in ("trajectory", "dump", "trajectory_path"):
        if info.get(key):
            return {**info, "trajectory": info[key]}
    raise SeilabError(f"{latest}: names no trajectory")
