"""Unwrapped trajectories for the Onsager estimator: load from extxyz / ASE ``.traj`` files.

Positions must be **unwrapped** (atoms leaving the cell keep moving instead of reappearing on
the other side). ASE's MD integrators never wrap, so trajectories written by
:mod:`seilab.transport.campaign` (and by ASE dynamics in general) are unwrapped. A file
with wrapped positions is detected (a frame-to-frame jump of more than half a cell vector) and
refused unless ``unwrap=True``, which rebuilds continuous paths with the minimum-image
convention (valid when no atom moves more than half a cell vector between stored frames).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from seilab.errors import SeilabError


@dataclass
class Trajectory:
    """Frames ready for :class:`~seilab.transport.onsager.Onsager`.

    positions : (n_frames, n_atoms, 3) unwrapped, Å.
    species : chemical symbol of every atom.
    cell : (3, 3) cell of the first frame, Å.
    volume_A3 : cell volume of the first frame, Å³ (NVT).
    masses : (n_atoms,) amu.
    times_ps : (n_frames,) time of each frame when the file stores it (``info['time_ps']``), else None.
    """

    positions: np.ndarray
    species: list[str]
    cell: np.ndarray
    volume_A3: float
    masses: np.ndarray
    times_ps: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def timestep_ps(self) -> float | None:
        """Time between frames from the stored times, ps (None when the file has none)."""
        if self.times_ps is None or self.times_ps.size < 2:
            return None
        d = np.diff(self.times_ps)
        return float(np.median(d))

    @classmethod
    def from_atoms(cls, frames: Sequence, unwrap: bool = False, source: str = "frames") -> "Trajectory":
        """Build from a list of ASE Atoms (same atoms in the same order in every frame)."""
        frames = list(frames)
        if not frames:
            raise SeilabError(f"{source}: no frames")
        n = len(frames[0])
        symbols = frames[0].get_chemical_symbols()
        for k, f in enumerate(frames):
            if len(f) != n:
                raise SeilabError(f"{source}: frame {k} has {len(f)} atoms, frame 0 has {n}")
        if any(f.get_chemical_symbols() != symbols for f in frames[1:]):
            raise SeilabError(f"{source}: atom order or species change between frames")
        pos = np.stack([f.get_positions() for f in frames]).astype(float)
        cell = np.asarray(frames[0].get_cell()[:], dtype=float)
        vol = float(abs(np.linalg.det(cell))) if frames[0].cell.rank == 3 else 0.0
        times = None
        if all("time_ps" in f.info for f in frames):
            times = np.array([float(f.info["time_ps"]) for f in frames])
        if vol > 0 and len(frames) > 1:
            if unwrap:
                pos = unwrap_positions(pos, cell)
            elif looks_wrapped(pos, cell):
                raise SeilabError(f"{source}: positions look wrapped (an atom jumps by more than half a cell "
                                  f"vector between frames); pass unwrap=True / --unwrap")
        return cls(positions=pos, species=list(symbols), cell=cell, volume_A3=vol,
                   masses=np.asarray(frames[0].get_masses(), dtype=float), times_ps=times)


def _frac_steps(positions: np.ndarray, cell: np.ndarray) -> np.ndarray:
    inv = np.linalg.inv(cell)
    return np.diff(positions, axis=0) @ inv


def looks_wrapped(positions: np.ndarray, cell: np.ndarray) -> bool:
    """True when some atom moves by more than half a cell vector between consecutive frames."""
    return bool(np.any(np.abs(_frac_steps(positions, cell)) > 0.5))


def unwrap_positions(positions: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Continuous paths from wrapped positions (minimum image of every frame-to-frame step)."""
    steps = _frac_steps(positions, cell)
    steps -= np.round(steps)
    out = np.empty_like(positions, dtype=float)
    out[0] = positions[0]
    out[1:] = positions[0] + np.cumsum(steps @ cell, axis=0)
    return out


def load_trajectory(path: str | os.PathLike, index: str = ":", unwrap: bool = False,
                    stride: int = 1) -> Trajectory:
    """Read an unwrapped trajectory from extxyz (``.extxyz``/``.xyz``) or ASE ``.traj``.

    ``index`` is an ASE slice string; ``stride`` keeps every ``stride``-th frame after it.
    Raises :class:`SeilabError` naming the file when it is missing, unreadable, empty, has no
    cell, changes its atoms between frames or looks wrapped (without ``unwrap``).
    """
    path = Path(path)
    if not path.is_file():
        raise SeilabError(f"{path}: file not found")
    if stride < 1:
        raise SeilabError(f"stride: must be >= 1, got {stride}")
    suffix = path.suffix.lower()
    if suffix in (".extxyz", ".xyz"):
        from seilab.provenance import read_extxyz

        frames = read_extxyz(path, index=index)
    else:
        from ase.io import read

        try:
            frames = read(path, index=index)
        except Exception as exc:  # ASE raises many types for malformed files
            raise SeilabError(f"{path}: not a readable trajectory ({type(exc).__name__}: {exc})") from None
    if not isinstance(frames, list):
        frames = [frames]
    frames = frames[::stride]
    traj = Trajectory.from_atoms(frames, unwrap=unwrap, source=str(path))
    if traj.volume_A3 <= 0:
        raise SeilabError(f"{path}: frames have no 3D cell, give the volume explicitly")
    return traj
