"""Interphase boundaries, thickness vs time and the two-regime (fast / slow) growth-law fit.

A z bin belongs to a *parent* phase when its composition is within ``threshold`` of the parent's
composition (total-variation distance, ½ Σ|x_i − x_i^parent|, 0..1); it is *interphase* when it
departs from both. Parent compositions come from the first frame, next to the initial plane.
Starting at the initial plane, the metal-side boundary is where ``min_bins`` consecutive bins are
metal-like again (sub-bin position by linear interpolation of the distance at the threshold), and
likewise toward the electrolyte. Growth into the metal h_M ≥ 0, into the electrolyte h_E ≥ 0,
thickness = h_M + h_E (Å).

The fit is a continuous piecewise power law (a hinge in log–log):
``ln h = a + n1 ln t + (n2 − n1) max(0, ln t − ln t_c)``; t_c by a dense grid + bounded refinement
on the residual sum of squares, each regime keeping at least ``min_points`` points. It is compared
with a single power law by BIC. Every exponent carries its standard error (least squares at the fitted
crossover, residual variance with one degree of freedom spent on t_c), and the crossover a profile
interval (the t_c where n·ln(RSS/RSS_min) ≤ 1). The fit's ``verdict`` says what the data support:

* ``"no growth detected"``: the single power law's exponent is not above zero by 2σ;
* ``"two regimes"``: the two-regime law is preferred by BIC (ΔBIC > 2), its fast exponent is above zero
  by 2σ, its slow exponent is positive and smaller than the fast one by 2σ of their difference (a fast
  regime followed by a slow one; a growth that speeds up is not the paper's two regimes);
* ``"one regime"``: otherwise (report the single power law).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar

__all__ = [
    "parent_compositions",
    "composition_distance",
    "interphase_boundaries",
    "PowerLaw",
    "RegimeFit",
    "fit_two_regimes",
    "GrowthResult",
]


def parent_compositions(
    counts: np.ndarray, centers: np.ndarray, depth_A: float = 10.0, skip_A: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Metal and electrolyte compositions (fractions per species) from first-frame bin counts.

    counts: (n_species, n_bins); centers: bin centres (Å, positive toward the metal). Uses the
    bins with skip < z < skip + depth on each side (skip: one bin width by default).
    """
    w = float(centers[1] - centers[0]) if centers.size > 1 else 1.0
    skip = w if skip_A is None else skip_A

    def comp(sel):
        c = counts[:, sel].sum(axis=1).astype(float)
        if c.sum() == 0:
            return None
        return c / c.sum()

    metal = comp((centers > skip) & (centers < skip + depth_A))
    elec = comp((centers < -skip) & (centers > -skip - depth_A))
    if metal is None or elec is None:
        # thin slabs / coarse bins: fall back to whole sides
        metal = comp(centers > 0)
        elec = comp(centers < 0)
    if metal is None or elec is None:
        from seilab.errors import SeilabError

        raise SeilabError("interface: no atoms on one side of the interface plane in the first frame")
    return metal, elec


def composition_distance(counts: np.ndarray, reference: np.ndarray, min_atoms: int = 1) -> np.ndarray:
    """Total-variation distance of each bin's composition from ``reference`` (NaN for empty bins)."""
    n = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = counts / np.where(n > 0, n, 1)
    d = 0.5 * np.abs(x - reference[:, None]).sum(axis=0)
    d[n < min_atoms] = np.nan
    return d


def _front(d: np.ndarray, centers: np.ndarray, order: np.ndarray, threshold: float, min_bins: int) -> float:
    """Distance from the plane (Å, ≥ 0) where, walking along ``order``, the parent phase resumes."""
    dd = d[order]
    like = dd <= threshold  # NaN compares False: empty bins are not parent-like
    n = like.size
    if n < min_bins:
        return float("nan")
    run = np.ones(n - min_bins + 1, bool)
    for k in range(min_bins):
        run &= like[k : n - min_bins + 1 + k]
    hits = np.flatnonzero(run)
    if hits.size == 0:
        return float("nan")
    b = hits[0]
    zb = abs(float(centers[order[b]]))
    w = abs(float(centers[1] - centers[0]))
    if b == 0:
        # first bin next to the plane is already parent-like: interpolate toward the plane
        return max(0.0, zb - w / 2)
    d_prev, d_b = dd[b - 1], dd[b]
    if np.isnan(d_prev) or d_prev <= d_b:
        return max(0.0, zb - w / 2)
    z_prev = abs(float(centers[order[b - 1]]))
    t = (d_prev - threshold) / (d_prev - d_b)
    return max(0.0, z_prev + t * (zb - z_prev))


