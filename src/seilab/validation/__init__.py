"""seilab.validation: check a potential against the reference (paper section 3.1).

Public API (imported lazily): :func:`run_validation` (all check groups + report.json),
:func:`discover_structures`, and the building blocks in :mod:`.dimers`, :mod:`.eos`, :mod:`.rdf`,
:mod:`.stability`, :mod:`.md`.
"""

from __future__ import annotations

from seilab._lazy import lazy_getattr

_EXPORTS = {
    "run_validation": "seilab.validation.stage",
    "discover_structures": "seilab.validation.stage",
    "ValidationSettings": "seilab.validation.settings",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
