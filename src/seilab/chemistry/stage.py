"""The chemistry stage: build every phase, relax it with the reference, react the two reactants.

Resumable: each relaxed phase is a file (``phases/<name>.extxyz``) whose sidecar records a key of
everything that determines it (phase spec, chemistry settings, reference); a rerun reuses every
phase whose key matches and recomputes only the rest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from seilab import provenance
from seilab.chemistry import phases_dir
from seilab.chemistry.library import find_structure, phase_formula
from seilab.geometry import min_distance
from seilab.errors import SeilabError
from seilab.results import DictResult

log = logging.getLogger("seilab.chemistry")


def _phase_key(spec, chem, ref: dict) -> str:
    blob = json.dumps({"spec": spec.model_dump(mode="json"), "chem": chem.model_dump(mode="json",
                       exclude={"cif_dir"}), "ref": ref}, sort_keys=True)
    if spec.cif is not None:
        blob += provenance.sha256_file(spec.cif)
    elif chem.cif_dir is not None and (Path(chem.cif_dir) / f"{spec.name}.cif").is_file():
        blob += provenance.sha256_file(Path(chem.cif_dir) / f"{spec.name}.cif")
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _cached(path: Path, key: str) -> bool:
    if not provenance.is_valid_artifact(path):
        return False
    side = json.loads(provenance.sidecar_path(path).read_text())
    return side.get("settings", {}).get("key") == key


def relax_phases(campaign, calc=None, progress=None) -> dict:
    """Build and relax every campaign phase (cached on disk). Returns name → relaxed Atoms."""
    from pymatgen.io.ase import AseAtomsAdaptor

    from seilab.chemistry.mp import MaterialsProjectSource
    from seilab.chemistry.predict import predict_phase
    from seilab.chemistry.relax import relax
    from seilab.reference import describe, get_calculator

    chem = campaign.chemistry
    ref = describe(campaign.reference)
    mp = MaterialsProjectSource.from_environment(chem.materials_project)
    out = {}
    for spec in campaign.phases:
        path = phases_dir(campaign) / f"{spec.name}.extxyz"
        key = _phase_key(spec, chem, ref)
        if _cached(path, key):
            out[spec.name] = provenance.read_extxyz(path, index=-1)
            _say(progress, f"{spec.name}: cached")
            continue
        if calc is None:
            calc = get_calculator(campaign.reference)
        t0 = time.perf_counter()
        formula = phase_formula(spec)
        found = find_structure(spec, chem, mp)
        if found is None:
            _say(progress, f"{spec.name}: no structure known, predicting {formula} in space group {spec.spacegroup}")
            found = predict_phase(spec.name, formula, spec.spacegroup, spec.z, calc, chem)
        start = AseAtomsAdaptor.get_atoms(found.structure.get_primitive_structure())
        relaxed, converged, steps = relax(start, calc, fmax=chem.relax_fmax_eV_per_A,
                                          steps=chem.relax_max_steps, cell=chem.relax_cell)
        dmin = min_distance(relaxed)
        if dmin < chem.min_distance_A:
            raise SeilabError(f"phase {spec.name}: relaxed structure has atoms {dmin:.2f} Å apart")
        e_atom = relaxed.get_potential_energy() / len(relaxed)
        relaxed.info.update(phase=spec.name, origin=found.origin, energy_per_atom=e_atom)
        seconds = time.perf_counter() - t0
        provenance.write_extxyz(path, [relaxed], provenance.record(
            "chemistry-relax", settings={"key": key, "phase": spec.name, "formula": formula,
                                         "origin": found.origin, "predicted": found.origin == "predicted",
                                         "source": found.source, "converged": converged, "steps": steps,
                                         "energy_per_atom_eV": e_atom, "seconds": seconds, "reference": ref}))
        if not converged:
            log.warning("%s: relaxation not converged in %d steps (fmax %.3f eV/Å)", spec.name, steps,
                        chem.relax_fmax_eV_per_A)
        _say(progress, f"{spec.name}: {found.origin}, {len(relaxed)} atoms, E = {e_atom:.4f} eV/atom, "
                       f"{steps} steps, {seconds:.1f} s")
        out[spec.name] = relaxed
    return out


def _say(progress, msg):
    log.info(msg)
    if progress is not None:
        progress(msg)


class ChemistryResult(DictResult):
    """``reaction.json``: the reactants, the interface-reaction kinks, products, hull and chemical potentials."""

    def summary(self) -> dict:
        li_rich = [k for k in self["kinks"] if 0 < k["x_anode"] < 1]
        return {"products": self["products"], "stable_phases": self["stable_phases"],
                "anode_rich_products": li_rich[-1]["products"] if li_rich else [], "n_kinks": len(self["kinks"])}


def run_chemistry(campaign, *, progress=None) -> ChemistryResult:
    """Relax phases, build the phase diagram, react the reactants; write reaction.json + figure."""
    from seilab.chemistry.reaction import (chempot_distance, hull_table, interface_kinks, make_entries,
                                           phase_diagram, plot_phase_diagram)

    relaxed = relax_phases(campaign, progress=progress)
    energies = {name: (atoms.get_chemical_formula(), float(atoms.get_potential_energy()))
                for name, atoms in relaxed.items()}
    entries = make_entries(energies)
    pd = phase_diagram(entries)
    anode = phase_formula(campaign.phase(campaign.reactants.anode))
    electrolyte = phase_formula(campaign.phase(campaign.reactants.electrolyte))
    kinks = interface_kinks(pd, anode, electrolyte)
    hull = hull_table(pd)
    origins = {}
    for spec in campaign.phases:
        side = provenance.read_json(provenance.sidecar_path(phases_dir(campaign) / f"{spec.name}.extxyz"))
        origins[spec.name] = side["settings"]["origin"]
    for row in hull:
        row["origin"] = origins.get(row["phase"])
    try:
        cp = chempot_distance(pd, entries, anode, electrolyte)
    except Exception as exc:  # degenerate diagrams (e.g. binary with one compound)
        cp = {"error": f"{type(exc).__name__}: {exc}"}
    products = sorted({p for k in kinks if 0 < k["x_anode"] < 1 for p in k["products"]})
    out_dir = campaign.stage_dir("chemistry")
    fig = out_dir / "phase_diagram.png"
    plot_phase_diagram(pd, kinks, anode, electrolyte, fig)
    result = {"anode": {"phase": campaign.reactants.anode, "formula": anode},
              "electrolyte": {"phase": campaign.reactants.electrolyte, "formula": electrolyte},
              "kinks": kinks, "products": products,
              "stable_phases": [r["phase"] for r in hull if r["stable"]],
              "hull": hull, "chemical_potential_distance": cp, "figure": fig.name,
              "units": {"energy": "eV/atom", "mu": "eV"}}
    inputs = [phases_dir(campaign) / f"{s.name}.extxyz" for s in campaign.phases]
    provenance.write_json(campaign.layout.reaction, result,
                          provenance.record("chemistry", inputs, campaign.chemistry.model_dump(mode="json")))
    return ChemistryResult(result)
