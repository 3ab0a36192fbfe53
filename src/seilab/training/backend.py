"""The small interface every MLIP fitting backend implements, and the potential it returns.

A backend fits a potential to a :class:`TrainingData` (pacemaker-style pandas pickles of a fixed
train/test split), gives an ASE calculator for a fitted potential (optionally with the per-atom
extrapolation grade γ in ``calc.results["gamma"]``), and computes the active set that γ needs.
:class:`~seilab.training.pacemaker.PacemakerBackend` (ACE via python-ace/tensorpotential) fits
the nonlinear model, :class:`~seilab.training.linear.LinearACEBackend` a linear ACE by least squares;
:func:`get_backend` maps ``training.backend`` to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable


if TYPE_CHECKING:  # pragma: no cover
    from ase.calculators.calculator import Calculator

    from seilab.training.settings import TrainingSettings


@dataclass(frozen=True)
class Potential:
    """A fitted potential on disk.

    ``yaml`` is the backend's native file (pacemaker B-basis YAML), ``yace`` the LAMMPS file,
    ``asi`` the active set (γ), ``metrics`` the metrics JSON. Energies of the potential are
    *corrected* energies: reference energy minus ``reference_energies`` per atom.
    """

    yaml: Path
    yace: Path | None = None
    asi: Path | None = None
    metrics: Path | None = None
    backend: str = "pacemaker"
    generation: str | None = None
    elements: tuple[str, ...] = ()
    reference_energies: dict = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        return self.yaml.parent

    def as_dict(self) -> dict:
        return {"yaml": str(self.yaml), "yace": str(self.yace) if self.yace else None,
                "asi": str(self.asi) if self.asi else None, "metrics": str(self.metrics) if self.metrics else None,
                "backend": self.backend, "generation": self.generation, "elements": list(self.elements),
                "reference_energies": dict(self.reference_energies)}

    @classmethod
    def from_dict(cls, d: dict) -> "Potential":
        p = lambda k: Path(d[k]) if d.get(k) else None  # noqa: E731
        return cls(yaml=Path(d["yaml"]), yace=p("yace"), asi=p("asi"), metrics=p("metrics"),
                   backend=d.get("backend", "pacemaker"), generation=d.get("generation"),
                   elements=tuple(d.get("elements") or ()), reference_energies=dict(d.get("reference_energies") or {}))


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
