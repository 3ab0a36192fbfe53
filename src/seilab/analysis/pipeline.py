"""One streaming pass over a trajectory: profiles, growth, flux, coordination, phases, crystals.

``InterphaseAnalysis`` is configure → ``update(frame)`` per frame → ``finish()``; only per-frame
aggregates (bin profiles, counts) are kept, plus the first frame's crossing indices for the flux
(one integer per atom), the last structure frame for the layer sequence / layer RDFs, and the per-atom
phase labels of the first and last analysed frames (each atom takes the phase of its z bin).
The z bins are fixed by the first frame (±half its cell height for a periodic normal); in NpT
runs atoms that move beyond that range are left out of the profiles.
:func:`analyze_trajectory` drives it from a file and writes ``analysis.json`` (with provenance) and
the figures; with ``workers > 1`` (or a cluster) the same per-frame function runs on a Dask cluster
(:mod:`seilab.analysis.parallel`) and the results are added in frame order.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from seilab.analysis.coordination import CoordinationProfile, auto_cutoffs, split_pair
from seilab.analysis.flux import IonicFlux
from seilab.analysis.growth import GrowthResult, fit_two_regimes, interphase_boundaries, parent_compositions
from seilab.analysis.interface import InterfaceReference, ZBins, composition_profile, find_interface
from seilab.analysis.nanocrystals import Nanocrystals
from seilab.analysis.neighbors import NeighborSearch
from seilab.analysis.phases import (
    PhaseClassifier,
    atom_phase_labels,
    encode_atom_phases,
    label_atoms_local,
    layer_rdfs,
    layer_sequence,
    lip_clusters,
)
from seilab.settings.analysis import AnalysisSettings
from seilab.analysis.trajectory import Frame, TrajectoryReader
from seilab.errors import SeilabError

__all__ = ["InterphaseAnalysis", "AnalysisResult", "FrameResult", "StructureResult", "analyze_frames", "analyze_trajectory",
           "MIN_FRAMES"]

#: analysed frames a trajectory needs: growth and flux are time series (one frame has no change)
MIN_FRAMES = 2


@dataclass
class AnalysisResult:
    """Everything one pass produced (numpy arrays; ``to_dict`` makes it JSON-ready).

    Units: z and lengths Å, time ps, flux atoms nm⁻² ps⁻¹, z positive toward the metal.
    """

    species: list[str]
    n_atoms: int
    times_ps: np.ndarray
    interface: InterfaceReference
    bin_edges_A: np.ndarray
    composition_counts: np.ndarray  # (n_frames, n_species, n_bins)
    growth: GrowthResult
    flux: IonicFlux
    cutoffs_A: dict
    cutoff_sources: dict
    structure_times_ps: np.ndarray
    coordination_times_ps: np.ndarray  # centres of the coordination time windows
    coordination: dict  # pair -> (n_windows, n_bins), mean CN per bin
    coordination_centres: dict  # pair -> (n_windows, n_bins), centre atoms counted per bin (site presence)
    phase_names: list[str]
    phase_labels: np.ndarray  # (n_structure_frames, n_bins), -1 = vacuum
    layers: list  # Layer, metal first (last structure frame)
    lip_clusters: list  # LiPClusters per structure frame
    layer_rdfs: dict
    nanocrystals: list  # NanocrystalFrame per structure frame
    local_phase_fractions: list = field(default_factory=list)
    #: first and last analysed frames: {"frame", "step", "time_ps", "symbols", "labels"}; ``labels`` per atom
    #: (atom-id order) = the phase label of the atom's z bin, VACUUM for a sparse bin, UNBINNED in no bin
    atom_phases: list = field(default_factory=list)
    trajectory: str | None = None
    unwrap_method: str | None = None
    notes: list = field(default_factory=list)
    #: True when a truncated last frame was dropped (``partial=True``); ``partial_reason`` says why
    partial: bool = False
    partial_reason: str | None = None
    #: whether the potential that made the trajectory passed validation (set by the campaign's analysis
    #: stage from ``simulation/latest.json``; None: not known, e.g. ``seilab analyze`` on a dump)
    validated: bool | None = None

    @property
    def bin_centers_A(self) -> np.ndarray:
        return 0.5 * (self.bin_edges_A[1:] + self.bin_edges_A[:-1])

    @property
    def layer_names(self) -> list[str]:
        return [L.phase for L in self.layers]

    def composition_fractions(self) -> np.ndarray:
        n = self.composition_counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, self.composition_counts / np.maximum(n, 1), np.nan)

    def summary(self) -> dict:
        """The headline numbers, JSON-ready (NaN: None); ``validated`` only when it is known."""
        g = self.growth
        fit = g.fit_total
        last_nc = self.nanocrystals[-1] if self.nanocrystals else None
        clus = self.lip_clusters[-1] if self.lip_clusters else None
        known = {} if self.validated is None else {"validated": self.validated}
        return _clean({
            "n_frames": int(self.times_ps.size),
            "n_atoms": self.n_atoms,
            "time_range_ps": [float(self.times_ps.min()), float(self.times_ps.max())] if self.times_ps.size else None,
            "final_thickness_A": float(g.thickness_A[-1]) if g.thickness_A.size else None,
            "final_growth_metal_A": float(g.growth_metal_A[-1]) if g.growth_metal_A.size else None,
            "final_growth_electrolyte_A": float(g.growth_electrolyte_A[-1]) if g.growth_electrolyte_A.size else None,
            "growth_verdict": fit.verdict if fit else None,
            "single_exponent": fit.single.exponent if fit else None,
            "single_exponent_err": fit.single.exponent_err if fit else None,
            "crossover_time_ps": fit.crossover_time_ps if fit else None,
            "crossover_interval_ps": list(fit.crossover_interval_ps) if fit else None,
            "fast_exponent": fit.fast.exponent if fit else None,
            "fast_exponent_err": fit.fast.exponent_err if fit else None,
            "slow_exponent": fit.slow.exponent if fit else None,
            "slow_exponent_err": fit.slow.exponent_err if fit else None,
            "two_regimes_preferred": fit.two_regimes_preferred if fit else None,
            "net_per_area_per_nm2_final": (
                {s: float(self.flux.net_per_area[-1, k]) for k, s in enumerate(self.flux.species)}
                if self.flux.times
                else None
            ),
            "layer_sequence": self.layer_names,
            "lip_mean_li_per_p_final": clus.mean_li_per_p if clus else None,
            "n_domains_final": int(last_nc.domain_sizes.size) if last_nc else None,
            "max_domain_radius_A_final": (
                float(last_nc.domain_radius_A.max()) if last_nc and last_nc.domain_radius_A.size else None
            ),
            **known,
        })

    def to_dict(self) -> dict:
        """JSON-ready: numpy arrays become lists, NaN becomes None (strict JSON)."""
        return _clean(self._raw_dict())

    def _atoms_dict(self) -> dict | None:
        """``phases.atoms`` of analysis.json: the per-atom labels of the first and last analysed frames,
        one character per atom (``codes``), and a hash of the element sequence they belong to."""
        frames = []
        for a in self.atom_phases:
            enc = encode_atom_phases(a["labels"], self.phase_names)
            if enc is None:
                return None
            codes, text = enc
            frames.append({"frame": int(a["frame"]), "step": a["step"], "time_ps": float(a["time_ps"]),
                           "n_atoms": len(text), "symbols_sha1": symbols_sha1(a["symbols"]), "labels": text})
        if not frames:
            return None
        return {"assignment": "each atom has the phase of its z bin in that frame (phases.labels, bins.edges_A)",
                "order": "atom id", "codes": codes,
                "symbols_sha1": "sha1 of the element symbols in atom-id order, joined by single spaces",
                "frames": frames}

    def _raw_dict(self) -> dict:
        fr = self.composition_fractions()
        return {
            "summary": self.summary(),
            "trajectory": self.trajectory,
            "partial": bool(self.partial),
            "partial_reason": self.partial_reason,
            "unwrap_method": self.unwrap_method,
            "units": {
                "length": "angstrom",
                "time": "ps",
                "flux": "atoms nm^-2 ps^-1",
                "net_transfer": "atoms nm^-2",
                "z": "angstrom from the initial interface, positive toward the metal",
            },
            "species": self.species,
            "interface": self.interface.to_dict(),
            "bins": {"edges_A": self.bin_edges_A, "centers_A": self.bin_centers_A},
            "times_ps": self.times_ps,
            "composition_fraction": {s: fr[:, k, :] for k, s in enumerate(self.species)},
            "atoms_per_bin": self.composition_counts.sum(axis=1),
            "growth": self.growth.to_dict(),
            "flux": self.flux.to_dict(),
            "cutoffs_A": self.cutoffs_A,
            "cutoff_sources": self.cutoff_sources,
            "coordination": {
                "times_ps": self.coordination_times_ps,
                "mean_cn": self.coordination,
                "centres_per_bin": self.coordination_centres,
            },
            "phases": {
                "names": self.phase_names,
                "times_ps": self.structure_times_ps,
                "labels": self.phase_labels,
                "label_legend": "index into names, -1 = vacuum",
                "layers": [L.to_dict() for L in self.layers],
                "layer_sequence": self.layer_names,
                "local_phase_fractions": self.local_phase_fractions,
                "atoms": self._atoms_dict(),
            },
            "lip_clusters": [
                dict(time_ps=float(t), **c.to_dict()) for t, c in zip(self.structure_times_ps, self.lip_clusters)
            ],
            "layer_rdfs": self.layer_rdfs,
            "nanocrystals": [n.to_dict() for n in self.nanocrystals],
            "notes": self.notes,
        }


def _windowed(times, coord: CoordinationProfile, window: int, pairs):
    """Atom-weighted mean CN per bin over consecutive windows of ``window`` structure frames."""
    n = times.size
    starts = np.arange(0, n, window)
    t = np.array([times[a : a + window].mean() for a in starts]) if n else times
    out, cnt = {}, {}
    for p in pairs:
        m = np.asarray(coord.mean[p], float)
        c = np.asarray(coord.counts[p], float)
        num = np.add.reduceat(np.where(c > 0, np.nan_to_num(m) * c, 0.0), starts, axis=0) if n else m
        den = np.add.reduceat(c, starts, axis=0) if n else c
        with np.errstate(invalid="ignore", divide="ignore"):
            out[p] = np.where(den > 0, num / np.maximum(den, 1), np.nan)
        cnt[p] = den
    return t, out, cnt


def symbols_sha1(symbols) -> str:
    """The hash that ties per-atom labels to an atom order: sha1 of the symbols joined by single spaces."""
    return hashlib.sha1(" ".join(str(x) for x in symbols).encode()).hexdigest()


def _clean(obj):
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


@dataclass
class StructureResult:
    """The structure part of one frame (coordination, phases, clusters, crystals): what
    :meth:`InterphaseAnalysis.analyse_frame` returns for a structure frame, bins × pairs sized."""

    time_ps: float
    coordination: dict  # pair -> (mean CN per bin, centres per bin)
    labels: np.ndarray  # phase index per bin, -1 = vacuum
    clusters: object | None  # LiPClusters, when P and Li are present
    crystals: object | None  # NanocrystalFrame, when the crystal species is present
    local_fractions: dict | None  # phase -> fraction of atoms (local_phase_radius_A)
    #: (layers, layer RDFs) of the last analysed frame (``final=True``), else None
    final: tuple | None = None
    #: per-atom phase labels of this frame (each atom the label of its z bin), with its index, step, symbols
    atoms: dict | None = None


@dataclass
class FrameResult:
    """Everything one frame adds to the analysis (no per-atom arrays except the crystals' own):
    profile, boundaries, flux, and the structure part on structure frames."""

    index: int
    time_ps: float
    counts: np.ndarray  # (n_species, n_bins) atoms per species and bin
    hM: float  # interphase boundary into the metal (Å)
    hE: float  # into the electrolyte (Å)
    flux: tuple | None  # (net crossings per species, planes × interface area Å²); None: no unwrapped coordinates
    structure: StructureResult | None = None


class InterphaseAnalysis:
    """Streaming analysis: ``update(frame)`` for each frame in time order, then ``finish()``.

    ``update`` is :meth:`begin` on the first frame (frame of reference, bins, cutoffs, parent
    compositions), then :meth:`analyse_frame` (reads only what ``begin`` fixed) and :meth:`add`
    (appends its result). A parallel driver (:mod:`seilab.analysis.parallel`) runs ``analyse_frame``
    of a copy of this object on other processes and ``add``s the results here in frame order.
    """

    def __init__(self, settings: AnalysisSettings | None = None):
        self.s = settings or AnalysisSettings()
        self.ref: InterfaceReference | None = None
        self._nframes = 0
        self.notes: list[str] = []
        self.times: list = []  # analysed frames' times (begin() resets the per-frame lists)

    # ------------------------------------------------------------------ first frame
    def begin(self, frame: Frame) -> None:
        """Fix what every later frame is measured against, from the first analysed frame."""
        s = self.s
        self.species = frame.species()
        self.n_atoms = frame.n_atoms
        self._code_of = {sp: k for k, sp in enumerate(self.species)}
        self.ref = find_interface(
            frame,
            s.metal_species,
            normal_axis=s.normal_axis,
            position_A=s.interface_position_A,
            metal_side=s.metal_side,
            smoothing_A=s.interface_smoothing_A,
            fold=s.fold_interfaces,
        )
        if self.ref.periodic:
            half = 0.5 * self.ref.height0_A
        else:
            half = float(np.abs(self.ref.z(frame)).max()) + s.bin_width_A
        self.bins = ZBins.symmetric(half, s.bin_width_A)
        present = set(self.species)
        # pairs: requested + those needed by phases and clusters, limited to present species
        want = list(
            dict.fromkeys(
                list(s.coordination_pairs)
                + [p for r in s.phase_references for p in r.coordination]
                + ["P-P", "P-Li", "P-S"]
            )
        )
        self.pairs = [p for p in want if set(split_pair(p)) <= present]
        skipped = [p for p in s.coordination_pairs if p not in self.pairs]
        if skipped:
            self.notes.append(f"coordination pairs {skipped} skipped: species not in the trajectory")
        search = NeighborSearch(frame)
        self.cutoffs, self.cutoff_sources = auto_cutoffs(
            search,
            self.pairs,
            fixed=s.coordination_cutoffs_A,
            auto=s.auto_cutoffs,
            fallback=s.fallback_cutoff_A,
            r_max=s.rdf_r_max_A,
            dr=s.rdf_bin_A,
            smoothing_A=s.rdf_smoothing_A,
            depth=s.rdf_min_depth,
        )
        self.flux = IonicFlux(self.ref, list(self.species))
        if frame.unwrapped is not None:
            self.flux.begin(frame)
        else:
            self.notes.append("no unwrapped coordinates: flux not computed")
        self.coord = CoordinationProfile(self.pairs, self.cutoffs, self.bins.n)
        self.phase_pairs = [p for p in self.pairs if any(p in r.coordination for r in s.phase_references)]
        self.classifier = PhaseClassifier(
            s.phase_references, self.species, self.phase_pairs, s.phase_coordination_weight, s.phase_cn_scale
        )
        self.crystals = (
            Nanocrystals(
                s.crystal_species,
                s.crystal_cutoff_A,
                s.crystal_bond_threshold,
                s.crystal_min_bonds,
                s.crystal_q4_range,
                s.crystal_q6_range,
                s.min_domain_atoms,
            )
            if s.crystal_species in present
            else None
        )
        if self.crystals is None:
            self.notes.append(f"no {s.crystal_species} atoms: nanocrystal analysis skipped")
        self.times, self.counts, self.hM, self.hE = [], [], [], []
        self.s_times, self.labels, self.clusters, self.local_fracs = [], [], [], []
        self._atoms_first = self._atoms_last = None
        self._sym = None
        self._codes = None
        # the parent compositions (metal / electrolyte ends) of the first frame
        _, _, counts = self._profile(frame)
        self._parents = parent_compositions(counts, self.bins.centers)
        self._last_struct = None
        self._pending = None
        self._final = None

    def _species_codes(self, frame: Frame) -> np.ndarray:
        # species per id do not change in MD: recompute only when the symbol array differs
        if self._sym is None or not (frame.symbols is self._sym or np.array_equal(frame.symbols, self._sym)):
            uniq, inv = np.unique(frame.symbols, return_inverse=True)
            self._codes = np.array([self._code_of.get(str(x), -1) for x in uniq], np.int64)[inv]
            self._sym = frame.symbols
        return self._codes

    # ------------------------------------------------------------------ per frame
    def _profile(self, frame: Frame):
        z = self.ref.z(frame)
        b = self.bins.index(z)
        codes = self._species_codes(frame)
        counts = composition_profile(b[codes >= 0], codes[codes >= 0], len(self.species), self.bins.n)
        return z, b, counts

    def _analyse(self, frame: Frame, structure: bool, final: bool, atoms: bool = True):
        """(FrameResult, state kept by the serial path: (z, b) of the profile, and the structure's
        (search, z, labels, hM, hE) or None)."""
        if self.ref is None:
            raise SeilabError("analysis: begin(first_frame) before analysing frames")
        if frame.n_atoms != self.n_atoms:
            raise SeilabError(f"frame {frame.index}: {frame.n_atoms} atoms, first frame had {self.n_atoms}")
        s = self.s
        z, b, counts = self._profile(frame)
        hM, hE, _ = interphase_boundaries(
            counts,
            self.bins.centers,
            *self._parents,
            threshold=s.interphase_threshold,
            min_bins=s.boundary_min_bins,
            min_atoms=s.min_bin_atoms,
        )
        flux = self.flux.frame_crossings(frame) if frame.unwrapped is not None and self.flux._k0 is not None else None
        res = FrameResult(frame.index, frame.time_ps, counts, hM, hE, flux)
        last = None
        if structure or final:
            res.structure, last = self._structure(frame, z, b, counts, hM, hE, final, atoms)
        return res, (z, b), last

    def analyse_frame(self, frame: Frame, structure: bool = True, final: bool = False,
                      atoms: bool = True) -> FrameResult:
        """The per-frame work, storing nothing here: profile, boundaries and flux, plus the structure
        part when ``structure`` (and the layer sequence / layer RDFs when ``final``: the last frame).
        ``atoms=False`` leaves out the structure part's per-atom labels (:attr:`StructureResult.atoms`,
        ~40 bytes per atom), which :meth:`add` keeps for the first and last structure frames only: a
        caller that knows the frame is neither (the parallel path) need not ship them."""
        return self._analyse(frame, structure, final, atoms)[0]

    def add(self, res: FrameResult) -> None:
        """Append one frame's :meth:`analyse_frame` result (frames in time order)."""
        self.times.append(res.time_ps)
        self.counts.append(res.counts)
        self.hM.append(res.hM)
        self.hE.append(res.hE)
        if res.flux is not None:
            self.flux.add(res.time_ps, *res.flux)
        if res.structure is not None:
            self._add_structure(res.structure)
        self._nframes += 1

    def _add_structure(self, st: StructureResult) -> None:
        self.coord.add(st.coordination)
        self.labels.append(st.labels)
        self.s_times.append(st.time_ps)
        if st.clusters is not None:
            self.clusters.append(st.clusters)
        if st.crystals is not None:
            self.crystals.frames.append(st.crystals)
        if st.local_fractions is not None:
            self.local_fracs.append(st.local_fractions)
        if st.final is not None:
            self._final = st.final
        if st.atoms is not None:
            if self._atoms_first is None:
                self._atoms_first = st.atoms
            self._atoms_last = st.atoms

    def update(self, frame: Frame) -> None:
        """Profiles, boundaries and flux on every frame; structure on every ``structure_every``-th."""
        if self.ref is None:
            self.begin(frame)
        structure = self._nframes % self.s.structure_every == 0
        res, (z, b), last = self._analyse(frame, structure, final=False)
        self.add(res)
        if structure:
            self._last_struct = last
            self._pending = None
        else:
            self._pending = (frame, z, b, res.counts, res.hM, res.hE)

    def _structure(self, frame, z, b, counts, hM, hE, final=False, atoms=True):
        s = self.s
        search = NeighborSearch(frame)
        _, rows = self.coord.rows(search, b)
        n = counts.sum(axis=0)
        comp = (counts / np.maximum(n, 1)).T
        cn = np.column_stack([rows[p][0] for p in self.phase_pairs]) if self.phase_pairs else None
        lab, _ = self.classifier.classify(comp, cn, empty=n < s.min_bin_atoms)
        zr = (-hE, hM) if np.isfinite(hM) and np.isfinite(hE) and hM + hE > 0 else None
        clusters = lip_clusters(search, self.cutoffs, z=z, z_range=zr) if {"P", "Li"} <= set(self.species) else None
        crystals = self.crystals.analyse(frame, search, z) if self.crystals is not None else None
        local = None
        if s.local_phase_radius_A:
            la = label_atoms_local(search, self.classifier, s.local_phase_radius_A)
            local = {self.classifier.name(k): float(np.mean(la == k)) for k in range(len(self.classifier.names))}
        last = (search, z, lab, hM, hE)
        st = StructureResult(frame.time_ps, rows, lab, clusters, crystals, local)
        if atoms:
            st.atoms = {"frame": frame.index, "step": frame.step, "time_ps": frame.time_ps,
                        "symbols": frame.symbols, "labels": atom_phase_labels(lab, b)}
        if final:
            st.final = self._layers(*last)
        return st, last

    def _layers(self, search, z, lab, hM, hE):
        """Layer sequence and layer RDFs of the last structure frame."""
        s = self.s
        pad = 2 * self.bins.width
        lo = -(hE if np.isfinite(hE) else self.bins.edges[-1]) - pad
        hi = (hM if np.isfinite(hM) else self.bins.edges[-1]) + pad
        layers = layer_sequence(lab, self.bins.edges, self.classifier.names, lo, hi, s.min_layer_bins)
        lpairs = [p for p in s.layer_rdf_pairs if set(split_pair(p)) <= set(self.species)]
        lrdf = layer_rdfs(search, z, layers, lpairs, self.ref.area(search.frame), r_max=s.rdf_r_max_A)
        return layers, lrdf

    # ------------------------------------------------------------------ end
    def finish(self, trajectory: str | None = None, unwrap_method: str | None = None) -> AnalysisResult:
        if self.ref is None:
            raise SeilabError(f"{trajectory or 'trajectory'}: no frames to analyse")
        if self._pending is not None:  # always analyse the structure of the last frame
            st, self._last_struct = self._structure(*self._pending)
            self._add_structure(st)
            self._pending = None
        s = self.s
        t = np.asarray(self.times, float)
        hM, hE = np.asarray(self.hM, float), np.asarray(self.hE, float)
        mc, ec = self._parents
        growth = GrowthResult(
            t, hM, hE, hM + hE, dict(zip(self.species, mc.tolist())), dict(zip(self.species, ec.tolist()))
        )
        for name, h in (("fit_total", hM + hE), ("fit_metal", hM), ("fit_electrolyte", hE)):
            f = fit_two_regimes(t, h, s.regime_min_points)
            setattr(growth, name, f)
            if f is None:
                growth.notes.append(f"{name}: not enough frames with t > 0 and thickness > 0 for a two-regime fit")
        if np.isnan(hM).any() or np.isnan(hE).any():
            growth.notes.append("the interphase reached the end of the analysed window in some frames (NaN thickness)")
        layers, lrdf = self._final if self._final is not None else self._layers(*self._last_struct)
        ctimes, cmaps, ccounts = _windowed(
            np.asarray(self.s_times, float),
            self.coord,
            s.coordination_window,
            [p for p in s.coordination_pairs if p in self.coord.mean],
        )
        return AnalysisResult(
            species=list(self.species),
            n_atoms=self.n_atoms,
            times_ps=t,
            interface=self.ref,
            bin_edges_A=self.bins.edges,
            composition_counts=np.asarray(self.counts),
            growth=growth,
            flux=self.flux,
            cutoffs_A=self.cutoffs,
            cutoff_sources=self.cutoff_sources,
            structure_times_ps=np.asarray(self.s_times),
            coordination_times_ps=ctimes,
            coordination=cmaps,
            coordination_centres=ccounts,
            phase_names=list(self.classifier.names),
            phase_labels=np.asarray(self.labels, int),
            layers=layers,
            lip_clusters=self.clusters,
            layer_rdfs=lrdf,
            nanocrystals=self.crystals.frames if self.crystals is not None else [],
            local_phase_fractions=self.local_fracs,
            atom_phases=[self._atoms_first] + ([self._atoms_last] if self._atoms_last is not self._atoms_first else []),
            trajectory=trajectory,
            unwrap_method=unwrap_method,
            notes=self.notes + growth.notes,
        )


