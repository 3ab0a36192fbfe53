"""Interface frame of reference and per-bin profiles along the interface normal.

The initial interface plane is found on the first frame (or given): it is where the normalised
metal-species fraction along the normal crosses 0.5. Positions are then measured as ``z`` (Å)
relative to that plane, **positive toward the metal** (paper convention, Figures 7 and 9).

The plane is stored as a *fractional* coordinate along the normal cell vector, so in NpT runs it
moves affinely with the box (as the atoms do), and ``z`` of a periodic cell is wrapped into
``[-P/2, P/2)`` with ``P`` the cell height along the normal.

**Both interfaces.** A periodic metal | electrolyte sandwich has two interfaces, with the metal
on opposite sides. With ``fold=True`` (the default) the second one is located too (the steepest
crossing of the other orientation, ``s1``), and ``z`` is the signed distance to the *nearest*
interface, positive toward the metal: both interfaces are folded onto one profile, and neither
shows up as a feature inside the metal or the electrolyte. The ionic flux then counts both
planes and divides by twice the area (:mod:`seilab.analysis.flux`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from seilab.analysis.trajectory import Frame
from seilab.errors import SeilabError

__all__ = ["InterfaceReference", "find_interface", "ZBins", "composition_profile", "bin_mean"]


def _height(frame: Frame, axis: int) -> float:
    """Cell height along the normal of the plane spanned by the other two cell vectors (Å)."""
    return float(1.0 / np.linalg.norm(frame.inv_cell[:, axis]))


def _area(frame: Frame, axis: int) -> float:
    i, j = [k for k in range(3) if k != axis]
    return float(np.linalg.norm(np.cross(frame.cell[i], frame.cell[j])))


@dataclass
class InterfaceReference:
    """The initial interface plane.

    normal_axis: index of the cell vector crossing the interface; s0: fractional coordinate of
    the plane along it; direction: +1 when the metal lies at larger s, else -1; periodic: whether
    the normal direction is periodic; z0_A / height0_A / area_A2: plane position, cell height and
    interface area in the first frame (Å, Å²); s1: fractional coordinate of the second interface
    of a periodic sandwich (metal on the other side, direction ``-direction``), or None when only
    one plane is used.
    """

    normal_axis: int
    s0: float
    direction: int
    periodic: bool
    z0_A: float
    height0_A: float
    area_A2: float
    s1: float | None = None

    @property
    def planes(self) -> list[tuple[float, int]]:
        """(fractional position, direction toward the metal) of each interface plane."""
        first = [(self.s0, self.direction)]
        return first if self.s1 is None else first + [(self.s1, -self.direction)]

    def height(self, frame: Frame) -> float:
        return _height(frame, self.normal_axis)

    def area(self, frame: Frame) -> float:
        """Interface area of ``frame`` (Å²), of one interface."""
        return _area(frame, self.normal_axis)

    def z(self, frame: Frame, scaled: np.ndarray | None = None) -> np.ndarray:
        """Signed distance (Å) of every atom from the nearest plane, positive toward the metal."""
        s = frame.scaled()[:, self.normal_axis] if scaled is None else scaled
        best = None
        for s_plane, direction in self.planes:
            ds = s - s_plane
            if self.periodic:
                ds = ds - np.floor(ds + 0.5)
            zp = direction * ds
            best = zp if best is None else np.where(np.abs(zp) < np.abs(best), zp, best)
        return best * self.height(frame)

    def to_dict(self) -> dict:
        return asdict(self)


def find_interface(
    frame: Frame,
    metal_species,
    normal_axis: int = 2,
    position_A: float | None = None,
    metal_side: str = "auto",
    smoothing_A: float = 1.0,
    resolution_A: float = 0.25,
    fold: bool = True,
) -> InterfaceReference:
    """Locate the initial interface plane on ``frame`` (and, with ``fold``, the second one).

    Metal fraction f(s) = metal atoms / all atoms on a fine grid along the normal, Gaussian
    smoothed (``smoothing_A``; periodic wrap when the normal is periodic), normalised between its
    extreme values (so Li in both phases is fine: Li metal 1 -> 1, Li7P3S11 7/21 -> 0), and the plane
    is where it crosses 0.5. ``metal_side='auto'`` takes the steepest crossing with metal above
    (rising) if any, else the steepest falling one; 'above' / 'below' force the orientation.
    ``position_A`` (absolute coordinate along the normal) skips the search; the side then comes
    from ``metal_side`` or from which side has more metal within 10 Å. With ``fold`` and a periodic
    normal, the second interface is the steepest crossing of the other orientation (metal on its
    other side) at least 2 smoothing lengths from the first; none found: one plane.
    """
    metal_species = [metal_species] if isinstance(metal_species, str) else list(metal_species)
    if metal_side not in ("auto", "above", "below"):
        raise SeilabError(f"metal_side: expected auto, above or below, got {metal_side!r}")
    ax = normal_axis
    P = _height(frame, ax)
    periodic = bool(frame.pbc[ax])
    s = frame.scaled()[:, ax]
    if periodic:
        s = s - np.floor(s)
    is_metal = np.isin(frame.symbols, metal_species)
    if not is_metal.any():
        raise SeilabError(f"metal_species {metal_species}: no such atoms in the first frame")
    if is_metal.all():
        raise SeilabError(f"metal_species {metal_species}: every atom is metal, no interface to find")
    lo, hi = (0.0, 1.0) if periodic else (float(s.min()), float(s.max()) + 1e-9)
    nb = max(8, int(np.ceil((hi - lo) * P / resolution_A)))
    b = np.clip(((s - lo) / (hi - lo) * nb).astype(np.int64), 0, nb - 1)
    tot = np.bincount(b, minlength=nb).astype(float)
    met = np.bincount(b, weights=is_metal.astype(float), minlength=nb)
    sigma = smoothing_A / ((hi - lo) * P / nb)
    mode = "wrap" if periodic else "nearest"
    tot_s = gaussian_filter1d(tot, sigma, mode=mode)
    met_s = gaussian_filter1d(met, sigma, mode=mode)
    occupied = tot_s > 1e-3 * tot_s.max()
    f = np.where(occupied, met_s / np.where(occupied, tot_s, 1.0), np.nan)
    fmin, fmax = np.nanmin(f), np.nanmax(f)
    if not fmax - fmin > 1e-6 and position_A is None:
        raise SeilabError("interface: the metal fraction is uniform along the normal; set interface_position_A")
    phi = (f - fmin) / max(fmax - fmin, 1e-12)
    centers = lo + (np.arange(nb) + 0.5) * (hi - lo) / nb

    if position_A is not None:
        # position_A is the absolute height r.n of the plane along the unit normal n
        s0 = float((_unit_normal(frame, ax) * position_A - frame.origin) @ frame.inv_cell[:, ax])
        if periodic:
            s0 -= np.floor(s0)
        if metal_side == "auto":
            dz = 10.0 / P
            d = s - s0
            if periodic:
                d -= np.floor(d + 0.5)
            above = is_metal[(d > 0) & (d < dz)].mean() if np.any((d > 0) & (d < dz)) else 0.0
            below = is_metal[(d < 0) & (d > -dz)].mean() if np.any((d < 0) & (d > -dz)) else 0.0
            direction = 1 if above >= below else -1
        else:
            direction = 1 if metal_side == "above" else -1
    all_crossings = _crossings(phi, centers, periodic, (hi - lo) / nb) if fmax - fmin > 1e-6 else []
    if position_A is None:
        cand = list(all_crossings)
        if metal_side != "auto":
            want = 1 if metal_side == "above" else -1
            cand = [c for c in cand if c[1] == want]
        if not cand:
            raise SeilabError(
                "interface: no crossing of the normalised metal fraction through 0.5 found; "
                "set interface_position_A (and metal_side)"
            )
        rising = [c for c in cand if c[1] == 1]
        pool = rising if (metal_side == "auto" and rising) else cand
        s0, direction, _ = max(pool, key=lambda c: c[2])
    s1 = None
    if fold and periodic:
        gap = 2 * smoothing_A / P
        other = [c for c in all_crossings if c[1] == -direction and abs((c[0] - s0 + 0.5) % 1.0 - 0.5) > gap]
        if other:
            s1 = float(max(other, key=lambda c: c[2])[0])
    z0 = float(frame.origin @ _unit_normal(frame, ax) + s0 * P)
    return InterfaceReference(
        normal_axis=ax,
        s0=float(s0),
        direction=int(direction),
        periodic=periodic,
        z0_A=z0,
        height0_A=P,
        area_A2=_area(frame, ax),
        s1=s1,
    )


def _crossings(phi: np.ndarray, centers: np.ndarray, periodic: bool, step: float) -> list[tuple[float, int, float]]:
    """(fractional position, +1 rising / -1 falling, |slope|) where ``phi`` crosses 0.5 (linear interpolation)."""
    nb = phi.size
    x = phi - 0.5
    k = np.arange(nb if periodic else nb - 1)
    k2 = (k + 1) % nb
    ok = ~np.isnan(x[k]) & ~np.isnan(x[k2]) & (x[k] != 0) & (np.sign(x[k]) != np.sign(x[k2]))
    k, k2 = k[ok], k2[ok]
    t = x[k] / (x[k] - x[k2])
    sc = centers[k] + t * step
    if periodic:
        sc = sc % 1.0
    slope = phi[k2] - phi[k]
    return [(float(a), 1 if b > 0 else -1, float(abs(b))) for a, b in zip(sc, slope)]


def _unit_normal(frame: Frame, axis: int) -> np.ndarray:
    g = frame.inv_cell[:, axis]
    return g / np.linalg.norm(g)


@dataclass
class ZBins:
    """Fixed bins of ``z`` (Å) relative to the interface, edges symmetric about 0 (0 is an edge)."""

    edges: np.ndarray

    @classmethod
    def symmetric(cls, half_range_A: float, width_A: float) -> "ZBins":
        n = max(1, int(np.floor(half_range_A / width_A + 1e-9)))
        return cls(edges=width_A * np.arange(-n, n + 1, dtype=float))

    @property
    def n(self) -> int:
        return self.edges.size - 1

    @property
    def centers(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    @property
    def width(self) -> float:
        return float(self.edges[1] - self.edges[0])

    def index(self, z: np.ndarray) -> np.ndarray:
        """Bin index per value, -1 outside the range."""
        i = np.floor((z - self.edges[0]) / self.width).astype(np.int64)
        i[(i < 0) | (i >= self.n)] = -1
        return i


def composition_profile(bin_index: np.ndarray, species_code: np.ndarray, n_species: int, n_bins: int) -> np.ndarray:
    """Atom counts per (species, bin), shape (n_species, n_bins); atoms with bin -1 are ignored."""
    ok = bin_index >= 0
    flat = species_code[ok] * n_bins + bin_index[ok]
    return np.bincount(flat, minlength=n_species * n_bins).reshape(n_species, n_bins)


def bin_mean(values: np.ndarray, bin_index: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` per bin (NaN where empty) and the number of values per bin."""
    ok = bin_index >= 0
    n = np.bincount(bin_index[ok], minlength=n_bins)
    s = np.bincount(bin_index[ok], weights=values[ok].astype(float), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(n > 0, s / np.maximum(n, 1), np.nan)
    return m, n
