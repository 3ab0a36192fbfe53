"""Pydantic models of one campaign YAML, and :func:`load_config` with one-line errors.

A campaign names two reactants (an anode and an electrolyte phase), the phases that may form
between them, the reference calculator that labels structures, where outputs go, and the settings
of each stage. Relative paths are resolved against the YAML file's folder.

Example: ``examples/li-li7p3s11.yaml``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator

from seilab.errors import SeilabError
from seilab.settings.analysis import AnalysisSettings
from seilab.settings.base import Settings, format_validation_error, read_yaml
from seilab.settings.chemistry import ChemistrySettings
from seilab.settings.cluster import ClusterSettings
from seilab.settings.learning import LearningSettings
from seilab.settings.reference import ReferenceSettings
from seilab.settings.sampling import SamplingSettings
from seilab.settings.simulation import SimulationSettings
from seilab.settings.training import TrainingSettings
from seilab.settings.transport import TransportSettings
from seilab.settings.validation import GateSettings, ValidationSettings

_ELEMENTS = None


def _element_symbols() -> set[str]:
    global _ELEMENTS
    if _ELEMENTS is None:
        from ase.data import chemical_symbols

        _ELEMENTS = set(chemical_symbols[1:])
    return _ELEMENTS


_FORMULA_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*\.?\d*)")


def parse_formula(formula: str) -> dict[str, float]:
    """Element → amount for a plain formula like ``Li7P3S11``; raises ValueError on unknown elements."""
    formula = formula.strip()
    tokens = _FORMULA_TOKEN.findall(formula)
    if not formula or "".join(e + n for e, n in tokens) != formula:
        raise ValueError(f"cannot parse formula {formula!r} (write it like Li7P3S11)")
    out: dict[str, float] = {}
    for el, n in tokens:
        if el not in _element_symbols():
            raise ValueError(f"unknown element {el!r} in formula {formula!r}")
        out[el] = out.get(el, 0.0) + (float(n) if n else 1.0)
    return out


class PhaseSpec(Settings):
    """One phase of the campaign.

    ``name`` is looked up (in order) in the CIF folder / ``cif`` file, the bundled library, the
    Materials Project (with ``MP_API_KEY``); if nothing has it and ``spacegroup`` is given, candidates
    are generated with PyXtal and relaxed with the reference (marked ``predicted``).
    """

    name: str = Field(min_length=1)
    formula: str | None = Field(None, description="reduced or cell formula; default: from the library")
    spacegroup: int | None = Field(None, ge=1, le=230, description="international number, for prediction")
    z: int | None = Field(None, ge=1, le=64, description="formula units per conventional cell (prediction)")
    cif: Path | None = Field(None, description="explicit CIF file for this phase")

    @field_validator("formula")
    @classmethod
    def _check_formula(cls, v):
        if v is not None:
            parse_formula(v)
        return v


class Reactants(Settings):
    """The two reactants, by phase name (each must be listed in ``phases``)."""

    anode: str
    electrolyte: str


class Campaign(Settings):
    """One campaign: two reactants, their phase space, a reference, and each stage's settings."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    output: Path = Field(description="folder for every artefact of the campaign")
    reactants: Reactants
    phases: list[PhaseSpec] = Field(min_length=2)
    chemistry: ChemistrySettings = ChemistrySettings()
    reference: ReferenceSettings = ReferenceSettings()
    sampling: SamplingSettings = SamplingSettings()
    training: TrainingSettings = TrainingSettings()
    validation: ValidationSettings = ValidationSettings()
    gate: GateSettings = GateSettings()
    learning: LearningSettings = LearningSettings()
    simulation: SimulationSettings = SimulationSettings()
    analysis: AnalysisSettings = AnalysisSettings()
    transport: TransportSettings = TransportSettings()
    cluster: ClusterSettings = ClusterSettings()  # resources of each stage's job (seilab submit)

    @model_validator(mode="after")
    def _check_phases(self):
        names = [p.name for p in self.phases]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"phase names must be unique, repeated: {sorted(dup)}")
        for role in ("anode", "electrolyte"):
            if getattr(self.reactants, role) not in names:
                raise ValueError(f"reactants.{role} {getattr(self.reactants, role)!r} is not in phases")
        self.refit_training()  # learning.refit must be valid training settings
        return self

    def refit_training(self) -> TrainingSettings:
        """The training settings of the active-learning refits: ``training`` with ``learning.refit`` on top."""
        if not self.learning.refit:
            return self.training
        try:
            return TrainingSettings.model_validate({**self.training.model_dump(), **self.learning.refit})
        except ValidationError as exc:
            raise ValueError(format_validation_error(exc, "learning.refit")) from None

    def phase(self, name: str) -> PhaseSpec:
        for p in self.phases:
            if p.name == name:
                return p
        raise SeilabError(f"phases: no phase named {name!r}")

    @property
    def elements(self) -> list[str]:
        """Elements of the campaign, from the reactants' formulas (sorted by atomic number)."""
        from seilab.chemistry.library import phase_formula
        from ase.data import atomic_numbers

        els = set()
        for p in self.phases:
            els |= set(parse_formula(phase_formula(p)))
        return sorted(els, key=atomic_numbers.get)

    def stage_dir(self, stage: str) -> Path:
        return self.layout.stage(stage)

    @property
    def layout(self):
        """Where this campaign's hand-off files are (:class:`seilab.layout.Layout`)."""
        from seilab.layout import Layout

        return Layout(self.output)


