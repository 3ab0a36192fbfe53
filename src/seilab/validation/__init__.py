"""seilab.validation: check a potential against the reference (paper section 3.1).

Public API: :func:`run_validation` (all check groups + report.json),
:func:`discover_structures`, and the building blocks in :mod:`.dimers`, :mod:`.eos`, :mod:`.rdf`,
:mod:`.stability`, :mod:`.md`.
"""

from seilab.settings.validation import ValidationSettings
from seilab.validation.stage import discover_structures, run_validation

__all__ = [
    'ValidationSettings', 'discover_structures', 'run_validation',
]
