"""Materials Project structures through ``mp-api`` (opt-in: only with ``MP_API_KEY`` set).

The key is read from the environment, handed to the client and never stored, logged or written
to provenance (which records only the material id).
"""

from __future__ import annotations

import os

from seilab.chemistry.library import PhaseStructure
from seilab.errors import SeilabError

FIELDS = ["material_id", "formula_pretty", "structure", "energy_above_hull", "symmetry"]


class MaterialsProjectSource:
    """Look phases up on the Materials Project; picks the lowest-energy-above-hull match.

    ``rester`` is an ``mp_api.client.MPRester`` (or any object with the same
    ``materials.summary.search`` method); by default one is created from ``MP_API_KEY``.
    """

    def __init__(self, rester=None):
        self._rester = rester

    @classmethod
    def from_environment(cls, mode: str = "auto"):
        """A source when ``mode`` allows it and ``MP_API_KEY`` is set, else ``None``."""
        if mode == "never" or not os.environ.get("MP_API_KEY"):
            return None
        return cls()

    @property
    def rester(self):
        if self._rester is None:
            try:
                from mp_api.client import MPRester
            except ImportError:
                raise SeilabError("MP_API_KEY is set but mp-api is not installed (pip install mp-api)") from None
            self._rester = MPRester(api_key=os.environ["MP_API_KEY"], mute_progress_bars=True)
        return self._rester

    def lookup(self, formula: str, spacegroup: int | None = None) -> PhaseStructure | None:
        from pymatgen.core import Composition

        reduced = Composition(formula).reduced_formula
        kwargs = {"formula": reduced, "fields": FIELDS}
        if spacegroup is not None:
            kwargs["spacegroup_number"] = spacegroup
        try:
            docs = self.rester.materials.summary.search(**kwargs)
        except SeilabError:
            raise
        except Exception as exc:
            msg = str(exc).replace(os.environ.get("MP_API_KEY", "") or "\0", "***")
            raise SeilabError(f"Materials Project query for {reduced} failed ({type(exc).__name__}: {msg})") from None
        docs = [d for d in docs if _get(d, "structure") is not None]
        if not docs:
            return None
        best = min(docs, key=lambda d: _get(d, "energy_above_hull") or 0.0)
        sym = _get(best, "symmetry")
        return PhaseStructure(reduced, _get(best, "structure"), "materials_project", {
            "material_id": str(_get(best, "material_id")),
            "energy_above_hull_eV_per_atom": _get(best, "energy_above_hull"),
            "spacegroup": _get(sym, "number") if sym is not None else None,
        })


def _get(obj, name):
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)