def _resolve_paths(data: dict, base: Path) -> dict:
    """Make relative paths of known path fields absolute against the config's folder."""
    def fix(v):
        return str((base / v).resolve()) if isinstance(v, str) and not Path(v).is_absolute() else v

    if "output" in data:
        data["output"] = fix(data["output"])
    chem = data.get("chemistry")
    if isinstance(chem, dict) and chem.get("cif_dir"):
        chem["cif_dir"] = fix(chem["cif_dir"])
    for p in data.get("phases") or []:
        if isinstance(p, dict) and p.get("cif"):
            p["cif"] = fix(p["cif"])
    ref = data.get("reference")
    if isinstance(ref, dict) and ref.get("pseudo_dir"):
        ref["pseudo_dir"] = fix(ref["pseudo_dir"])
    return data


def _check_output(output: Path, source: str) -> None:
    """``output`` must be a folder we can write, or creatable: checked before any expensive work."""
    if output.exists() and not output.is_dir():
        raise SeilabError(f"{source}: output: {output} is a file, not a folder")
    parent = output
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise SeilabError(f"{source}: output: {output} lies under {parent}, which is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SeilabError(f"{source}: output: cannot write in {parent}")


def _check_files(c: Campaign, source: str) -> None:
    _check_output(c.output, source)
    if c.chemistry.cif_dir is not None and not c.chemistry.cif_dir.is_dir():
        raise SeilabError(f"{source}: chemistry.cif_dir: folder not found: {c.chemistry.cif_dir}")
    for i, p in enumerate(c.phases):
        if p.cif is not None and not p.cif.is_file():
            raise SeilabError(f"{source}: phases.{i}.cif: file not found: {p.cif}")
    if c.reference.pseudo_dir is not None and not c.reference.pseudo_dir.is_dir():
        raise SeilabError(f"{source}: reference.pseudo_dir: folder not found: {c.reference.pseudo_dir}")


def load_config(path: str | Path, overrides: dict | None = None) -> Campaign:
    """Read and validate a campaign YAML. Any problem is a one-line :class:`SeilabError`."""
    path = Path(path)
    if not path.is_file():
        raise SeilabError(f"{path}: config file not found")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise SeilabError(f"{path}: expected a mapping of campaign settings at the top level")
    data = _resolve_paths(data, path.parent.resolve())
    for key, value in (overrides or {}).items():
        data[key] = value
    try:
        campaign = Campaign.model_validate(data)
    except ValidationError as exc:
        raise SeilabError(format_validation_error(exc, str(path))) from None
    _check_files(campaign, str(path))
    return campaign
