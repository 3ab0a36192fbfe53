"""The package's one palette: a colour per element and per identified phase, for every figure and the report.

The analysis stage's figures (snapshots, phase map, layer stack) and the report's 3-D view take their
colours from here, so that Li is the same purple and Li2S the same green wherever they are drawn.

Phase colours go by position: :data:`PHASE_COLORS` ``[0]`` is vacuum (a z bin with too few atoms), then
the analysis's phase names in their order (``analysis.json`` ``phases.names``), cycling after ten.
A shared leaf: imports nothing from the package (ASE only inside :func:`element_color`, for elements
outside the table).
"""

from __future__ import annotations

__all__ = ["ELEMENT_COLORS", "PHASE_COLORS", "UNBINNED_COLOR", "element_color", "phase_colors"]

#: Atom colours (CPK-like, Li lightened to purple so that it shows against S and P).
ELEMENT_COLORS = {"Li": "#7b68ee", "Na": "#ab5cf2", "K": "#8f40d4", "P": "#ff8000", "S": "#e6c200",
                  "O": "#ff0d0d", "F": "#90e050", "Cl": "#1ff01f", "Se": "#ffa100", "N": "#3050f8"}

#: Phase colours by position: vacuum first, then the phases in the analysis's order.
PHASE_COLORS = ["#9e9e9e", "#1f77b4", "#17becf", "#9467bd", "#ff7f0e", "#2ca02c", "#d62728", "#8c564b",
                "#e377c2", "#bcbd22"]

#: Atoms that lie in no z bin of the analysis (beyond its z range), drawn in the 3-D view's phase mode.
UNBINNED_COLOR = "#000000"

_GREY = "#909090"


def element_color(symbol: str) -> str:
    """The colour of an element: :data:`ELEMENT_COLORS`, else ASE's Jmol colour of that element, else grey."""
    c = ELEMENT_COLORS.get(symbol)
    if c is not None:
        return c
    try:
        from ase.data import atomic_numbers
        from ase.data.colors import jmol_colors
    except ImportError:  # pragma: no cover  ASE is a dependency
        return _GREY
    z = atomic_numbers.get(symbol)
    if z is None:
        return _GREY
    r, g, b = (int(round(255 * x)) for x in jmol_colors[z])
    return f"#{r:02x}{g:02x}{b:02x}"


def phase_colors(names) -> dict[str, str]:
    """``{"vacuum": colour, name: colour, ...}`` for the analysis's phase ``names`` (in their order)."""
    out = {"vacuum": PHASE_COLORS[0]}
    for k, name in enumerate(names):
        out.setdefault(str(name), PHASE_COLORS[(k + 1) % len(PHASE_COLORS)])
    return out
