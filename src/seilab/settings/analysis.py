"""Settings of the analysis stage (one section of the campaign YAML, ``analysis:``).

Import-light on purpose (pydantic only): the config loader imports this module.

Units are in the field names (``_A`` = ångström, ``_fs`` = femtoseconds, ``_ps`` = picoseconds)
or stated in the description.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from seilab.settings.base import Settings

#: Pair keys are "A-B": centre species A, neighbour species B (CN of A counts B atoms).
DEFAULT_PAIRS = ["P-Li", "S-Li", "Li-P", "P-P", "P-S"]

#: Default cutoffs (Å). They are fixed rather than taken from the first frame's RDF minima because
#: the first frame of an interface run holds only the *parents*, whose minima are wrong for the
#: products: P-Li distances in Li7P3S11 run continuously from 2.95 to 4 Å (first minimum ~4.5 Å,
#: which would count 17 Li around P in Li3P instead of 11), and pristine Li7P3S11 has no P-P bond,
#: so its first P-P "minimum" lies beyond the P2S7 P...P distance (3.73 Å). Values:
#: P-Li 3.3 (Li3P shells 2.46-2.77 | 4.52; paper's Li3P peak 2.49), S-Li 3.2 (Li2S 2.47 | 4.73;
#: Li7P3S11 first minimum 3.17), P-P and P-S 2.6 (bonds 2.0-2.25 Å). Pairs not listed here get the
#: first RDF minimum (``auto_cutoffs``) of the ``cutoff_frame``.
DEFAULT_FIXED_CUTOFFS_A = {"P-Li": 3.3, "S-Li": 3.2, "P-P": 2.6, "P-S": 2.6}

#: Fields that decide where the frames are analysed, not what comes out (the parallel path gives the
#: serial path's numbers): the campaign runner leaves them out of the stage's skip key.
EXECUTION_FIELDS = ("workers", "cluster", "tasks_per_worker", "cluster_timeout_s")

_SCHEDULER_ADDRESS = re.compile(r"(tcp|tls|ucx|ws|wss|inproc)://\S+")


class PhaseReference(Settings):
    """One reference phase for phase identification (nearest fingerprint wins).

    ``composition``: formula amounts (normalised internally), e.g. ``{"Li": 2, "S": 1}``.
    ``coordination``: mean coordination numbers of pair keys ("A-B"), compared only where both the
    reference and the region define them (a region without A atoms has no A-B value).
    """

    name: str
    composition: dict[str, float]
    coordination: dict[str, float] = Field(default_factory=dict)
    note: str = ""

    @field_validator("composition")
    @classmethod
    def _positive_amounts(cls, v: dict[str, float]) -> dict[str, float]:
        if not v or any(x < 0 for x in v.values()) or sum(v.values()) <= 0:
            raise ValueError("composition needs non-negative amounts with a positive sum")
        return v

    @field_validator("coordination")
    @classmethod
    def _cn_nonnegative(cls, v: dict[str, float]) -> dict[str, float]:
        for k, x in v.items():
            if x < 0:
                raise ValueError(f"coordination {k} must be >= 0")
            _check_pair_key(k)
        return v


def _check_pair_key(key: str) -> str:
    parts = key.split("-")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise ValueError(f"pair key {key!r} must look like 'A-B' (e.g. 'P-Li')")
    return key


def default_phase_references() -> list[PhaseReference]:
    """The Li-P-S reference phases of the paper's layer sequence (Figure 8d).

    Crystal values (Li metal, Li2S, Li3P, Li7P3S11) were computed from the crystal structures with
    this module's default cutoffs (tests/analysis/test_phases.py rebuilds them); LixP and P-rich
    Li-P are *nominal* amorphous fingerprints (no public coordinates for LiP, Li3P7, LiP7 here).
    """
    return [
        PhaseReference(name="Li metal", composition={"Li": 1.0}, note="bcc Li"),
        PhaseReference(
            name="Li3P",
            composition={"Li": 3, "P": 1},
            coordination={"P-Li": 11.0, "Li-P": 11.0 / 3.0, "P-P": 0.0},
            note="P6_3/mmc Na3As type: P-Li 3x2.46 + 2x2.52 + 6x2.77 A",
        ),
        PhaseReference(
            name="LixP",
            composition={"Li": 2, "P": 1},
            coordination={"P-Li": 8.0, "Li-P": 4.0, "P-P": 1.0},
            note="nominal Li-rich amorphous Li-P between LiP and Li3P",
        ),
        PhaseReference(
            name="P-rich Li-P",
            composition={"Li": 3, "P": 7},
            coordination={"P-Li": 3.0, "Li-P": 7.0, "P-P": 2.57},
            note="nominal Li3P7-like (P7 cages: mean P-P CN 18/7)",
        ),
        PhaseReference(
            name="Li2S",
            composition={"Li": 2, "S": 1},
            coordination={"S-Li": 8.0},
            note="antifluorite, a = 5.70 A: S-Li 8 x 2.47 A",
        ),
        PhaseReference(
            name="Li7P3S11",
            composition={"Li": 7, "P": 3, "S": 11},
            coordination={"P-S": 4.0, "P-P": 0.0, "P-Li": 4.0 / 3.0, "S-Li": 30.0 / 11.0, "Li-P": 4.0 / 7.0},
            note="P-1 (PS4 + P2S7): every P has 4 S; values at the default cutoffs",
        ),
    ]


class AnalysisSettings(Settings):
    """Settings of the analysis stage (interphase growth, flux, coordination, phases, crystals)."""

    # --- reading -------------------------------------------------------------------------
    type_map: list[str] | None = Field(
        None, description="LAMMPS atom type -> element symbol, in type order (type 1 first)"
    )
    timestep_fs: float = Field(1.0, gt=0, description="MD timestep (fs) to turn dump steps into time")
    frame_interval_ps: float = Field(1.0, gt=0, description="time between frames (ps) when a file carries no step/time")
    stride: int = Field(1, ge=1, description="analyse every stride-th frame")
    start_frame: int = Field(0, ge=0, description="first frame to analyse (0-based)")
    stop_frame: int | None = Field(None, ge=1, description="stop before this frame (None: to the end)")

    # --- interface frame of reference ------------------------------------------------------
    normal_axis: int = Field(2, ge=0, le=2, description="cell vector index normal to the interface (2 = c/z)")
    metal_species: list[str] = Field(default_factory=lambda: ["Li"], description="species of the metal electrode")
    interface_position_A: float | None = Field(
        None, description="initial interface plane along the normal (A, absolute, first frame); None: find it"
    )
    metal_side: Literal["auto", "above", "below"] = Field(
        "auto", description="where the metal lies relative to the plane (auto: from the profile)"
    )
    interface_smoothing_A: float = Field(1.0, gt=0, description="Gaussian smoothing of the first-frame profile (A)")
    fold_interfaces: bool = Field(
        True, description="periodic sandwich: find both interfaces, measure z from the nearest one (both folded "
                          "onto one profile) and count the flux at both, per area of one interface (divided by 2A)")
    bin_width_A: float = Field(2.0, gt=0, description="width of z bins (A)")

    # --- interphase growth -------------------------------------------------------------------
    interphase_threshold: float = Field(
        0.15,
        gt=0,
        lt=1,
        description="composition distance (total-variation, 0..1) from a parent phase "
        "beyond which a bin belongs to the interphase",
    )
    boundary_min_bins: int = Field(2, ge=1, description="consecutive parent-like bins that end the interphase")
    min_bin_atoms: int = Field(5, ge=1, description="bins with fewer atoms are empty (vacuum)")
    regime_min_points: int = Field(3, ge=2, description="minimum points in each growth regime of the fit")

    # --- coordination ------------------------------------------------------------------------
    coordination_pairs: list[str] = Field(default_factory=lambda: list(DEFAULT_PAIRS))
    coordination_cutoffs_A: dict[str, float] | None = Field(
        default_factory=lambda: dict(DEFAULT_FIXED_CUTOFFS_A),
        description="fixed cutoffs (A) per pair 'A-B' (a pair's conjugate B-A shares it), merged over "
        "the defaults (P-Li 3.3, S-Li 3.2, P-P 2.6, P-S 2.6); null: no fixed cutoffs at all. Pairs "
        "without one use the first RDF minimum of cutoff_frame (or fallback_cutoff_A)",
    )
    auto_cutoffs: bool = Field(True, description="find missing cutoffs at the first RDF minimum")
    cutoff_frame: Literal["first", "last"] = Field(
        "first",
        description="frame whose RDFs give the automatic cutoffs ('last' costs one extra unparsed pass over the file)",
    )
    fallback_cutoff_A: float = Field(3.3, gt=0, description="cutoff when the RDF shows no usable minimum (A)")
    rdf_r_max_A: float = Field(6.0, gt=0, description="RDF range (A)")
    rdf_bin_A: float = Field(0.02, gt=0, description="RDF histogram bin (A)")
    rdf_smoothing_A: float = Field(
        0.15,
        ge=0,
        description="Gaussian broadening of g(r) before the minimum search (A); merges "
        "sub-shells split by less than ~0.3 A (Li3P: 2.46/2.52/2.77 A are one shell of 11)",
    )
    rdf_min_depth: float = Field(0.6, gt=0, le=1, description="a minimum counts only if g_min <= depth * g(first peak)")
    structure_every: int = Field(
        1, ge=1, description="coordination / phases / clusters / crystals on every n-th analysed frame"
    )
    coordination_window: int = Field(
        1, ge=1, description="structure frames averaged (atom-weighted) into one time window of the coordination maps"
    )

    # --- phases ------------------------------------------------------------------------------
    phase_references: list[PhaseReference] = Field(default_factory=default_phase_references)
    phase_coordination_weight: float = Field(
        0.5, ge=0, description="weight of coordination vs composition in the fingerprint distance"
    )
    phase_cn_scale: float = Field(10.0, gt=0, description="coordination numbers are divided by this")
    min_layer_bins: int = Field(2, ge=1, description="runs of fewer bins are merged into neighbours")
    local_phase_radius_A: float | None = Field(
        None, gt=0, description="also label every atom by its neighbourhood of this radius (A; slow)"
    )
    layer_rdf_pairs: list[str] = Field(default_factory=lambda: ["P-Li", "S-Li", "P-P", "P-S", "Li-Li"])

    # --- nanocrystals --------------------------------------------------------------------------
    crystal_species: str = Field("S", description="sublattice species (S: fcc sublattice of Li2S)")
    crystal_cutoff_A: float = Field(
        4.85, gt=0, description="sublattice neighbour cutoff (A); Li2S a=5.70: S-S 4.03 (12), next 5.70"
    )
    crystal_bond_threshold: float = Field(0.7, gt=0, lt=1, description="normalised q6.q6 for a solid-like bond")
    crystal_min_bonds: int = Field(7, ge=1, description="solid-like bonds for a crystalline atom")
    crystal_q4_range: tuple[float, float] = Field(
        (0.13, 0.30), description="averaged Q4 window of fcc (ideal 0.19; hcp 0.10, bcc 0.04)"
    )
    crystal_q6_range: tuple[float, float] = Field((0.35, 0.65), description="averaged Q6 window of fcc (ideal 0.575)")
    min_domain_atoms: int = Field(10, ge=1, description="smallest crystalline domain reported (atoms)")

    # --- output --------------------------------------------------------------------------------
    figures: bool = True
    figure_dpi: int = Field(120, ge=30, le=600)

    # --- parallel execution (where frames are analysed; the numbers are the serial path's) ----------
    workers: int = Field(
        1,
        ge=1,
        le=4096,
        description="Dask worker processes (one thread each) analysing frames in parallel; 1 = the serial path, "
        "in this process, without Dask. With cluster 'slurm' one Slurm job per worker; with a scheduler "
        "address, how many of its workers to wait for",
    )
    cluster: str = Field(
        "local",
        description="where the workers run when workers > 1 (or cluster is not 'local'): 'local' = a Dask "
        "LocalCluster on this machine; 'slurm' = a dask-jobqueue SLURMCluster, one job per worker, with the "
        "campaign's cluster: resources of the analysis stage (cores_per_rank, memory_per_core_MB, walltime_min; "
        "partition / account from the Dask config jobqueue.slurm.queue / .account); or the address of a running "
        "Dask scheduler, e.g. tcp://10.0.0.5:8786 (its workers must import seilab and read the trajectory path)",
    )
    tasks_per_worker: int = Field(
        2,
        ge=1,
        le=64,
        description="frames in flight per worker thread: at most workers x tasks_per_worker frames (or their "
        "results) are held at once, whatever the trajectory's length",
    )
    cluster_timeout_s: float = Field(
        300.0,
        gt=0,
        le=86400,
        description="seconds to wait for the workers to connect (Slurm jobs may queue) before giving up",
    )

    @field_validator("coordination_pairs", "layer_rdf_pairs")
    @classmethod
    def _pairs(cls, v: list[str]) -> list[str]:
        for k in v:
            _check_pair_key(k)
        return v

    @field_validator("coordination_cutoffs_A")
    @classmethod
    def _cutoffs(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        for k, x in v.items():
            _check_pair_key(k)
            if not x > 0:
                raise ValueError(f"cutoff for {k} must be > 0 A, got {x}")
        # user values override the defaults (a user value for B-A replaces the default A-B)
        given = {tuple(k.split("-")) for k in v} | {tuple(reversed(k.split("-"))) for k in v}
        merged = {k: x for k, x in DEFAULT_FIXED_CUTOFFS_A.items() if tuple(k.split("-")) not in given}
        merged.update(v)
        v = merged
        return v

    @field_validator("type_map", "metal_species")
    @classmethod
    def _symbols(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if not v:
                raise ValueError("must not be empty")
            for s in v:
                if not s or not s.strip():
                    raise ValueError("element symbols must be non-empty")
        return v

    @field_validator("crystal_q4_range", "crystal_q6_range")
    @classmethod
    def _range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (0 <= v[0] < v[1] <= 1):
            raise ValueError(f"range must satisfy 0 <= lo < hi <= 1, got {v}")
        return v

    @field_validator("phase_references")
    @classmethod
    def _refs(cls, v: list[PhaseReference]) -> list[PhaseReference]:
        if not v:
            raise ValueError("need at least one reference phase")
        names = [r.name for r in v]
        if len(set(names)) != len(names):
            raise ValueError("reference phase names must be unique")
        return v

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, v: str) -> str:
        v = v.strip()
        if v in ("local", "slurm") or _SCHEDULER_ADDRESS.fullmatch(v):
            return v
        raise ValueError(
            f"must be 'local', 'slurm' or a Dask scheduler address such as tcp://10.0.0.5:8786, got {v!r}"
        )

    @property
    def uses_dask(self) -> bool:
        """Whether the frames go to a Dask cluster (workers > 1, or a cluster other than 'local')."""
        return self.workers > 1 or self.cluster != "local"

    @model_validator(mode="after")
    def _frames(self) -> "AnalysisSettings":
        if self.stop_frame is not None and self.stop_frame <= self.start_frame:
            raise ValueError("stop_frame must be greater than start_frame")
        if self.rdf_bin_A >= self.rdf_r_max_A:
            raise ValueError("rdf_bin_A must be smaller than rdf_r_max_A")
        return self
