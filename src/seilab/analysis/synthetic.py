"""Synthetic layered frames with known answers (tests, benchmarks, examples).

:func:`layered_frame` fills an orthorhombic periodic box with a (jittered) simple grid and gives
every atom in a z region a species drawn in *exact* proportion to that region's composition, plane
by plane of the grid (so z profiles carry no sampling noise beyond rounding).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from seilab.analysis.trajectory import Frame

__all__ = ["layered_frame", "exact_species"]


def exact_species(n: int, composition: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """``n`` symbols in the proportions of ``composition`` (largest remainder), randomly ordered."""
    names = list(composition)
    w = np.array([composition[k] for k in names], float)
    w = w / w.sum()
    raw = w * n
    cnt = np.floor(raw).astype(int)
    rest = n - cnt.sum()
    if rest:
        cnt[np.argsort(-(raw - cnt), kind="stable")[:rest]] += 1
    out = np.repeat(np.asarray(names, dtype="U8"), cnt)
    rng.shuffle(out)
    return out


def layered_frame(
    regions: Sequence[tuple[float, float, dict]],
    lengths: tuple[float, float, float],
    spacing: tuple[float, float, float] = (2.5, 2.5, 2.5),
    jitter: float = 0.0,
    seed: int = 0,
    time_ps: float = 0.0,
    index: int = 0,
    z_origin: float | None = None,
) -> Frame:
    """A periodic orthorhombic frame; ``regions`` = [(z_lo, z_hi, composition), ...] in Å.

    The box spans x ∈ [0, Lx), y ∈ [0, Ly), z ∈ [z_origin, z_origin + Lz) (z_origin default −Lz/2).
    Grid atoms whose z (before jitter) lies in no region are left out (vacuum). ``unwrapped`` =
    positions.
    """
    Lx, Ly, Lz = lengths
    z0 = -Lz / 2 if z_origin is None else z_origin
    nx, ny, nz = (max(1, int(round(L / d))) for L, d in zip(lengths, spacing))
    dx, dy, dz = Lx / nx, Ly / ny, Lz / nz
    gx, gy, gz = np.meshgrid(
        (np.arange(nx) + 0.5) * dx, (np.arange(ny) + 0.5) * dy, z0 + (np.arange(nz) + 0.5) * dz, indexing="ij"
    )
    pos = np.column_stack([gx.ravel(), gy.ravel(), gz.ravel()])
    rng = np.random.default_rng(seed)
    sym = np.full(pos.shape[0], "", dtype="U8")
    plane = np.repeat(np.arange(nz)[None, :], nx * ny, axis=0).ravel()  # grid plane index per atom
    for lo, hi, comp in regions:
        sel = (pos[:, 2] >= lo) & (pos[:, 2] < hi) & (sym == "")
        # exact proportions in every grid plane, so every z bin has the region's composition
        for k in np.unique(plane[sel]):
            idx = np.flatnonzero(sel & (plane == k))
            sym[idx] = exact_species(idx.size, comp, rng)
    keep = sym != ""
    pos, sym = pos[keep], sym[keep]
    if jitter > 0:
        pos = pos + rng.uniform(-jitter, jitter, pos.shape)
    cell = np.diag([Lx, Ly, Lz]).astype(float)
    origin = np.array([0.0, 0.0, z0])
    s = (pos - origin) / np.array([Lx, Ly, Lz])
    s -= np.floor(s)
    wrapped = origin + s * np.array([Lx, Ly, Lz])
    return Frame(
        index=index,
        time_ps=time_ps,
        cell=cell,
        origin=origin,
        pbc=np.array([True, True, True]),
        ids=np.arange(1, pos.shape[0] + 1),
        symbols=sym,
        positions=wrapped,
        unwrapped=pos.copy(),
    )
