"""The one MD vocabulary of the campaign YAML: how a stage's molecular dynamics is integrated and sampled.

Every stage that runs MD embeds one of these models under a key of its section (``sampling.md``,
``validation.rdf_md`` and ``validation.stability_md``, ``learning.md``, ``transport.md``), so the same
words mean the same thing everywhere:

========================  ==============================================================================
``timestep_fs``           integration time step, fs
``steps``                 production steps of one run (the kept / examined part)
``sample_every``          one frame is kept (or examined) every this many steps
``equilibration_steps``   steps before production at the same temperature, not kept
``thermostat``            ``langevin`` (per-atom friction), ``bussi`` (global stochastic velocity rescaling),
                          ``nose_hoover`` (Nosé–Hoover chain) or ``nve`` (velocity Verlet);
                          :func:`seilab.dynamics.nvt` builds each
``friction_per_fs``       Langevin friction, 1/fs (LAMMPS ``fix langevin`` damping = 1 / friction fs)
``damp_fs``               coupling time of Bussi and Nosé–Hoover, fs
``temperature_K``         (:class:`MDRun`) the run's temperature, K
``temperatures_K``        (:class:`MDScan`) one run per temperature, K
========================  ==============================================================================

The random seed is the stage's own ``seed`` (it also seeds what the stage does besides MD). Each stage
subclasses these models with its own defaults and, where it supports fewer thermostats, a narrower
``thermostat``; a field the stage's MD does not use is listed in ``unused`` and refused when given a value other
than its default, so no setting is silently ignored.

Campaign files written before this model existed used flat keys (``sampling.md_timestep_fs``,
``validation.rdf_steps``, ``transport.n_steps``, ...). :func:`move_flat_keys` moves them into the nested
model with one :class:`FutureWarning` naming old and new keys; giving an old key and its new one together
is an error.

Import-light on purpose: only pydantic.
"""

from __future__ import annotations

import warnings
from typing import ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from seilab.settings.base import Settings, distinct_temperatures

Thermostat = Literal["langevin", "bussi", "nose_hoover", "nve"]


class MDProtocol(Settings):
    """How one MD run is integrated and sampled (temperature aside)."""

    #: fields this stage's MD does not use; giving one is an error (subclasses set it)
    unused: ClassVar[frozenset[str]] = frozenset()

    timestep_fs: float = Field(1.0, gt=0, le=10, description="integration time step, fs")
    steps: int = Field(1000, ge=1, description="production steps of one run")
    sample_every: int = Field(10, ge=1, description="keep (or examine) one frame every this many steps")
    equilibration_steps: int = Field(0, ge=0, description="steps before production, not kept")
    thermostat: Thermostat = Field("langevin", description="langevin, bussi, nose_hoover or nve")
    friction_per_fs: float = Field(0.02, gt=0, le=1, description="Langevin friction, 1/fs")
    damp_fs: float = Field(100.0, gt=0, description="Bussi / Nosé–Hoover coupling time, fs")

    @model_validator(mode="after")
    def _protocol(self):
        # a dump of these settings read back (model_dump -> model_validate) sets every field to its default
        given = sorted(f for f in self.model_fields_set & self.unused
                       if getattr(self, f) != type(self).model_fields[f].get_default(call_default_factory=True))
        if given:
            raise ValueError(f"{', '.join(given)}: not used by this stage's MD (leave it out)")
        if self.sample_every > self.steps:
            raise ValueError(f"sample_every {self.sample_every} exceeds steps {self.steps}: no frame would be kept")
        if self.thermostat in ("bussi", "nose_hoover") and self.damp_fs < self.timestep_fs:
            raise ValueError(f"damp_fs {self.damp_fs} is shorter than one time step ({self.timestep_fs} fs)")
        return self

    def nvt_kwargs(self) -> dict:
        """Keyword arguments of :func:`seilab.dynamics.nvt` for this protocol's thermostat (kind included)."""
        return {"kind": self.thermostat, "timestep_fs": self.timestep_fs, "friction_per_fs": self.friction_per_fs,
                "taut_fs": self.damp_fs}

    @property
    def sample_interval_fs(self) -> float:
        """Simulated time between kept frames, fs."""
        return self.timestep_fs * self.sample_every


class MDRun(MDProtocol):
    """An MD protocol at one temperature."""

    temperature_K: float = Field(300.0, gt=0, lt=1e4, description="temperature of the run, K")


class MDScan(MDProtocol):
    """An MD protocol run once per temperature."""

    temperatures_K: list[float] = Field(default_factory=lambda: [300.0], description="one run per temperature, K")

    @field_validator("temperatures_K")
    @classmethod
    def _temperatures(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("give at least one temperature")
        return distinct_temperatures(v)


def move_flat_keys(data, section: str, group: str, renames: dict[str, str]):
    """Body of a ``model_validator(mode="before")``: move the pre-nesting flat keys of ``renames``
    (``{"md_steps": "steps", ...}``) into the nested MD settings ``group``, with one FutureWarning.

    An old key given together with its new one (``sampling.md_steps`` and ``sampling.md.steps``) is an
    error: which one was meant is not ours to guess.
    """
    if not isinstance(data, dict):
        return data
    old = [k for k in renames if k in data]
    if not old:
        return data
    data = dict(data)
    nested = data.get(group)
    if isinstance(nested, BaseModel):
        nested = nested.model_dump(exclude_unset=True)
    if nested is not None and not isinstance(nested, dict):
        return data  # a wrong type: the field's own validation reports it
    nested = dict(nested or {})
    both = [k for k in old if renames[k] in nested]
    if both:
        raise ValueError("; ".join(f"{k} and {group}.{renames[k]} both given: keep {group}.{renames[k]}"
                                   for k in both))
    for k in old:
        nested[renames[k]] = data.pop(k)
    data[group] = nested
    warnings.warn(f"{section}: the keys {', '.join(old)} are now "
                  f"{', '.join(f'{group}.{renames[k]}' for k in old)} (one MD vocabulary, seilab.settings.md); "
                  "the old keys will stop working in a later release", FutureWarning, stacklevel=2)
    return data