def analyze_frames(frames: Iterable[Frame], settings: AnalysisSettings | None = None) -> AnalysisResult:
    """Run the analysis on an iterable of frames (in time order)."""
    ana = InterphaseAnalysis(settings)
    for fr in frames:
        ana.update(fr)
    return ana.finish()


def _selection(s: AnalysisSettings) -> str:
    parts = [f"{opt} {v}" for opt, v, default in (("--start", s.start_frame, 0), ("--stop", s.stop_frame, None),
                                                   ("--stride", s.stride, 1)) if v != default]
    return " ".join(parts)


def _write_outputs(out_dir, write) -> None:
    """Run ``write(folder)`` into a temporary sibling folder of ``out_dir``, then move what it wrote
    into ``out_dir`` (``analysis.json`` last). On any failure ``out_dir`` is left as it was."""
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name or 'analysis'}.partial-tmp-", dir=out.parent))
    try:
        write(tmp)
        out.mkdir(parents=True, exist_ok=True)
        names = sorted(p.name for p in tmp.iterdir())
        names.sort(key=lambda n: n == "analysis.json")  # the result file goes in last
        for name in names:
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def analyze_trajectory(
    path: str | os.PathLike,
    settings: AnalysisSettings | None = None,
    out_dir: str | os.PathLike | None = None,
    fmt: str | None = None,
    partial: bool = False,
    resources=None,
) -> AnalysisResult:
    """Stream ``path`` once, analyse it, and (with ``out_dir``) write ``analysis.json`` + figures.

    With ``settings.workers > 1`` or ``settings.cluster`` other than 'local' the frames are analysed
    on a Dask cluster (:mod:`seilab.analysis.parallel`; ``resources``: the analysis stage's
    :class:`~seilab.settings.cluster.StageResources`, which size Slurm worker jobs), with the same numbers.

    ``analysis.json`` carries a provenance record (stage 'analysis', the trajectory's hash, the
    settings). Figures (PNG): thickness.png, flux.png, coordination.png, phase_map.png, layers.png,
    nanocrystals.png, snapshots.png (side views of the first and last analysed frames).

    A trajectory whose last frame is cut off is refused unless ``partial=True``; then the complete
    frames are analysed and the result records ``partial: true`` and the reason. Fewer than
    :data:`MIN_FRAMES` analysed frames is an error. The outputs are written into a temporary
    sibling folder and moved into ``out_dir`` only when all of them were written, so a failed run
    never leaves a half-overwritten earlier result.
    """
    s = settings or AnalysisSettings()
    reader = TrajectoryReader(
        path,
        type_map=s.type_map,
        fmt=fmt,
        stride=s.stride,
        start=s.start_frame,
        stop=s.stop_frame,
        timestep_fs=s.timestep_fs,
        frame_interval_ps=s.frame_interval_ps,
        partial=partial,
    )
    if s.auto_cutoffs and s.cutoff_frame == "last":
        # automatic cutoffs from the reacted end state: computed here and passed on as fixed ones
        last = reader.last_frame()
        fixed = dict(s.coordination_cutoffs_A or {})
        pairs = [p for p in s.coordination_pairs if set(split_pair(p)) <= set(last.species())]
        cut, src = auto_cutoffs(
            NeighborSearch(last),
            pairs,
            fixed=fixed,
            auto=True,
            fallback=s.fallback_cutoff_A,
            r_max=s.rdf_r_max_A,
            dr=s.rdf_bin_A,
            smoothing_A=s.rdf_smoothing_A,
            depth=s.rdf_min_depth,
        )
        s = s.model_copy(update={"coordination_cutoffs_A": cut})
        last_sources = {k: (v if v != "rdf-minimum" else "rdf-minimum (last frame)") for k, v in src.items()}
    else:
        last_sources = None
    ana = InterphaseAnalysis(s)
    if s.uses_dask:
        from seilab.analysis.parallel import analyse_on_cluster

        # Dask's scratch beside the output folder (shared with Slurm jobs there), removed afterwards
        scratch = None
        if out_dir is not None:
            Path(out_dir).resolve().parent.mkdir(parents=True, exist_ok=True)
            scratch = tempfile.mkdtemp(prefix=f".{Path(out_dir).resolve().name}.dask-", dir=Path(out_dir).resolve().parent)
        try:
            first, last, messages = analyse_on_cluster(ana, reader, s, resources=resources, scratch=scratch,
                                                       keep_last=out_dir is not None and s.figures)
        except BaseException:
            if scratch is not None and s.cluster == "slurm" and (Path(scratch) / "slurm-logs").is_dir():
                import logging

                logging.getLogger(__name__).warning("analysis: Slurm job logs kept in %s", Path(scratch) / "slurm-logs")
            elif scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            raise
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    else:
        first = last = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for fr in reader:
                ana.update(fr)
                if first is None:
                    first = fr
                last = fr
        messages = [str(w.message) for w in caught]
    n = len(ana.times)
    if n < MIN_FRAMES:
        sel = _selection(s)
        what = "complete frame" if reader.truncated else "frame"
        raise SeilabError(
            f"{path}: {n} {what}{'s' if n != 1 else ''} to analyse{f' ({sel})' if sel else ''}, the interphase "
            f"analysis needs at least {MIN_FRAMES} (growth and flux are time series); use a longer run"
            + (" or a wider frame selection" if sel else "")
        )
    result = ana.finish(trajectory=str(path), unwrap_method=reader.unwrap_method)
    result.notes.extend(messages)
    if reader.truncated:
        result.partial, result.partial_reason = True, reader.truncated
    if last_sources:
        result.cutoff_sources.update({k: v for k, v in last_sources.items() if k in result.cutoff_sources})
    if out_dir is not None:
        from seilab.provenance import record, write_json

        # the options that were used: settings, and whether a truncated input was accepted
        prov = record("analysis", [path], s.model_dump(), partial=bool(partial))

        def write(folder: Path) -> None:
            if s.figures:
                from seilab.analysis.figures import write_figures

                snaps = [first, last] if last is not first else [first]
                write_figures(result, folder, dpi=s.figure_dpi, snapshots=snaps)
            write_json(folder / "analysis.json", result.to_dict(), provenance=prov)

        _write_outputs(out_dir, write)
    return result
