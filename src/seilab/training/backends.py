"""The MLIP backends behind :class:`~seilab.training.backend.MLIPBackend`, by name.

:mod:`.backend` holds the interface and its data types; :mod:`.pacemaker` and :mod:`.linear` implement
it. This module is the one place that knows both, so the interface imports neither implementation.
"""

from __future__ import annotations

from seilab.errors import SeilabError
from seilab.training.backend import MLIPBackend


def get_backend(name: str = "pacemaker") -> MLIPBackend:
    if name == "pacemaker":
        from seilab.training.pacemaker import PacemakerBackend

        return PacemakerBackend()
    if name == "linear-ace":
        from seilab.training.linear import LinearACEBackend

        return LinearACEBackend()
    raise SeilabError(f"training.backend: unknown backend {name!r} (known: pacemaker, linear-ace)")
