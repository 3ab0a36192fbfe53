"""seilab.training: fit an MLIP (ACE via pacemaker) on the labelled dataset, generation by generation.

Public API (imported lazily, so ``seilab.config`` can import the settings without TensorFlow):

* :class:`MLIPBackend` (protocol), :class:`Potential`, :class:`TrainingData`, :func:`get_backend`
* :func:`run_training` (one generation: fit, resume or skip), :func:`latest_potential`
* :func:`evaluate` (metrics.json + parity.png for a potential)
"""

from __future__ import annotations

from seilab._lazy import lazy_getattr

_EXPORTS = {
    "MLIPBackend": "seilab.training.backend",
    "Potential": "seilab.training.backend",
    "TrainingData": "seilab.training.backend",
    "get_backend": "seilab.training.backends",
    "PacemakerBackend": "seilab.training.pacemaker",
    "run_training": "seilab.training.stage",
    "latest_potential": "seilab.training.stage",
    "generations": "seilab.training.stage",
    "evaluate": "seilab.training.stage",
    "TrainingResult": "seilab.training.stage",
    "TrainingSettings": "seilab.training.settings",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
