"""Structure prediction for phases nobody has coordinates for (PyXtal + the reference).

For a formula, space group and Z, PyXtal generates random symmetric candidates; each is relaxed
briefly with the reference (a cheap prescreen) and the lowest energy per atom wins. The winner is
relaxed fully by the chemistry stage like every other phase. The result is a *prediction*:
provenance says so (``origin: predicted``) with the seeds, candidate energies and space group.
"""

from __future__ import annotations

import numpy as np

from seilab.chemistry.library import PhaseStructure
from seilab.geometry import min_distance
from seilab.errors import SeilabError


def candidate_z(formula: str, spacegroup: int, z: int | None, max_atoms: int) -> list[int]:
    """Z values to try: the given one, else increasing Z whose primitive cell fits ``max_atoms``."""
    from pymatgen.core import Composition

    if z is not None:
        return [z]
    n = Composition(formula).reduced_composition.num_atoms
    return [zz for zz in (1, 2, 4, 8, 16) if n * zz <= 2 * max_atoms]


def generate_candidates(formula: str, spacegroup: int, z: int | None, n: int, seed: int,
                        max_atoms: int, min_distance_A: float):
    """Up to ``n`` PyXtal candidates (pymatgen primitive Structures) with their Z and seed."""
    from pymatgen.core import Composition
    from pyxtal import pyxtal

    comp = Composition(formula).reduced_composition
    species = [str(e) for e in comp.elements]
    out = []
    for zz in candidate_z(formula, spacegroup, z, max_atoms):
        nums = [int(round(comp[e])) * zz for e in comp.elements]
        failures = 0
        for attempt in range(10 * n + 10):
            if len(out) >= n:
                return out
            rng_seed = seed + 1000 * zz + attempt
            crystal = pyxtal()
            try:
                crystal.from_random(3, spacegroup, species, nums, factor=1.1,
                                    random_state=np.random.default_rng(rng_seed))
            except Exception:
                failures += 1  # Z incompatible with the Wyckoff positions, or an unlucky draw
                if failures >= 3 and not out:
                    break
                continue
            if not crystal.valid:
                continue
            structure = crystal.to_pymatgen().get_primitive_structure()
            if len(structure) > max_atoms or min_distance(structure) < min_distance_A:
                continue
            out.append({"structure": structure, "z": zz, "seed": rng_seed})
        if out:
            return out  # smallest feasible Z only
    return out


def predict_phase(name: str, formula: str, spacegroup: int | None, z: int | None, calc, settings) -> PhaseStructure:
    """Generate, prescreen and pick the lowest-energy candidate for a phase with no structure."""
    from pymatgen.io.ase import AseAtomsAdaptor

    from seilab.chemistry.relax import relax

    if spacegroup is None:
        raise SeilabError(f"phases: {name!r} has no structure anywhere; give its spacegroup (and z) to predict it")
    cands = generate_candidates(formula, spacegroup, z, settings.predict_candidates, settings.predict_seed,
                                settings.predict_max_atoms, settings.min_distance_A)
    if not cands:
        raise SeilabError(f"phases: PyXtal found no {formula} structure in space group {spacegroup} "
                          f"(z={z}, ≤ {settings.predict_max_atoms} atoms); try another z")
    scored = []
    for c in cands:
        atoms = AseAtomsAdaptor.get_atoms(c["structure"])
        if settings.predict_prescreen_steps > 0:
            atoms, _, _ = relax(atoms, calc, fmax=0.1, steps=settings.predict_prescreen_steps)
            e = atoms.get_potential_energy() / len(atoms)
        else:
            atoms.calc = calc
            e = atoms.get_potential_energy() / len(atoms)
        if min_distance(atoms) < settings.min_distance_A:
            e = np.inf  # collapsed candidate
        scored.append((float(e), c, atoms))
    scored.sort(key=lambda t: t[0])
    best_e, best, best_atoms = scored[0]
    if not np.isfinite(best_e):
        raise SeilabError(f"phases: every predicted {formula} candidate collapsed below {settings.min_distance_A} Å")
    structure = AseAtomsAdaptor.get_structure(best_atoms)
    return PhaseStructure(name, structure, "predicted", {
        "method": "PyXtal random symmetric candidates, prescreened with the reference",
        "spacegroup": spacegroup, "z": best["z"], "seed": best["seed"],
        "candidate_energies_eV_per_atom": [round(s[0], 5) for s in scored],
        "n_candidates": len(scored),
    })
