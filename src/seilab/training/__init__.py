"""seilab.training: fit an MLIP (ACE via pacemaker) on the labelled dataset, generation by generation.

Public API:

* :class:`MLIPBackend` (protocol), :class:`Potential`, :class:`TrainingData`, :func:`get_backend`
* :func:`run_training` (one generation: fit, resume or skip), :func:`latest_potential`
* :func:`evaluate` (metrics.json + parity.png for a potential)
"""

from seilab.settings.training import TrainingSettings
from seilab.training.backend import MLIPBackend, Potential, TrainingData
from seilab.training.backends import get_backend
from seilab.training.pacemaker import PacemakerBackend
from seilab.training.stage import evaluate, generations, latest_potential, run_training, TrainingResult

__all__ = [
    'MLIPBackend', 'PacemakerBackend', 'Potential', 'TrainingData', 'TrainingResult', 'TrainingSettings',
    'evaluate', 'generations', 'get_backend', 'latest_potential', 'run_training',
]
