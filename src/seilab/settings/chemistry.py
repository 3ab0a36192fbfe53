"""Settings of the chemistry stage (the ``chemistry:`` section): where phases come from, how they are
relaxed and how missing ones are predicted (:mod:`seilab.chemistry`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from seilab.settings.base import Settings


class ChemistrySettings(Settings):
    cif_dir: Path | None = Field(None, description="folder of user CIFs named <phase name>.cif")
    materials_project: Literal["auto", "never"] = Field(
        "auto", description="'auto': query mp-api for phases not found locally when MP_API_KEY is set")
    relax_fmax_eV_per_A: float = Field(0.05, gt=0)
    relax_max_steps: int = Field(300, ge=1)
    relax_cell: bool = True
    min_distance_A: float = Field(1.5, gt=0, description="reject structures with closer atoms")
    predict_candidates: int = Field(4, ge=1, description="PyXtal candidates per predicted phase")
    predict_prescreen_steps: int = Field(60, ge=0, description="cheap relaxation steps per candidate")
    predict_seed: int = 0
    predict_max_atoms: int = Field(64, ge=1, description="largest cell tried for a predicted phase")
