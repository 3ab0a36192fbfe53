"""seilab.validation: check a potential against the reference (paper section 3.1).

Public API (imported lazily): :func:`run_validation` (all check groups + report.json),
:func:`discover_structures`, and the building blocks in :mod:`.dimers`, :mod:`.eos`, :mod:`.rdf`,
:mod:`.stability`, :mod:`.md`.
"""

from __future__ import annotations

_EXPORTS = {
    "run_validation": "seilab.validation.stage",
    "discover_structures": "seilab.validation.stage",
    "ValidationSettings": "seilab.validation.settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'seilab.validation' has no attribute {name!r}")
