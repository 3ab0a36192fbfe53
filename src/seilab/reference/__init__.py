"""Reference labels: a pluggable reference calculator (any ASE calculator) and the dataset store."""

from seilab.reference.calculators import (
    describe,
    get_calculator,
    isolated_atom_energies,
    kpoint_mesh,
    single_point,
    vasp_incar,
    vasp_input_set,
)

__all__ = ["describe", "get_calculator", "isolated_atom_energies", "kpoint_mesh", "single_point",
           "vasp_incar", "vasp_input_set"]
