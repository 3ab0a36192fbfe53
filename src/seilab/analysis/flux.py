"""Net ionic flux per species across the initial interface plane (paper Figure 7).

For every atom, the number of times it has crossed the plane (net, signed) since the first frame
follows from its *unwrapped* fractional coordinate u along the normal:
``k(t) = floor(u(t) − s0)`` (periodic normal; the plane's periodic images are the same plane)
or ``[u(t) > s0]`` (non-periodic normal), and net crossings = direction · (k(t) − k(0)).
Summed per species and divided by the interface area this is the cumulative net transfer
(atoms nm⁻², positive toward the metal); its time derivative between analysed frames is the flux
(atoms nm⁻² ps⁻¹). Working in fractional coordinates keeps this exact in NpT, where the plane
moves affinely with the box.

A periodic sandwich has two interfaces (:class:`~seilab.analysis.interface.InterfaceReference`
with ``s1``): the crossings of both planes are counted, each toward its own metal side, and the
sum is divided by the area of both (2A): the flux per unit area of one interface, averaged over
the two. An atom that crosses the whole metal (into it at one plane, out at the other) adds
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from seilab.analysis.interface import InterfaceReference
from seilab.analysis.trajectory import Frame
from seilab.errors import SeilabError

__all__ = ["IonicFlux"]

A2_PER_NM2 = 100.0


@dataclass
class IonicFlux:
    """Configure with the interface and species, ``compute(frame)`` per frame, then read arrays.

    Read: ``times_ps`` (n_frames,), ``net_crossings`` (n_frames, n_species) atoms, summed over the
    planes, ``net_per_area`` (atoms nm⁻², per area of one interface: divided by ``n_planes`` × A),
    ``flux_times_ps`` / ``flux`` (atoms nm⁻² ps⁻¹, at midpoints).
    """

    reference: InterfaceReference
    species: list[str]
    _k0: np.ndarray | None = None
    _codes: np.ndarray | None = None
    _ids: np.ndarray | None = None
    times: list = field(default_factory=list)
    crossings: list = field(default_factory=list)
    areas: list = field(default_factory=list)

    def _k(self, frame: Frame) -> np.ndarray:
        """Per plane and atom, which side of the plane (and which periodic image) the atom is on."""
        if frame.unwrapped is None:
            raise SeilabError(f"flux: frame {frame.index} has no unwrapped coordinates")
        u = frame.scaled(unwrapped=True)[:, self.reference.normal_axis]
        ks = []
        for s_plane, _ in self.reference.planes:
            if self.reference.periodic:
                ks.append(np.floor(u - s_plane).astype(np.int64))
            else:
                ks.append((u - s_plane > 0).astype(np.int64))
        return np.stack(ks)

    @property
    def n_planes(self) -> int:
        return len(self.reference.planes)

    def begin(self, frame: Frame) -> None:
        """Fix the reference: which side of each plane every atom of ``frame`` (the first) is on."""
        self._k0 = self._k(frame)
        self._ids = frame.ids.copy()
        lookup = {s: i for i, s in enumerate(self.species)}
        self._codes = np.array([lookup.get(s, -1) for s in np.unique(frame.symbols)])[
            np.unique(frame.symbols, return_inverse=True)[1]
        ]

    def frame_crossings(self, frame: Frame) -> tuple[np.ndarray, float]:
        """(net crossings per species toward the metal since the reference frame, planes × area in Å²)
        of ``frame``; reads only the reference and stores nothing (the per-frame part of :meth:`compute`)."""
        if self._k0 is None:
            raise SeilabError("flux: no reference frame (call begin(first_frame) first)")
        if frame.ids.shape != self._ids.shape or not np.array_equal(frame.ids, self._ids):
            raise SeilabError(f"flux: atom ids of frame {frame.index} differ from the first frame")
        directions = np.array([d for _, d in self.reference.planes])[:, None]
        dk = ((self._k(frame) - self._k0) * directions).sum(axis=0)
        ok = self._codes >= 0
        net = np.bincount(self._codes[ok], weights=dk[ok], minlength=len(self.species))
        return net, self.reference.area(frame) * self.n_planes

    def add(self, time_ps: float, net: np.ndarray, area_A2: float) -> None:
        """Append one frame's :meth:`frame_crossings` (frames in time order)."""
        self.times.append(time_ps)
        self.crossings.append(net)
        self.areas.append(area_A2)

    def compute(self, frame: Frame) -> np.ndarray:
        """Net crossings per species (toward the metal) since the first frame given; returns them."""
        if self._k0 is None:
            self.begin(frame)
        net, area = self.frame_crossings(frame)
        self.add(frame.time_ps, net, area)
        return net

    @property
    def times_ps(self) -> np.ndarray:
        return np.asarray(self.times, float)

    @property
    def net_crossings(self) -> np.ndarray:
        return np.asarray(self.crossings, float).reshape(-1, len(self.species))

    @property
    def net_per_area(self) -> np.ndarray:
        """Cumulative net transfer (atoms nm⁻²) toward the metal."""
        return self.net_crossings / (np.asarray(self.areas)[:, None] / A2_PER_NM2)

    @property
    def flux_times_ps(self) -> np.ndarray:
        t = self.times_ps
        return 0.5 * (t[1:] + t[:-1])

    @property
    def flux(self) -> np.ndarray:
        """Flux (atoms nm⁻² ps⁻¹) between consecutive analysed frames, positive toward the metal."""
        t = self.times_ps
        if t.size < 2:
            return np.zeros((0, len(self.species)))
        dt = np.diff(t)
        dt[dt == 0] = np.nan
        return np.diff(self.net_per_area, axis=0) / dt[:, None]

    def to_dict(self) -> dict:
        return {
            "species": self.species,
            "sign_convention": "positive toward the metal",
            "planes": self.n_planes,
            "area_convention": "per area of one interface: crossings of all planes / (planes x area)",
            "times_ps": self.times_ps,
            "net_crossings": {s: self.net_crossings[:, k] for k, s in enumerate(self.species)},
            "net_per_area_per_nm2": {s: self.net_per_area[:, k] for k, s in enumerate(self.species)},
            "flux_times_ps": self.flux_times_ps,
            "flux_per_nm2_per_ps": {s: self.flux[:, k] for k, s in enumerate(self.species)},
        }
