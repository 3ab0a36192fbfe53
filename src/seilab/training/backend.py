"""The small interface every MLIP fitting backend implements, and the potential it returns
(:class:`Potential`, the one potential type, defined with the MD layer in :mod:`seilab.md.engine` and
re-exported here).

A backend fits a potential to a :class:`TrainingData` (pacemaker-style pandas pickles of a fixed
train/test split), gives an ASE calculator for a fitted potential (optionally with the per-atom
extrapolation grade γ in ``calc.results["gamma"]``), and computes the active set that γ needs.
:class:`~seilab.training.pacemaker.PacemakerBackend` (ACE via python-ace/tensorpotential) fits
the nonlinear model, :class:`~seilab.training.linear.LinearACEBackend` a linear ACE by least squares;
:func:`get_backend` maps ``training.backend`` to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

from seilab.md.engine import Potential


if TYPE_CHECKING:  # pragma: no cover
    from ase.calculators.calculator import Calculator

    from seilab.settings.training import TrainingSettings


@dataclass(frozen=True)
class TrainingData:
    """A fixed train/test split in pacemaker's DataFrame format (gzip pickles)."""

    train: Path
    test: Path | None
    elements: tuple[str, ...]
    reference_energies: dict


@runtime_checkable
class MLIPBackend(Protocol):
    """What the training, validation, learning and simulation stages need from an MLIP code."""

    name: str

    def fit(self, data: TrainingData, workdir: Path, settings: "TrainingSettings",
            init_from: Potential | None = None, progress: Callable[[str], None] | None = None) -> Potential:
        """Fit a potential in ``workdir`` (resuming from a checkpoint there if any); warm start from
        ``init_from``. Returns the potential with its native file, LAMMPS file and active set."""

    def calculator(self, potential: Potential, gamma: bool = False) -> "Calculator":
        """An ASE calculator; with ``gamma`` the per-atom extrapolation grade is in results['gamma']."""

    def active_set(self, potential: Potential, dataset: Path) -> Path:
        """Compute (or recompute) the active set of ``potential`` from ``dataset``; returns its path."""