def interphase_boundaries(
    counts: np.ndarray,
    centers: np.ndarray,
    metal: np.ndarray,
    electrolyte: np.ndarray,
    threshold: float = 0.15,
    min_bins: int = 2,
    min_atoms: int = 5,
) -> tuple[float, float, np.ndarray]:
    """(h_M, h_E, interphase mask per bin) for one frame's bin counts (see module doc)."""
    dM = composition_distance(counts, metal, min_atoms)
    dE = composition_distance(counts, electrolyte, min_atoms)
    up = np.flatnonzero(centers > 0)  # toward the metal, nearest first
    down = np.flatnonzero(centers < 0)[::-1]  # toward the electrolyte, nearest first
    hM = _front(dM, centers, up, threshold, min_bins)
    hE = _front(dE, centers, down, threshold, min_bins)
    inter = (dM > threshold) & (dE > threshold)
    inter &= ~np.isnan(dM)
    if not np.isnan(hM):
        inter &= centers <= hM + 1e-9 + abs(centers[1] - centers[0])
    if not np.isnan(hE):
        inter &= centers >= -hE - 1e-9 - abs(centers[1] - centers[0])
    return hM, hE, inter


@dataclass
class PowerLaw:
    """h = prefactor · t^exponent over [t_min, t_max] (h in Å, t in ps)."""

    exponent: float
    prefactor: float
    t_min_ps: float
    t_max_ps: float
    n_points: int
    exponent_err: float = float("nan")

    def __call__(self, t):
        return self.prefactor * np.asarray(t, float) ** self.exponent


@dataclass
class RegimeFit:
    """Two-regime growth law; ``fast`` before ``crossover_time_ps``, ``slow`` after."""

    crossover_time_ps: float
    fast: PowerLaw
    slow: PowerLaw
    rss: float
    r2: float
    single: PowerLaw
    bic_two: float
    bic_one: float
    two_regimes_preferred: bool
    crossover_interval_ps: tuple = (float("nan"), float("nan"))
    verdict: str = "one regime"

    def predict(self, t) -> np.ndarray:
        t = np.asarray(t, float)
        return np.where(t <= self.crossover_time_ps, self.fast(t), self.slow(t))

    def to_dict(self) -> dict:
        return asdict(self)


def _hinge_lsq(x, y, xc):
    A = np.column_stack([np.ones_like(x), x, np.maximum(0.0, x - xc)])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    res = y - A @ coef
    return coef, float(res @ res)


def _coef_cov(A, rss: float, dof: int) -> np.ndarray:
    """Covariance of linear least-squares coefficients, residual variance rss / dof."""
    return (rss / max(dof, 1)) * np.linalg.pinv(A.T @ A)


