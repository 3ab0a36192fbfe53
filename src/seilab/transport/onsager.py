"""Onsager transport coefficients L_ij from unwrapped MD trajectories (paper eq. 1).

.. math::

    L_{ij} = \\frac{1}{6 k_B V T} \\lim_{t\\to\\infty} \\frac{d}{dt}
             \\Big\\langle \\sum_{\\alpha \\in i} \\Delta r_\\alpha(t) \\cdot
                          \\sum_{\\beta \\in j} \\Delta r_\\beta(t) \\Big\\rangle

Configure → compute → read (freud-like)::

    est = Onsager(n_blocks=5)                       # configure
    est.compute(positions, species, timestep_ps=0.01, volume_A3=1500.0, temperature_K=900.0)
    est.result.L, est.result.L_err                  # read

or in one call :func:`onsager_coefficients`.

Algorithm
---------
With the collective coordinate :math:`X_i(t) = \\sum_{\\alpha\\in i} r_\\alpha(t)` the average
over all time origins of the displacement cross-correlation at lag :math:`m` is

.. math::

    M_{ij}(m) = \\frac{1}{N-m}\\sum_{k=0}^{N-1-m} (X_i(k+m)-X_i(k))\\cdot(X_j(k+m)-X_j(k))
              = \\frac{S_{ij}(m) - C_{ij}(m) - C_{ji}(m)}{N-m}

with :math:`S_{ij}(m)=\\sum_{k=m}^{N-1} X_i\\cdot X_j(k) + \\sum_{k=0}^{N-1-m} X_i\\cdot X_j(k)`
(prefix sums) and :math:`C_{ij}(m)=\\sum_k X_i(k)\\cdot X_j(k+m)` from one zero-padded FFT per
species: O(N log N) instead of the O(N²) double loop over origins (kept as ``method="direct"``
for checking). The self part (α = β only) uses the same identity per atom, summed per species in
Fourier space so only one inverse FFT per species is needed.

Units
-----
Positions in Å, times in ps, volume in Å³, temperature in K, k_B in eV/K, so **L is in
1/(eV·Å·ps)** (number of particles per (eV·Å·ps)).
Conversions: multiply by :data:`L_TO_SI` = 6.241509e40 for 1/(J·m·s) (particles), or by
:data:`L_TO_MOLAR_SI` = 1.036427e17 for mol/(J·m·s).
Displacement correlations are in Å², lags in ps.

Fit window and the diffusive check
----------------------------------
The slope is fitted only where the motion is diffusive, d ln MSD / d ln t ≈ 1 (within
``slope_tolerance``). This is checked **per species** on its self MSD Σ_{α∈i}⟨|Δr_α|²⟩: each
species gets the diffusive stretch :func:`choose_fit_window` finds inside one block's usable lags,
and the window is that of the **slowest** diffusive species (smallest self-diffusion coefficient),
so that no species is fitted in its ballistic or caged regime. In that window every species'
log–log slope is recorded (``slope_in_window``); a species is ``diffusive`` when it had a
diffusive stretch of its own and its slope in the window is within the tolerance. A species
that is not is named in ``warnings``, its rows and columns of L and its D are flagged "not
diffusive" (:meth:`OnsagerResult.summary`, ``flags`` in :meth:`OnsagerResult.to_dict`) and
``status`` is ``"computed_not_diffusive"`` instead of ``"computed"``. Without any diffusive
species the fallback window (``default_window_fraction`` of a block) is used and said in
``warnings``. For every species that is not diffusive within one block the warnings also say how
long a run would need to be: the lag where its MSD becomes diffusive over the whole run (or a
lower bound when it never does), times ``min_extent`` = 3 for a window spanning a factor 3 in
time, divided by ``max_lag_fraction`` for the block, times ``n_blocks``.

Uncertainty
-----------
``error_method="blocks"`` (default): every run is cut into ``n_blocks`` contiguous blocks, L is
fitted in each (same lag window) and ``L_err`` is the standard error of the block mean.
``"runs"``: the same across independent runs (pass a list of trajectories).
``"bootstrap"``: runs are resampled with replacement; ``L_err`` is the bootstrap std.
The per-block (per-run, per-bootstrap) matrices are kept in ``L_samples``, so that anything
derived from L (the fluxes J_k = −L_k·∇μ of :func:`~.fluxes.predict_fluxes`) takes its error
from the spread of the samples, with the correlations between the L_ij, and not from the L_err
as if they were independent. With few blocks a standard error is itself uncertain: the result
also quotes **Student-t intervals**, ``L_ci`` = t(1 − (1 − ``confidence``)/2, n − 1) × ``L_err``
(n samples, n − 1 degrees of freedom; ``t_factor`` and ``dof`` recorded; for the bootstrap the
normal quantile). With the default 5 blocks and 95 % confidence t = 2.78, not 1.96.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Sequence

import numpy as np
from ase.units import create_units

from seilab.errors import SeilabError

from seilab.settings.transport import MIN_FRAMES

# CODATA 2018 (exact SI values) from ase.units; ase's default set is CODATA 2014
_CODATA = create_units("2018")
#: Boltzmann constant, eV/K.
KB_EV_PER_K = _CODATA["_k"] / _CODATA["_e"]
_EV_J = _CODATA["_e"]
_AVOGADRO = _CODATA["_Nav"]
#: 1/(eV·Å·ps) → 1/(J·m·s)  (particles).
L_TO_SI = 1.0 / (_EV_J * 1e-10 * 1e-12)
#: 1/(eV·Å·ps) → mol/(J·m·s).
L_TO_MOLAR_SI = L_TO_SI / _AVOGADRO

L_UNIT = "1/(eV*Angstrom*ps)"

UNITS = {
    "L": L_UNIT,
    "L_to_SI_factor": L_TO_SI,
    "L_SI": "1/(J*m*s)",
    "L_to_molar_SI_factor": L_TO_MOLAR_SI,
    "L_molar_SI": "mol/(J*m*s)",
    "msd": "Angstrom^2",
    "lags": "ps",
    "fit_window": "ps",
    "volume": "Angstrom^3",
    "temperature": "K",
}

Method = Literal["fft", "direct"]
ErrorMethod = Literal["blocks", "runs", "bootstrap"]


# --------------------------------------------------------------------------------------------
# Displacement correlation kernels (sums over time origins; divide by N - m for the average)
# --------------------------------------------------------------------------------------------

def _fft_len(n: int) -> int:
    from scipy.fft import next_fast_len

    return next_fast_len(2 * n, real=True)


def _square_sums(D: np.ndarray) -> np.ndarray:
    """S(m) = sum_{k=m}^{N-1} D(k) + sum_{k=0}^{N-1-m} D(k) for m = 0..N-1 (axis 0)."""
    n = D.shape[0]
    cs = np.concatenate([np.zeros((1,) + D.shape[1:]), np.cumsum(D, axis=0)], axis=0)
    m = np.arange(n)
    return (cs[n] - cs[m]) + cs[n - m]


def cross_sums_fft(X: np.ndarray) -> np.ndarray:
    """Σ over origins of ΔX_i·ΔX_j for every lag, by FFT.

    Parameters
    ----------
    X : (n_frames, n_species, 3) collective coordinates, Å.

    Returns
    -------
    (n_frames, n_species, n_species) array: entry ``[m, i, j]`` is
    ``sum_{k=0}^{N-1-m} (X_i(k+m)-X_i(k))·(X_j(k+m)-X_j(k))`` in Å².
    """
    from scipy.fft import irfft, rfft

    X = np.asarray(X, dtype=float)
    n = X.shape[0]
    X = X - X.mean(axis=0)  # shift-invariant; keeps the cancellation S - C well conditioned
    nfft = _fft_len(n)
    F = rfft(X, n=nfft, axis=0)                                    # (nf, S, 3)
    P = np.einsum("fid,fjd->fij", F.conj(), F)                     # (nf, S, S)
    C = irfft(P, n=nfft, axis=0)[:n]                               # C[m,i,j] = Σ_k X_i(k)·X_j(k+m)
    D = np.einsum("kid,kjd->kij", X, X)
    out = _square_sums(D) - (C + C.transpose(0, 2, 1))
    out[0] = 0.0
    return out


def cross_sums_direct(X: np.ndarray) -> np.ndarray:
    """Same as :func:`cross_sums_fft` by the O(N²) loop over lags (vectorised over origins)."""
    X = np.asarray(X, dtype=float)
    n, s, _ = X.shape
    out = np.zeros((n, s, s))
    for m in range(1, n):
        d = (X[m:] - X[:-m]).transpose(1, 0, 2).reshape(s, -1)
        out[m] = d @ d.T
    return out


def _onehot(index: np.ndarray, n_species: int) -> np.ndarray:
    W = np.zeros((n_species, index.size))
    W[index, np.arange(index.size)] = 1.0
    return W


def self_sums_fft(positions: np.ndarray, index: np.ndarray, n_species: int,
                  chunk: int = 64) -> np.ndarray:
    """Σ over origins and over atoms of species i of |Δr_α|², by FFT.

    Parameters
    ----------
    positions : (n_frames, n_atoms, 3) unwrapped positions, Å.
    index : (n_atoms,) species index of each atom.

    Returns
    -------
    (n_frames, n_species) array in Å² (sum over origins; divide by N - m).
    """
    from scipy.fft import irfft, rfft

    n, n_atoms, _ = positions.shape
    nfft = _fft_len(n)
    W = _onehot(index, n_species)
    power = np.zeros((nfft // 2 + 1, n_species))
    D = np.zeros((n, n_species))
    for a0 in range(0, n_atoms, chunk):
        p = np.asarray(positions[:, a0:a0 + chunk, :], dtype=float)
        p = p - p.mean(axis=0)
        F = rfft(p, n=nfft, axis=0)
        power += (F.real ** 2 + F.imag ** 2).sum(axis=-1) @ W[:, a0:a0 + chunk].T
        D += (p * p).sum(axis=-1) @ W[:, a0:a0 + chunk].T
    C = irfft(power, n=nfft, axis=0)[:n]
    out = _square_sums(D) - 2.0 * C
    out[0] = 0.0
    return out


def self_sums_direct(positions: np.ndarray, index: np.ndarray, n_species: int) -> np.ndarray:
    """Same as :func:`self_sums_fft` by the O(N²) loop over lags (vectorised over origins/atoms)."""
    positions = np.asarray(positions, dtype=float)
    n = positions.shape[0]
    W = _onehot(index, n_species)
    out = np.zeros((n, n_species))
    for m in range(1, n):
        d = positions[m:] - positions[:-m]
        out[m] = W @ np.einsum("kad,kad->a", d, d)
    return out


def collective(positions: np.ndarray, index: np.ndarray, n_species: int) -> np.ndarray:
    """X_i(t) = Σ_{α∈i} r_α(t): (n_frames, n_species, 3), Å."""
    return np.einsum("sa,fad->fsd", _onehot(index, n_species), positions, optimize=True)


# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------

def fit_slope(lags: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """Least-squares slope of ``curves`` (lags along axis 0) against ``lags``."""
    t = lags - lags.mean()
    y = curves - curves.mean(axis=0)
    return np.tensordot(t, y, axes=(0, 0)) / float(t @ t)


def choose_fit_window(lags_ps: np.ndarray, msd: np.ndarray, lag_range: int,
                      max_lag_fraction: float = 0.6, tolerance: float = 0.15,
                      default_fraction: tuple[float, float] = (0.1, 0.6),
                      min_extent: float = 3.0) -> tuple[tuple[float, float], str]:
    """Pick the diffusive window of a mean-squared-displacement curve.

    Only lags ``1..max_lag`` with ``max_lag = max_lag_fraction * lag_range`` are considered
    (``lag_range`` is the number of lags of one block; the tail beyond is too noisy). The log-log
    slope dlnM/dlnt is evaluated on ~60 log-spaced lags and smoothed over 3 points; the longest
    contiguous stretch (in log time) with |slope - 1| < ``tolerance`` that spans at least a
    factor ``min_extent`` in time and 4 grid points is the window. This excludes the ballistic
    start (slope 2) and caging plateaus (slope < 1). Without such a stretch the window is
    ``default_fraction`` of ``lag_range`` (10%-60% by default), at least 3 lags wide.

    Returns ``((t_start, t_end) in ps, source)`` with source ``"auto"`` or ``"default"``.
    """
    dt = float(lags_ps[1] - lags_ps[0])
    max_lag = max(3, int(max_lag_fraction * lag_range))
    grid = np.unique(np.round(np.logspace(0, math.log10(max_lag), 60)).astype(int))
    grid = grid[(grid >= 1) & (grid <= max_lag)]
    y = msd[grid]
    if grid.size >= 4 and np.all(np.isfinite(y)) and np.all(y > 0):
        lt, ly = np.log(lags_ps[grid]), np.log(y)
        slope = np.gradient(ly, lt)
        slope = np.convolve(np.pad(slope, 1, mode="edge"), np.ones(3) / 3, mode="valid")
        ok = np.abs(slope - 1.0) < tolerance
        best, best_ext = None, 0.0
        i = 0
        while i < ok.size:  # runs of True in a <= 60-point mask
            if ok[i]:
                j = i
                while j + 1 < ok.size and ok[j + 1]:
                    j += 1
                ext = lt[j] - lt[i]
                if j - i + 1 >= 4 and ext > best_ext:
                    best, best_ext = (i, j), ext
                i = j + 1
            else:
                i += 1
        if best is not None and best_ext >= math.log(min_extent):
            return (float(lags_ps[grid[best[0]]]), float(lags_ps[grid[best[1]]])), "auto"
    lo = max(1, int(round(default_fraction[0] * lag_range)))
    hi = min(max(lo + 2, int(round(default_fraction[1] * lag_range))), max(max_lag, lo + 2))
    return (float(lo * dt), float(hi * dt)), "default"


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------

@dataclass
class OnsagerResult:
    """Onsager matrix with error bars, fit window, units and the correlation curves.

    Attributes
    ----------
    species : species order of every axis.
    counts : atoms of each species.
    L, L_err : (n_species, n_species) Onsager coefficients and standard errors, 1/(eV·Å·ps).
    L_self, L_self_err : (n_species,) self part (α = β) of the diagonal, 1/(eV·Å·ps).
    L_distinct, L_distinct_err : (n_species,) distinct part (α ≠ β) of the diagonal.
    fit_window_ps : (start, end) lag times of the slope fit, ps.
    window_source : "user", "auto" (diffusive region found) or "default" (fallback fractions).
    window_species : the species whose diffusive stretch set an "auto" window (the slowest
        diffusive one), else "".
    diffusive : species → whether its self MSD is diffusive in the window (|slope − 1| within
        the tolerance, and for "auto"/"default" windows a diffusive stretch of its own).
    slope_in_window : species → d ln MSD_self / d ln t fitted over the window.
    status : "computed", or "computed_not_diffusive" when some species is not diffusive.
    confidence, dof, t_factor : the Student-t interval of the errors: ``L_ci`` = t_factor × L_err
        with t_factor = t(1 − (1 − confidence)/2, dof), dof = n_samples − 1 (normal for bootstrap).
    lags_ps : (n_lags,) lag times, ps.
    msd : (n_lags, n_species, n_species) ⟨ΣΔr_i · ΣΔr_j⟩ averaged over origins (and runs), Å².
    msd_self : (n_lags, n_species) Σ_{α∈i} ⟨|Δr_α|²⟩, Å².
    L_samples : (n_samples, n_species, n_species) per-block / per-run / bootstrap estimates.
    drift : the centre of mass's share of each L_ij in the lab frame (``L_com``, same units),
        its MSD at the window's end (Å²), the largest |L_com| / L_err, and whether it was removed.
    warnings : plain-language warnings (a drift worth more than 2σ of some L_ij, a species that is
        not diffusive, the fallback window, how long a run would need to be).
    """

    species: tuple[str, ...]
    counts: tuple[int, ...]
    L: np.ndarray
    L_err: np.ndarray
    L_self: np.ndarray
    L_self_err: np.ndarray
    L_distinct: np.ndarray
    L_distinct_err: np.ndarray
    fit_window_ps: tuple[float, float]
    window_source: str
    temperature_K: float
    volume_A3: float
    timestep_ps: float
    n_frames: int
    n_runs: int
    n_blocks: int
    error_method: str
    lags_ps: np.ndarray
    msd: np.ndarray
    msd_self: np.ndarray
    L_samples: np.ndarray
    method: str = "fft"
    units: dict = field(default_factory=lambda: dict(UNITS))
    label: str = ""
    meta: dict = field(default_factory=dict)
    drift: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    window_species: str = ""
    diffusive: dict = field(default_factory=dict)
    slope_in_window: dict = field(default_factory=dict)
    status: str = "computed"
    confidence: float = 0.95
    dof: float = float("nan")
    t_factor: float = float("nan")

    # ---- read helpers ------------------------------------------------------------------
    def index(self, species: str) -> int:
        try:
            return self.species.index(species)
        except ValueError:
            raise SeilabError(f"species: '{species}' not in {list(self.species)}") from None

    def coefficient(self, i: str, j: str) -> tuple[float, float]:
        """(L_ij, error) in 1/(eV·Å·ps)."""
        a, b = self.index(i), self.index(j)
        return float(self.L[a, b]), float(self.L_err[a, b])

    @property
    def L_ci(self) -> np.ndarray:
        """Half-width of the ``confidence`` Student-t interval of L: t_factor × L_err."""
        return self.t_factor * self.L_err

    @property
    def not_diffusive(self) -> list[str]:
        """Species whose self MSD is not diffusive in the fit window."""
        return [s for s in self.species if self.diffusive.get(s) is False]

    @property
    def D_self(self) -> np.ndarray:
        """Self-diffusion coefficient of each species, Å²/ps: L_self k_B T V / N_i (NaN for N_i = 0)."""
        n = np.asarray(self.counts, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, self.L_self * KB_EV_PER_K * self.temperature_K * self.volume_A3 / n, np.nan)

    @property
    def D_self_err(self) -> np.ndarray:
        """Standard error of :attr:`D_self`, Å²/ps."""
        n = np.asarray(self.counts, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, self.L_self_err * KB_EV_PER_K * self.temperature_K * self.volume_A3 / n, np.nan)

    def flags(self) -> dict[str, Any]:
        """What to distrust: ``{"species": {s: "not diffusive"}, "L": n×n strings}`` (``""``: fine).

        An L_ij is flagged when species i or j is not diffusive in the window; its D likewise."""
        bad = set(self.not_diffusive)
        return {"species": {s: "not diffusive" for s in self.species if s in bad},
                "L": [["not diffusive" if (a in bad or b in bad) else "" for b in self.species]
                      for a in self.species]}

    @property
    def L_SI(self) -> np.ndarray:
        """L in 1/(J·m·s)."""
        return self.L * L_TO_SI

    @property
    def L_molar_SI(self) -> np.ndarray:
        """L in mol/(J·m·s)."""
        return self.L * L_TO_MOLAR_SI

    @property
    def composition(self) -> dict[str, float]:
        """Atomic fraction of each species."""
        tot = float(sum(self.counts))
        return {s: c / tot for s, c in zip(self.species, self.counts)}

    @property
    def system(self) -> str:
        """Compositional system, e.g. ``"Li-P-S"`` (species present, in result order)."""
        return "-".join(s for s, c in zip(self.species, self.counts) if c > 0)

    # ---- (de)serialisation ---------------------------------------------------------------
    def to_dict(self, curve_points: int | None = 400) -> dict[str, Any]:
        """JSON-ready dict. Curves are thinned to ~``curve_points`` log-spaced lags (None: all)."""
        n = self.lags_ps.size
        if curve_points is None or n <= curve_points:
            keep = np.arange(n)
        else:
            keep = np.unique(np.concatenate([[0], np.round(np.logspace(0, math.log10(n - 1),
                                                                        curve_points)).astype(int)]))
        return {
            "species": list(self.species),
            "counts": list(self.counts),
            "L": self.L.tolist(),
            "L_err": self.L_err.tolist(),
            "L_self": self.L_self.tolist(),
            "L_self_err": self.L_self_err.tolist(),
            "L_distinct": self.L_distinct.tolist(),
            "L_distinct_err": self.L_distinct_err.tolist(),
            "L_SI": self.L_SI.tolist(),
            "L_molar_SI": self.L_molar_SI.tolist(),
            "status": self.status,
            "fit_window_ps": list(self.fit_window_ps),
            "window_source": self.window_source,
            "window_species": self.window_species,
            "diffusive": dict(self.diffusive),
            "slope_in_window": dict(self.slope_in_window),
            "flags": self.flags(),
            "D_self": self.D_self.tolist(),
            "D_self_err": self.D_self_err.tolist(),
            "confidence": self.confidence,
            "dof": self.dof,
            "t_factor": self.t_factor,
            "L_ci": self.L_ci.tolist(),
            "temperature_K": self.temperature_K,
            "volume_A3": self.volume_A3,
            "timestep_ps": self.timestep_ps,
            "n_frames": self.n_frames,
            "n_runs": self.n_runs,
            "n_blocks": self.n_blocks,
            "error_method": self.error_method,
            "method": self.method,
            "units": dict(self.units),
            "label": self.label,
            "meta": dict(self.meta),
            "drift": dict(self.drift),
            "warnings": list(self.warnings),
            "curves": {
                "lags_ps": self.lags_ps[keep].tolist(),
                "msd": self.msd[keep].tolist(),
                "msd_self": self.msd_self[keep].tolist(),
            },
            "L_samples": self.L_samples.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "OnsagerResult":
        """Inverse of :meth:`to_dict` (curves come back thinned)."""
        try:
            arr = lambda k: np.array(d[k], dtype=float)  # noqa: E731
            c = d["curves"]
            return cls(
                species=tuple(d["species"]), counts=tuple(int(x) for x in d["counts"]),
                L=arr("L"), L_err=arr("L_err"), L_self=arr("L_self"), L_self_err=arr("L_self_err"),
                L_distinct=arr("L_distinct"), L_distinct_err=arr("L_distinct_err"),
                fit_window_ps=tuple(d["fit_window_ps"]), window_source=d["window_source"],
                temperature_K=float(d["temperature_K"]), volume_A3=float(d["volume_A3"]),
                timestep_ps=float(d["timestep_ps"]), n_frames=int(d["n_frames"]),
                n_runs=int(d["n_runs"]), n_blocks=int(d["n_blocks"]),
                error_method=d["error_method"],
                lags_ps=np.array(c["lags_ps"], dtype=float), msd=np.array(c["msd"], dtype=float),
                msd_self=np.array(c["msd_self"], dtype=float),
                L_samples=np.array(d.get("L_samples", []), dtype=float),
                method=d.get("method", "fft"), units=dict(d.get("units", UNITS)),
                label=d.get("label", ""), meta=dict(d.get("meta", {})), drift=dict(d.get("drift", {})),
                warnings=list(d.get("warnings", [])),
                window_species=str(d.get("window_species", "")),
                diffusive={str(k): bool(v) for k, v in (d.get("diffusive") or {}).items()},
                slope_in_window={str(k): (float(v) if v is not None else float("nan"))
                                 for k, v in (d.get("slope_in_window") or {}).items()},
                status=str(d.get("status", "computed")), confidence=float(d.get("confidence", 0.95)),
                dof=float(d["dof"]) if d.get("dof") is not None else float("nan"),
                t_factor=float(d["t_factor"]) if d.get("t_factor") is not None else float("nan"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SeilabError(f"onsager result: missing or bad field ({exc})") from None

    def summary(self) -> str:
        """A small text table of L ± err (1σ standard error), D_self, and what is not diffusive."""
        w = max(len(s) for s in self.species)
        src = self.window_source + (f", on {self.window_species}" if self.window_species else "")
        lines = [f"L [{L_UNIT}], T = {self.temperature_K:g} K, V = {self.volume_A3:.1f} A^3, "
                 f"fit {self.fit_window_ps[0]:.4g}-{self.fit_window_ps[1]:.4g} ps ({src})"
                 + (f", {'barycentric' if self.drift['removed'] else 'lab'} frame" if "removed" in self.drift else "")
                 + f", status {self.status}"]
        if math.isfinite(self.t_factor):
            lines.append(f"errors: 1 sigma standard errors of {self.n_samples} samples ({self.error_method}); "
                         f"{100 * self.confidence:g} % interval = {self.t_factor:.3g} x error "
                         + (f"(Student t, {self.dof:g} dof)" if math.isfinite(self.dof) else "(normal)"))
        bad = set(self.not_diffusive)
        D, De = self.D_self, self.D_self_err
        for a, si in enumerate(self.species):
            row = "  ".join(f"{self.L[a, b]: .3e}±{self.L_err[a, b]:.1e}" for b in range(len(self.species)))
            slope = self.slope_in_window.get(si)
            extra = f"  D_self {D[a]:.3e}±{De[a]:.1e} A^2/ps" if np.isfinite(D[a]) else ""
            extra += f", slope {slope:.2f}" if slope is not None and math.isfinite(slope) else ""
            lines.append(f"{si:>{w}}  {row}{extra}" + ("  [not diffusive]" if si in bad else ""))
        return "\n".join(lines)

    @property
    def n_samples(self) -> int:
        return int(self.L_samples.shape[0]) if self.L_samples.ndim == 3 else 0


# --------------------------------------------------------------------------------------------
# Estimator
# --------------------------------------------------------------------------------------------

@dataclass
class _Segment:
    """Per-segment (run or block) sums over origins, up to ``n`` lags."""

    cross: np.ndarray   # (n, S, S)
    self_: np.ndarray   # (n, S)
    n: int

    def counts(self, n_lags: int) -> np.ndarray:
        m = np.arange(n_lags)
        return np.clip(self.n - m, 0, None).astype(float)


def _pool(segments: Sequence[_Segment], n_lags: int) -> tuple[np.ndarray, np.ndarray]:
    s = segments[0].cross.shape[1]
    cross = np.zeros((n_lags, s, s))
    self_ = np.zeros((n_lags, s))
    cnt = np.zeros(n_lags)
    for seg in segments:
        k = min(n_lags, seg.n)
        cross[:k] += seg.cross[:k]
        self_[:k] += seg.self_[:k]
        cnt += seg.counts(n_lags)
    with np.errstate(invalid="ignore", divide="ignore"):
        return cross / cnt[:, None, None], self_ / cnt[:, None]


class Onsager:
    """Onsager-coefficient estimator (configure → compute → read).

    Parameters
    ----------
    n_blocks : contiguous time blocks per run for the error bars (1: no block errors).
    fit_window : (start, end) lag time in ps of the slope fit; ``None``: chosen automatically
        by :func:`choose_fit_window` on each species' self MSD (Σ_{α∈i} ⟨|Δr_α|²⟩, far less
        noisy than the collective terms), taking the window of the slowest species that is
        diffusive (see the module docstring). The window, user or automatic, must fit inside one
        block; the same window is used for the whole trajectory and for every block. Every
        species' diffusive slope is checked in it either way.
    slope_tolerance : |dlnM/dlnt - 1| accepted as diffusive (window choice and the per-species check).
    confidence : level of the Student-t intervals ``L_ci`` (n_samples − 1 degrees of freedom).
    max_lag_fraction : lags beyond this fraction of a block are never used (noisy tail).
    default_window_fraction : fallback window as fractions of the usable lag range.
    error_method : "blocks", "runs" or "bootstrap" (the last two need several runs).
    n_bootstrap : bootstrap resamples.
    remove_drift : subtract the (mass-weighted) centre-of-mass displacement of the whole cell
        from every atom first (barycentric frame; the default). A drifting centre of mass (a
        Langevin thermostat without momentum zeroing, a barostat) adds N_i N_j ⟨ΔR_cm²⟩/(6 k_B T V t)
        to every L_ij in the lab frame. Either way the result's ``drift`` records that
        contribution, and ``warnings`` says when it exceeds twice an L_ij's error bar.
    method : "fft" (O(N log N)) or "direct" (O(N²) loop over lags, for checking).
    species_order : order of the species axes (default: sorted labels).
    seed : random seed of the bootstrap.
    """

    def __init__(self, n_blocks: int = 5, fit_window: tuple[float, float] | None = None,
                 slope_tolerance: float = 0.15, max_lag_fraction: float = 0.6,
                 default_window_fraction: tuple[float, float] = (0.1, 0.6),
                 error_method: ErrorMethod = "blocks", n_bootstrap: int = 500,
                 remove_drift: bool = True, method: Method = "fft",
                 species_order: Sequence[str] | None = None, seed: int = 0, confidence: float = 0.95):
        if int(n_blocks) < 1:
            raise SeilabError(f"n_blocks: must be >= 1, got {n_blocks}")
        if fit_window is not None:
            fit_window = tuple(float(x) for x in fit_window)
            if len(fit_window) != 2 or not (0 <= fit_window[0] < fit_window[1]):
                raise SeilabError(f"fit_window: need 0 <= start < end (ps), got {fit_window}")
        if not 0 < max_lag_fraction <= 1:
            raise SeilabError(f"max_lag_fraction: must be in (0, 1], got {max_lag_fraction}")
        if not 0 < slope_tolerance < 1:
            raise SeilabError(f"slope_tolerance: must be in (0, 1), got {slope_tolerance}")
        if error_method not in ("blocks", "runs", "bootstrap"):
            raise SeilabError(f"error_method: must be blocks, runs or bootstrap, got {error_method!r}")
        if method not in ("fft", "direct"):
            raise SeilabError(f"method: must be 'fft' or 'direct', got {method!r}")
        if not 0 < confidence < 1:
            raise SeilabError(f"confidence: must be in (0, 1), got {confidence}")
        self.confidence = float(confidence)
        self.n_blocks = int(n_blocks)
        self.fit_window = fit_window
        self.slope_tolerance = float(slope_tolerance)
        self.max_lag_fraction = float(max_lag_fraction)
        self.default_window_fraction = tuple(default_window_fraction)
        self.error_method = error_method
        self.n_bootstrap = int(n_bootstrap)
        self.remove_drift = bool(remove_drift)
        self.method = method
        self.species_order = tuple(species_order) if species_order is not None else None
        self.seed = int(seed)
        self._result: OnsagerResult | None = None

    # ---- read -----------------------------------------------------------------------------
    @property
    def result(self) -> OnsagerResult:
        if self._result is None:
            raise SeilabError("Onsager: call compute() before reading the result")
        return self._result

    @property
    def L(self) -> np.ndarray:
        return self.result.L

    @property
    def L_err(self) -> np.ndarray:
        return self.result.L_err

    # ---- compute --------------------------------------------------------------------------
    def compute(self, positions: np.ndarray | Sequence[np.ndarray], species: Sequence[str],
                timestep_ps: float, volume_A3: float, temperature_K: float,
                masses: Sequence[float] | None = None, label: str = "",
                meta: dict | None = None) -> "Onsager":
        """Estimate L from one trajectory or a list of independent runs.

        Parameters
        ----------
        positions : (n_frames, n_atoms, 3) **unwrapped** positions in Å, or a list of such
            arrays (independent runs of the same atoms; frame counts may differ).
        species : label of every atom (length n_atoms).
        timestep_ps : time between frames, ps.
        volume_A3 : cell volume, Å³.
        temperature_K : temperature, K.
        masses : per-atom masses (amu) for ``remove_drift``; default from the labels when they
            are chemical symbols, else equal.
        """
        runs = _validate(positions, species, timestep_ps, volume_A3, temperature_K)
        labels = np.asarray([str(s) for s in species])
        order = self.species_order or tuple(sorted(set(labels.tolist())))
        missing = sorted(set(labels.tolist()) - set(order))
        if missing:
            raise SeilabError(f"species_order: labels {missing} present in the trajectory but not in the order")
        index = np.array([order.index(s) for s in labels])
        n_sp = len(order)
        counts = tuple(int(np.sum(index == k)) for k in range(n_sp))
        w = _drift_weights(labels, masses)
        com_runs = [np.einsum("a,fad->fd", w, r)[:, None, :] for r in runs]   # (n_frames, 1, 3) each
        if self.remove_drift:
            runs = [r - c for r, c in zip(runs, com_runs)]

        n_min = min(r.shape[0] for r in runs)
        if self.error_method == "blocks":
            block_len = n_min // self.n_blocks
            if block_len < 4:
                raise SeilabError(f"n_blocks: {self.n_blocks} blocks leave {block_len} frames per block "
                                  f"(need >= 4; the shortest run has {n_min} frames)")
        else:
            if len(runs) < 2:
                raise SeilabError(f"error_method: '{self.error_method}' needs at least 2 runs, got {len(runs)}")
            block_len = n_min
        max_lag = max(3, int(self.max_lag_fraction * (block_len - 1)))
        dt = float(timestep_ps)

        kernel_x = cross_sums_fft if self.method == "fft" else cross_sums_direct
        kernel_s = self_sums_fft if self.method == "fft" else self_sums_direct

        def segment(p: np.ndarray) -> _Segment:
            return _Segment(kernel_x(collective(p, index, n_sp)), kernel_s(p, index, n_sp), p.shape[0])

        full = [segment(r) for r in runs]
        n_lags = max(r.shape[0] for r in runs)
        lags = np.arange(n_lags) * dt
        msd, msd_self = _pool(full, n_lags)

        # fit window (lag times, ps), always inside one block's usable range
        if self.fit_window is not None:
            window, source = self.fit_window, "user"
            if window[1] > max_lag * dt * (1 + 1e-9):
                raise SeilabError(
                    f"fit_window: end {window[1]:g} ps is beyond the usable lag range {max_lag * dt:g} ps "
                    f"({self.max_lag_fraction:g} of a {block_len}-frame block at {dt:g} ps per frame)")
        present = [k for k in range(n_sp) if counts[k] > 0]
        own = {k: choose_fit_window(lags, msd_self[:, k], block_len - 1, self.max_lag_fraction,
                                    self.slope_tolerance, self.default_window_fraction) for k in present}
        window_species = ""
        if self.fit_window is None:
            diffusive_own = [k for k in present if own[k][1] == "auto"]
            if diffusive_own:
                # the slowest diffusive species (smallest self D in its own window) sets the window
                def d_self(k):
                    w = own[k][0]
                    i = np.nonzero((lags >= w[0] - 1e-9 * dt) & (lags <= w[1] + 1e-9 * dt))[0]
                    return float(fit_slope(lags[i], msd_self[i, k])) / counts[k]
                slowest = min(diffusive_own, key=d_self)
                window, source, window_species = own[slowest][0], "auto", order[slowest]
            else:
                window, source = own[present[0]][0] if present else (dt, 3 * dt), "default"
        sel = np.nonzero((lags >= window[0] - 1e-9 * dt) & (lags <= window[1] + 1e-9 * dt)
                         & (np.arange(n_lags) >= 1))[0]
        if sel.size < 3:
            raise SeilabError(f"fit_window: {window[0]:g}-{window[1]:g} ps holds {sel.size} lags at "
                              f"{dt:g} ps per frame (need >= 3)")
        pref = 1.0 / (6.0 * KB_EV_PER_K * float(volume_A3) * float(temperature_K))

        # the diffusive check, per species, in the window used
        slopes, diffusive = {}, {}
        lt = np.log(lags[sel])
        for k in present:
            y = msd_self[sel, k]
            slope = float(np.polyfit(lt, np.log(y), 1)[0]) if np.all(y > 0) else float("nan")
            slopes[order[k]] = slope
            diffusive[order[k]] = bool(math.isfinite(slope) and abs(slope - 1.0) < self.slope_tolerance
                                       and (source == "user" or own[k][1] == "auto"))

        def estimate(cross: np.ndarray, self_: np.ndarray):
            L = pref * fit_slope(lags[sel], cross[sel])
            Ls = pref * fit_slope(lags[sel], self_[sel])
            return L, Ls, np.diagonal(L) - Ls

        L, L_self, L_dist = estimate(msd, msd_self)

        # the centre of mass's share of every L_ij in the lab frame, N_i N_j <|dR_cm|^2> / (6 kT V t)
        one = np.zeros(1, dtype=int)
        _, com_msd = _pool([_Segment(np.zeros((c.shape[0], 1, 1)), kernel_s(c, one, 1), c.shape[0])
                            for c in com_runs], n_lags)
        n_i = np.asarray(counts, dtype=float)
        L_com = pref * float(fit_slope(lags[sel], com_msd[sel, 0])) * np.outer(n_i, n_i)

        # samples for the error bars
        samples = []
        if self.error_method == "blocks":
            for r in runs:
                for blk in np.array_split(r, self.n_blocks, axis=0):
                    cb, sb = _pool([segment(blk)], n_lags)
                    samples.append(estimate(cb, sb))
        elif self.error_method == "runs":
            for seg in full:
                samples.append(estimate(*_pool([seg], n_lags)))
        else:
            rng = np.random.default_rng(self.seed)
            for _ in range(self.n_bootstrap):
                pick = rng.integers(0, len(full), size=len(full))
                samples.append(estimate(*_pool([full[i] for i in pick], n_lags)))
        S_L = np.array([s[0] for s in samples])
        S_self = np.array([s[1] for s in samples])
        S_dist = np.array([s[2] for s in samples])
        n_s = len(samples)
        if self.error_method == "bootstrap":
            err = lambda a: a.std(axis=0, ddof=1)  # noqa: E731
        elif n_s >= 2:
            err = lambda a: a.std(axis=0, ddof=1) / math.sqrt(n_s)  # noqa: E731
        else:
            err = lambda a: np.full(a.shape[1:], np.nan)  # noqa: E731

        L_err = err(S_L)
        with np.errstate(invalid="ignore", divide="ignore"):
            sigmas = np.abs(L_com) / L_err
        worst = float(np.nanmax(sigmas)) if np.any(np.isfinite(sigmas)) else float("nan")
        drift = {"removed": self.remove_drift, "com_msd_end_A2": float(com_msd[sel[-1], 0]),
                 "L_com": L_com.tolist(), "max_L_com_over_L_err": worst}
        warnings = []
        if np.isfinite(worst) and worst > 2:
            a, b = np.unravel_index(int(np.nanargmax(sigmas)), sigmas.shape)
            what = (f"removed (barycentric frame); kept, it would have changed L_{order[a]}{order[b]} by {worst:.1f} sigma"
                    if self.remove_drift else f"NOT removed: it adds {worst:.1f} sigma to L_{order[a]}{order[b]} "
                                              "(remove_drift=True gives the barycentric frame)")
            warnings.append(f"centre-of-mass drift: MSD {drift['com_msd_end_A2']:.3g} A^2 at {window[1]:g} ps; {what}")
        if source == "default":
            warnings.append(f"no species is diffusive (|dlnMSD/dlnt - 1| < {self.slope_tolerance:g} over a factor 3 "
                            f"in time) within a {block_len}-frame block: the fallback window "
                            f"{window[0]:g}-{window[1]:g} ps ({self.default_window_fraction[0]:g}-"
                            f"{self.default_window_fraction[1]:g} of a block) is used and L is not a diffusive "
                            "coefficient there")
        bad = [order[k] for k in present if not diffusive[order[k]]]
        if bad:
            warnings.append("not diffusive in the fit window " f"{window[0]:g}-{window[1]:g} ps: "
                            + ", ".join(f"{s} (log-log slope {slopes[s]:.2f})" for s in bad)
                            + "; their L_ij and D are not transport coefficients")
        run_ps = (n_min - 1) * dt
        block_ps = (block_len - 1) * dt
        n_b = self.n_blocks if self.error_method == "blocks" else 1
        for k in present:
            if diffusive[order[k]] and own[k][1] == "auto":
                continue
            # where does this species become diffusive over the whole run (not only one block)?
            (w_full, src_full) = choose_fit_window(lags, msd_self[:, k], n_min - 1, self.max_lag_fraction,
                                                   self.slope_tolerance, self.default_window_fraction)
            if src_full == "auto":
                onset, bound = w_full[0], ""
            else:
                onset, bound = self.max_lag_fraction * run_ps, "at least "
            need_block = 3.0 * onset / self.max_lag_fraction
            need_run = n_b * need_block
            if need_block <= block_ps and src_full == "auto":
                continue
            where = (f"becomes diffusive at a lag of {onset:.3g} ps over the whole run" if src_full == "auto" else
                     f"is not diffusive up to a lag of {onset:.3g} ps ({self.max_lag_fraction:g} of the whole run)")
            warnings.append(
                f"run length: {order[k]} {where}; a window "
                f"spanning a factor 3 from there needs blocks of {bound}{need_block:.3g} ps "
                f"(lags up to {self.max_lag_fraction:g} of a block), i.e. {'runs' if n_b == 1 else 'a run'} of "
                f"{bound}{need_run:.3g} ps{f' for {n_b} blocks' if n_b > 1 else ''} "
                f"(now {run_ps:.3g} ps, blocks of {block_ps:.3g} ps)")
        status = "computed" if not bad else "computed_not_diffusive"
        from scipy import stats

        if n_s >= 2 and self.error_method != "bootstrap":
            dof = float(n_s - 1)
            t_factor = float(stats.t.ppf(0.5 + self.confidence / 2, dof))
        elif n_s >= 2:
            dof, t_factor = float("inf"), float(stats.norm.ppf(0.5 + self.confidence / 2))
        else:
            dof, t_factor = float("nan"), float("nan")
        self._result = OnsagerResult(
            species=tuple(order), counts=counts, L=L, L_err=L_err, L_self=L_self,
            L_self_err=err(S_self), L_distinct=L_dist, L_distinct_err=err(S_dist),
            fit_window_ps=(float(window[0]), float(window[1])), window_source=source,
            temperature_K=float(temperature_K), volume_A3=float(volume_A3), timestep_ps=dt,
            n_frames=int(sum(r.shape[0] for r in runs)), n_runs=len(runs),
            n_blocks=self.n_blocks if self.error_method == "blocks" else 1,
            error_method=self.error_method, lags_ps=lags, msd=msd, msd_self=msd_self,
            L_samples=S_L, method=self.method, label=label, meta=dict(meta or {}), drift=drift,
            warnings=warnings, window_species=window_species, diffusive=diffusive,
            slope_in_window=slopes, status=status, confidence=self.confidence, dof=dof,
            t_factor=t_factor,
        )
        return self


def onsager_coefficients(positions, species: Sequence[str], timestep_ps: float, volume_A3: float,
                         temperature_K: float, *, masses=None, label: str = "", meta: dict | None = None,
                         **options) -> OnsagerResult:
    """One-call form: ``Onsager(**options).compute(...).result``. See :class:`Onsager`."""
    return Onsager(**options).compute(positions, species, timestep_ps, volume_A3, temperature_K,
                                      masses=masses, label=label, meta=meta).result


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

def _validate(positions, species, timestep_ps, volume_A3, temperature_K) -> list[np.ndarray]:
    for name, v in (("temperature_K", temperature_K), ("timestep_ps", timestep_ps), ("volume_A3", volume_A3)):
        try:
            ok = math.isfinite(float(v)) and float(v) > 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise SeilabError(f"{name}: must be a positive finite number, got {v!r}")
    if isinstance(positions, np.ndarray) and positions.ndim == 3:
        runs = [positions]
    elif isinstance(positions, (list, tuple)) and positions and not np.isscalar(positions[0]) \
            and np.ndim(positions[0]) == 3:
        runs = list(positions)
    else:
        runs = [np.asarray(positions, dtype=float)]
    try:
        species = list(species)
    except TypeError:
        raise SeilabError("species: expected one label per atom") from None
    out = []
    for k, r in enumerate(runs):
        tag = "positions" if len(runs) == 1 else f"positions[{k}]"
        try:
            r = np.asarray(r, dtype=float)
        except (TypeError, ValueError):
            raise SeilabError(f"{tag}: not a numeric array") from None
        if r.ndim != 3 or r.shape[2] != 3:
            raise SeilabError(f"{tag}: expected shape (n_frames, n_atoms, 3), got {r.shape}")
        if r.shape[1] != len(species):
            raise SeilabError(f"species: {len(species)} labels for {r.shape[1]} atoms in {tag}")
        if r.shape[0] < MIN_FRAMES:
            raise SeilabError(f"{tag}: {r.shape[0]} frame{'s' if r.shape[0] != 1 else ''}, the Onsager estimator "
                              f"needs at least {MIN_FRAMES} (a longer run)")
        if not np.all(np.isfinite(r)):
            raise SeilabError(f"{tag}: contains NaN or infinite values")
        out.append(r)
    return out


def _drift_weights(labels: np.ndarray, masses) -> np.ndarray:
    if masses is not None:
        m = np.asarray(masses, dtype=float)
        if m.shape != labels.shape or np.any(m <= 0):
            raise SeilabError(f"masses: expected {labels.size} positive values, got shape {m.shape}")
    else:
        try:
            from ase.data import atomic_masses, atomic_numbers

            m = np.array([atomic_masses[atomic_numbers[s]] for s in labels])
        except (ImportError, KeyError):
            m = np.ones(labels.size)
    return m / m.sum()


def species_counts(species: Iterable[str]) -> dict[str, int]:
    """Number of atoms per label."""
    u, c = np.unique(np.asarray(list(species)), return_counts=True)
    return {str(a): int(b) for a, b in zip(u, c)}
