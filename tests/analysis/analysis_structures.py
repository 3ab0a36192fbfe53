"""Crystal structures with known coordination, built with pymatgen (test helpers)."""

from __future__ import annotations

from functools import lru_cache


from seilab.analysis.trajectory import Frame, frame_from_atoms

# Li7P3S11, P-1: DFT-relaxed cell (see shared/data/phases.yaml, "verified"): 2 PS4... per cell
LI7P3S11_LATTICE = (6.188838, 12.627876, 12.673133, 107.48332, 103.55244, 101.86041)
LI7P3S11_SITES = [
    ("Li", [0.735468, 0.668331, 0.103932]),
    ("Li", [0.213497, 0.035627, 0.754222]),
    ("Li", [0.623518, 0.343174, 0.507702]),
    ("Li", [0.576648, 0.864682, 0.878731]),
    ("Li", [0.696388, 0.178700, 0.705472]),
    ("Li", [0.862721, 0.382725, 0.112841]),
    ("Li", [0.985911, 0.680997, 0.679985]),
    ("P", [0.511849, 0.475548, 0.277640]),
    ("P", [0.830471, 0.788490, 0.454430]),
    ("P", [0.876656, 0.167114, 0.943967]),
    ("S", [0.907850, 0.816413, 0.317165]),
    ("S", [0.203782, 0.502079, 0.295031]),
    ("S", [0.780962, 0.604309, 0.431243]),
    ("S", [0.443998, 0.159753, 0.516987]),
    ("S", [0.561798, 0.481632, 0.127770]),
    ("S", [0.105396, 0.836752, 0.601336]),
    ("S", [0.363844, 0.971208, 0.196450]),
    ("S", [0.205472, 0.154316, 0.948672]),
    ("S", [0.570519, 0.331368, 0.307130]),
    ("S", [0.827687, 0.176657, 0.101048]),
    ("S", [0.855344, 0.317114, 0.912604]),
]


@lru_cache(maxsize=None)  # from_spacegroup takes ~1 s for Fm-3m: build once
def li2s(a: float = 5.70):
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["S", "Li"], [[0, 0, 0], [0.25, 0.25, 0.25]])


@lru_cache(maxsize=None)
def li3p():
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup(
        "P6_3/mmc",
        Lattice.hexagonal(4.264, 7.579),
        ["Li", "Li", "P"],
        [[0, 0, 0.25], [1 / 3, 2 / 3, 0.583], [1 / 3, 2 / 3, 0.25]],
    )


@lru_cache(maxsize=None)
def li7p3s11():
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup(
        "P-1",
        Lattice.from_parameters(*LI7P3S11_LATTICE),
        [s for s, _ in LI7P3S11_SITES],
        [f for _, f in LI7P3S11_SITES],
    )


@lru_cache(maxsize=None)
def li_bcc(a: float = 3.49):
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup("Im-3m", Lattice.cubic(a), ["Li"], [[0, 0, 0]])


def to_frame(structure, supercell=(1, 1, 1), vacuum_z: float = 0.0) -> Frame:
    """Frame of a supercell; ``vacuum_z`` > 0 makes a slab (non-periodic z, vacuum added)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure * supercell)
    if vacuum_z > 0:
        atoms.center(vacuum=vacuum_z / 2, axis=2)
        atoms.pbc = [True, True, False]
    return frame_from_atoms(atoms)
