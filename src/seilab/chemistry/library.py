"""Where each phase's crystal structure comes from.

Order of sources for a phase named in the campaign:

1. the phase's own ``cif`` file, or ``<cif_dir>/<name>.cif``;
2. the bundled library (``seilab/chemistry/data/phases.yaml``: verified facts, rebuilt with
   ``Structure.from_spacegroup``);
3. the Materials Project through ``mp-api``, only when ``MP_API_KEY`` is set (see :mod:`.mp`);
4. prediction: PyXtal candidates for the formula / space group / Z, relaxed with the reference,
   lowest energy kept, marked ``predicted`` (see :mod:`.predict`).

Every structure is checked: its reduced formula matches the phase's formula and no two atoms are
closer than ``min_distance_A``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from seilab.errors import SeilabError
from seilab.geometry import min_distance


@dataclass
class PhaseStructure:
    """A built (not yet relaxed) structure and where it came from."""

    name: str
    structure: object  # pymatgen Structure
    origin: str  # 'cif' | 'bundled' | 'materials_project' | 'predicted'
    source: dict = field(default_factory=dict)


@functools.lru_cache(maxsize=1)
def bundled_library() -> dict:
    """The bundled phase facts, keyed by phase name."""
    text = resources.files("seilab.chemistry").joinpath("data/phases.yaml").read_text()
    return yaml.safe_load(text)["phases"]


def phase_formula(spec) -> str:
    """The formula of a campaign phase: given explicitly or taken from the bundled library."""
    if spec.formula:
        return spec.formula
    lib = bundled_library()
    if spec.name in lib:
        return lib[spec.name]["formula"]
    raise SeilabError(f"phases: phase {spec.name!r} is not in the bundled library; give its formula")


def build_bundled(name: str):
    """Rebuild a bundled phase with pymatgen ``Structure.from_spacegroup`` (conventional cell)."""
    from pymatgen.core import Lattice, Structure

    entry = bundled_library()[name]
    lat = entry["lattice"]
    lattice = Lattice.from_parameters(lat["a"], lat["b"], lat["c"], lat["alpha"], lat["beta"], lat["gamma"])
    species = [s["species"] for s in entry["sites"]]
    coords = [s["frac"] for s in entry["sites"]]
    # tol=1e-3: published coordinates are rounded (0.3333 for 1/3); merge the near-duplicate images
    return Structure.from_spacegroup(entry["spacegroup_number"], lattice, species, coords, tol=1e-3)


def read_cif(path: Path):
    from pymatgen.core import Structure

    try:
        return Structure.from_file(str(path))
    except Exception as exc:
        raise SeilabError(f"{path}: cannot read CIF ({type(exc).__name__}: {exc})") from None


def check_structure(name: str, structure, formula: str, min_distance_A: float) -> None:
    """Raise SeilabError unless the structure has the formula and no close contacts."""
    from pymatgen.core import Composition

    want = Composition(formula).reduced_composition
    got = structure.composition.reduced_composition
    if not want.almost_equals(got):
        raise SeilabError(f"phase {name}: structure has formula {got.formula.replace(' ', '')}, expected {formula}")
    dmin = min_distance(structure)
    if dmin < min_distance_A:
        raise SeilabError(f"phase {name}: atoms {dmin:.2f} Å apart (< {min_distance_A} Å)")


def find_structure(spec, chemistry_settings, mp_source=None) -> PhaseStructure | None:
    """Look a phase up in CIF → bundled → Materials Project. ``None`` when nobody has it."""
    formula = phase_formula(spec)
    cif = spec.cif
    if cif is None and chemistry_settings.cif_dir is not None:
        candidate = Path(chemistry_settings.cif_dir) / f"{spec.name}.cif"
        cif = candidate if candidate.is_file() else None
    if cif is not None:
        found = PhaseStructure(spec.name, read_cif(Path(cif)), "cif", {"file": str(cif)})
    elif spec.name in bundled_library():
        entry = bundled_library()[spec.name]
        found = PhaseStructure(spec.name, build_bundled(spec.name), "bundled",
                               {"source": entry["source"], "status": entry["status"],
                                "spacegroup": entry["spacegroup"], "mp_id": entry.get("mp_id")})
    elif mp_source is not None:
        found = mp_source.lookup(formula, spec.spacegroup)
        if found is None:
            return None
        found.name = spec.name
    else:
        return None
    check_structure(spec.name, found.structure, formula, chemistry_settings.min_distance_A)
    return found