def fit_two_regimes(t, h, min_points: int = 3) -> RegimeFit | None:
    """Fit the continuous two-regime power law to h(t); None when too few positive points.

    Points with t ≤ 0 or h ≤ 0 (or NaN) are dropped (log–log fit).
    """
    t = np.asarray(t, float)
    h = np.asarray(h, float)
    ok = np.isfinite(t) & np.isfinite(h) & (t > 0) & (h > 0)
    t, h = t[ok], h[ok]
    order = np.argsort(t)
    t, h = t[order], h[order]
    n = t.size
    if n < 2 * min_points or n < 4:
        return None
    x, y = np.log(t), np.log(h)
    # single power law
    c1 = np.polyfit(x, y, 1)
    rss1 = float(((y - np.polyval(c1, x)) ** 2).sum())
    # breakpoint range: each side keeps >= min_points points
    lo, hi = x[min_points - 1], x[n - min_points]
    if not hi > lo:
        return None
    grid = np.linspace(lo, hi, 400)
    rss = np.array([_hinge_lsq(x, y, xc)[1] for xc in grid])
    k = int(np.argmin(rss))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    if b > a:
        opt = minimize_scalar(
            lambda xc: _hinge_lsq(x, y, xc)[1], bounds=(a, b), method="bounded", options={"xatol": 1e-6}
        )
        xc = float(opt.x) if opt.fun <= rss[k] else float(grid[k])
    else:
        xc = float(grid[k])
    (a0, n1, dn), rss2 = _hinge_lsq(x, y, xc)
    n2 = n1 + dn
    tc = float(np.exp(xc))
    cov2 = _coef_cov(np.column_stack([np.ones_like(x), x, np.maximum(0.0, x - xc)]), rss2, n - 4)
    cov1 = _coef_cov(np.column_stack([x, np.ones_like(x)]), rss1, n - 2)
    se = lambda v: float(np.sqrt(max(v, 0.0)))  # noqa: E731
    # profile interval of the crossover: grid points within n ln(RSS / RSS_min) <= 1
    floor = max(rss2, 1e-300)
    inside = grid[n * np.log(np.maximum(rss, floor) / floor) <= 1.0]
    interval = (float(np.exp(min(inside.min(), xc))), float(np.exp(max(inside.max(), xc)))) if inside.size else (tc, tc)
    fast_sel, slow_sel = t <= tc, t > tc
    fast = PowerLaw(
        float(n1), float(np.exp(a0)), float(t[fast_sel].min()), float(t[fast_sel].max()), int(fast_sel.sum()),
        se(cov2[1, 1]),
    )
    slow = PowerLaw(
        float(n2),
        float(np.exp(a0 + (n1 - n2) * xc)),
        float(t[slow_sel].min()),
        float(t[slow_sel].max()),
        int(slow_sel.sum()),
        se(cov2[1, 1] + cov2[2, 2] + 2 * cov2[1, 2]),
    )
    single = PowerLaw(float(c1[0]), float(np.exp(c1[1])), float(t.min()), float(t.max()), n, se(cov1[0, 0]))
    tss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - rss2 / tss if tss > 0 else 1.0
    eps = 1e-12 * max(tss, 1e-300)

    def bic(r, k):
        return float(n * np.log(max(r, eps) / n) + k * np.log(n))

    b2, b1 = bic(rss2, 4), bic(rss1, 2)
    preferred = bool(b2 < b1 - 2.0)
    if not single.exponent > 2 * single.exponent_err:
        verdict = "no growth detected"
    elif (preferred and fast.exponent > 2 * fast.exponent_err and slow.exponent > 0
          and -dn > 2 * se(cov2[2, 2])):  # the second regime is slower: n2 < n1 by 2σ of the hinge coefficient
        verdict = "two regimes"
    else:
        verdict = "one regime"
    return RegimeFit(
        crossover_time_ps=tc,
        fast=fast,
        slow=slow,
        rss=rss2,
        r2=float(r2),
        single=single,
        bic_two=b2,
        bic_one=b1,
        two_regimes_preferred=preferred,
        crossover_interval_ps=interval,
        verdict=verdict,
    )


@dataclass
class GrowthResult:
    """Interphase thickness vs time (Å, ps) and the regime fits (None when not fittable)."""

    times_ps: np.ndarray
    growth_metal_A: np.ndarray
    growth_electrolyte_A: np.ndarray
    thickness_A: np.ndarray
    metal_composition: dict
    electrolyte_composition: dict
    fit_total: RegimeFit | None = None
    fit_metal: RegimeFit | None = None
    fit_electrolyte: RegimeFit | None = None
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "times_ps": self.times_ps,
            "growth_metal_A": self.growth_metal_A,
            "growth_electrolyte_A": self.growth_electrolyte_A,
            "thickness_A": self.thickness_A,
            "metal_composition": self.metal_composition,
            "electrolyte_composition": self.electrolyte_composition,
            "fit_total": self.fit_total.to_dict() if self.fit_total else None,
            "fit_metal": self.fit_metal.to_dict() if self.fit_metal else None,
            "fit_electrolyte": self.fit_electrolyte.to_dict() if self.fit_electrolyte else None,
            "notes": self.notes,
        }
