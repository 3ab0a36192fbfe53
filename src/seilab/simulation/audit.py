"""Audit of the potential on the production trajectory: its errors *in the interphase itself*.

The test set says how well the potential reproduces the reference on the structures it was fitted
around; the production MD then visits configurations nobody labelled (a growing, disordered
interphase). :func:`run_audit` checks the potential there, after the interface MD:

1. **Run and potential.** ``<output>/simulation/latest.json`` (written by
   :func:`seilab.simulation.stage.run_simulation`) names the run folder and the built interface.
   The potential is the one the MD used: the ``.yaml`` / ``.asi`` recorded in the run's
   ``result.json`` (provenance ``settings.potential``), checked against the SHA-256 the run recorded
   for them; its training generation (``done.json`` beside it) gives the per-element reference
   energies and ``metrics.json`` (test-set errors). Only when the run records no potential is
   :func:`seilab.training.latest_potential` used (said in ``potential.source``).
2. **Frames.** ``audit_frames`` frames evenly spread over the run, always the last one (the initial
   frame only when there are no others), read from ``trajectory.extxyz`` when the run wrote one,
   else from ``dump.lammpstrj`` (ASE's ``lammps-dump-text`` reader, element column or types in
   ``campaign.elements`` order). Per frame, per-atom γ with the model (:mod:`seilab.learning.gamma`).
3. **Regions** (rule): the two interface planes of the *built* periodic sandwich are found from its
   per-atom ``interface_side`` (0 electrolyte, 1 anode): atoms sorted by fractional z (periodic), the
   planes are the two side changes (midway between the neighbouring atoms) that split the cell into an
   anode and an electrolyte part with the fewest atoms on the wrong side (exactly the two slab
   boundaries of a built interface). Planes are kept in fractional z, so they follow the cell under NpT.
   In a frame an atom whose minimum-image z distance to either plane is at most
   ``audit_interphase_half_width_A`` is **interphase**; any other atom is **metal** or **electrolyte**
   by the side it started on (an atom that diffused deep into the other slab keeps its original label;
   a drift of the whole system along z is not followed).
4. **Subcells.** Per frame: the ``audit_top_gamma`` highest-γ atoms (non-overlapping boxes) and
   ``audit_random`` random atoms per region (seeded by ``simulation.seed`` and the step) are centres
   of ~``learning.subcell_atoms``-atom subcells cut with :func:`seilab.learning.subcells.cut_subcells`
   (the learning stage's cutoff, vacuum and ``min_distance_A``). Each is labelled with the reference
   (:func:`seilab.reference.labelling.label_structures` into a store under ``simulation/audit/``, so
   labels survive a kill) and predicted with the model.
5. **Errors** (as :mod:`seilab.training.metrics`: energies per atom on ``energy_corrected`` = E − Σ
   e_el with the potential's reference energies, meV/atom; forces per Cartesian component, meV/Å).
   Forces count only the **core** atoms, those within the cutoff of the centre atom (their whole
   environment is the frame's); atoms near the vacuum boundary are artificial and left out. The
   energy is the whole subcell's (model and reference see the same, vacuum-bounded cell). RMSE/MAE
   per region, per selection (top γ / random) and overall, beside the potential's test-set RMSE;
   ``warnings`` when an audit RMSE exceeds ``audit_warn_factor`` × the test-set RMSE.

Files under ``<output>/simulation/``:

* ``audit.json`` (+ provenance): frames (γ statistics, region counts, γ profile along z), one entry
  per subcell, errors per region / selection / overall, the test-set errors, warnings, and the key of
  its inputs; a rerun with the same key returns it without any work
* ``audit/subcells.extxyz`` (+ sidecar): the labelled subcells (reference energy/forces; info
  ``audit_region``, ``audit_frame``, ``audit_step``, ``gamma_centre``, errors; per-atom ``audit_core``
  and ``model_forces``)
* ``audit/labels-<reference>-<hash>/``: the reference labels (a
  :class:`~seilab.reference.store.DatasetStore`, one per reference)
* ``audit.png``: left, max γ per z bin for each audited frame (coloured by time, interphase regions
  shaded); right, force RMSE per region beside the test-set RMSE

Call it after :func:`~seilab.simulation.stage.run_simulation`::

    from seilab.simulation.audit import run_audit
    audit = run_audit(campaign, progress=print)   # dict, as in audit.json
"""

from __future__ import annotations

import functools
import hashlib
import io
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from seilab import provenance
from seilab.errors import SeilabError

REGIONS = ("metal", "interphase", "electrolyte")
SELECTIONS = ("top_gamma", "random")
AUDIT_JSON = "audit.json"
AUDIT_DIR = "audit"
SUBCELLS = "subcells.extxyz"
FIGURE = "audit.png"
KEY_VERSION = 1


# ----------------------------------------------------------------------------------------------- inputs
def read_latest(folder: Path) -> tuple[Path, dict]:
    """(path, content) of ``<simulation>/latest.json``; one-line errors naming the file."""
    path = Path(folder) / "latest.json"
    if not path.is_file():
        raise SeilabError(f"{path}: not found; run the simulation stage first (seilab simulate CONFIG)")
    data = provenance.read_json(path)
    for k in ("run_dir", "interface"):
        if not data.get(k):
            raise SeilabError(f"{path}: no '{k}' entry; rerun the simulation stage (seilab simulate CONFIG)")
    if not Path(data["run_dir"]).is_dir():
        raise SeilabError(f"{path}: its run folder {data['run_dir']} does not exist")
    if not Path(data["interface"]).is_file():
        raise SeilabError(f"{path}: its interface file {data['interface']} does not exist")
    return path, data


def md_potential(campaign, run_dir: Path, reference_factory=None):
    """(Potential, source): the potential the MD in ``run_dir`` ran with (see the module docstring)."""
    from dataclasses import replace

    from seilab.training.backend import Potential
    from seilab.training.stage import finished_record, potential_of

    res_path = Path(run_dir) / "result.json"
    files, hashes = None, {}
    if res_path.is_file():
        prov = provenance.read_json(res_path).get("provenance") or {}
        files = (prov.get("settings") or {}).get("potential")
        hashes = {str(i.get("path")): i.get("sha256") for i in prov.get("inputs") or []}
    if not files or not files.get("yaml"):
        from seilab.training import latest_potential

        return latest_potential(campaign), f"latest_potential (fallback: {res_path} records no potential .yaml)"
    yaml = Path(files["yaml"])
    asi = Path(files["asi"]) if files.get("asi") else None
    for name, p in (("yaml", yaml), ("asi", asi)):
        if p is None:
            continue
        if not p.is_file():
            raise SeilabError(f"{res_path}: the MD's potential {name} file {p} no longer exists")
        want = hashes.get(str(p))
        if want and provenance.sha256_file(p) != want:
            raise SeilabError(f"{p}: changed since the MD run ({res_path} recorded sha256 {want[:12]}); "
                              "the audit must use the MD's potential")
    rec = finished_record(yaml.parent)
    if rec is not None and (rec.get("potential") or {}).get("yaml") == yaml.name:
        pot = potential_of(yaml.parent, rec)
        return replace(pot, asi=asi or pot.asi), str(res_path)
    metrics = yaml.parent / "metrics.json"
    pot = Potential(yaml=yaml, yace=Path(files["yace"]) if files.get("yace") else None, asi=asi,
                    metrics=metrics if metrics.is_file() else None, elements=tuple(campaign.elements),
                    reference_energies=campaign_reference_energies(campaign, reference_factory))
    return pot, f"{res_path} (not a training generation: the campaign's reference energies)"


def campaign_reference_energies(campaign, reference_factory=None) -> dict:
    """The campaign's per-element reference energies (``training.reference_energies``)."""
    from seilab.training.data import reference_energies

    if campaign.training.reference_energies == "least_squares":
        from seilab.training.stage import load_dataframe

        return load_dataframe(campaign)[1]
    return reference_energies(campaign, calc_factory=reference_factory)


def potential_test_errors(pot) -> dict | None:
    """Test-set RMSEs of ``pot`` (its metrics.json ``test``): energy meV/atom, force meV/Å, per kind."""
    if pot.metrics is None or not Path(pot.metrics).is_file():
        return None
    test = provenance.read_json(pot.metrics).get("test") or {}
    if not test:
        return None
    rm = lambda d, k: ((d or {}).get(k) or {}).get("rmse")  # noqa: E731
    return {"energy_meV_per_atom": rm(test, "energy_meV_per_atom"), "force_meV_per_A": rm(test, "force_meV_per_A"),
            "n_structures": test.get("n_structures"), "file": str(pot.metrics),
            "by_kind": {k: {"energy_meV_per_atom": rm(v, "energy_meV_per_atom"),
                            "force_meV_per_A": rm(v, "force_meV_per_A"), "n_structures": v.get("n_structures")}
                        for k, v in (test.get("by_kind") or {}).items()}}


# ----------------------------------------------------------------------------------------------- trajectory
class Trajectory:
    """Frames of a run folder by index: ``trajectory.extxyz`` when present, else ``dump.lammpstrj``.

    Frames are located by byte offset (:func:`seilab.md.dump.dump_frame_index` for the dump,
    the atom-count lines for extxyz) and only the frames asked for are parsed.
    """

    def __init__(self, run_dir: Path, elements: Sequence[str], dump_every: int | None = None):
        from seilab.md.dump import dump_frame_index
        from seilab.md.engine import DUMP

        self.elements = list(elements)
        run_dir = Path(run_dir)
        ext, dump = run_dir / "trajectory.extxyz", run_dir / DUMP
        dump_index = dump_frame_index(dump) if dump.is_file() else []
        if ext.is_file():
            self.path, self.format = ext, "extxyz"
            offsets, steps = _extxyz_index(ext)
            if any(s is None for s in steps):
                if len(dump_index) == len(steps):
                    steps = [s for s, _ in dump_index]
                else:
                    steps = [i * (dump_every or 1) for i in range(len(steps))]
        elif dump_index:
            self.path, self.format = dump, "lammps-dump-text"
            steps, offsets = [s for s, _ in dump_index], [o for _, o in dump_index]
        else:
            raise SeilabError(f"{run_dir}: no trajectory frames (trajectory.extxyz / {DUMP})")
        self.steps, self._offsets = list(steps), list(offsets)
        self._end = self.path.stat().st_size

    def __len__(self) -> int:
        return len(self.steps)

    def read(self, i: int):
        """Frame ``i`` as plain ASE Atoms (numbers, positions, cell, pbc; ``info['step']``)."""
        from ase import Atoms
        from ase.io import read

        start = self._offsets[i]
        end = self._offsets[i + 1] if i + 1 < len(self._offsets) else self._end
        with open(self.path, "rb") as fh:
            fh.seek(start)
            text = fh.read(end - start).decode()
        kw = {"specorder": self.elements} if self.format == "lammps-dump-text" else {}
        try:
            a = read(io.StringIO(text), index=0, format=self.format, **kw)
        except Exception as exc:
            raise SeilabError(f"{self.path}: frame {i} (step {self.steps[i]}) is not readable "
                              f"({type(exc).__name__}: {exc})") from None
        out = Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=True)
        out.info["step"] = int(self.steps[i])
        return out


def _extxyz_index(path: Path) -> tuple[list[int], list[int | None]]:
    """(byte offset, step or None) of each complete frame of an extxyz file (the step from its comment line)."""
    from ase.io.extxyz import key_val_str_to_dict

    from seilab.dynamics import extxyz_frame_spans

    offsets, steps = [], []
    with open(path, "rb") as fh:
        for start, _ in extxyz_frame_spans(path):
            fh.seek(start)
            fh.readline()
            comment = fh.readline().decode(errors="replace")
            try:
                kv = key_val_str_to_dict(comment)
            except Exception:
                kv = {}
            s = kv.get("step", kv.get("timestep"))
            offsets.append(start)
            steps.append(int(s) if s is not None else None)
    return offsets, steps


def pick_frames(n_frames: int, k: int) -> list[int]:
    """``k`` frame indices evenly spread over ``n_frames``, always the last; the first (initial
    structure) only when there are no other frames."""
    if n_frames <= 0:
        return []
    if n_frames == 1:
        return [0]
    k = max(1, min(int(k), n_frames - 1))
    idx = [int(round((i + 1) * (n_frames - 1) / k)) for i in range(k)]
    return sorted(set(idx))


# ----------------------------------------------------------------------------------------------- regions
def interface_planes(frac_z: np.ndarray, side: np.ndarray) -> np.ndarray:
    """The two interface planes (fractional z in [0, 1)) of a periodic two-slab sandwich (module rule)."""
    fz = np.mod(np.asarray(frac_z, dtype=float), 1.0)
    side = np.asarray(side).astype(int).reshape(-1)
    if len(fz) != len(side) or len(fz) < 2:
        raise SeilabError("interface: need one interface_side per atom")
    order = np.argsort(fz, kind="stable")
    z, s = fz[order], (side[order] == 1).astype(np.int64)
    n = len(z)
    changes = np.flatnonzero(s != np.roll(s, -1))  # boundary between sorted atoms i and i+1 (cyclic)
    if len(changes) < 2:
        raise SeilabError("interface: interface_side has only one side; cannot place the interface planes")
    if len(changes) > 2000:  # heavily mixed: evenly spaced candidates are enough
        changes = changes[np.linspace(0, len(changes) - 1, 2000).astype(int)]
    cum = np.concatenate([[0], np.cumsum(s)])  # anode atoms among the first k sorted atoms
    total = int(cum[-1])
    i, j = np.meshgrid(changes, changes, indexing="ij")
    valid = i < j
    anode_in = cum[j + 1] - cum[i + 1]  # atoms i+1 .. j
    len_in = j - i
    # anode between the planes (err_a) or electrolyte between them (err_b)
    err_a = (len_in - anode_in) + (total - anode_in)
    err_b = anode_in + ((n - len_in) - (total - anode_in))
    err = np.where(valid, np.minimum(err_a, err_b), np.iinfo(np.int64).max)
    a, b = np.unravel_index(int(np.argmin(err)), err.shape)
    zn = np.roll(z, -1)
    zn[-1] += 1.0
    mid = np.mod(0.5 * (z + zn), 1.0)
    return np.sort(np.array([mid[changes[a]], mid[changes[b]]]))


def cell_height(atoms) -> float:
    """Cell height along the stacking direction: volume / |a × b|."""
    cell = atoms.cell.array
    return float(abs(np.linalg.det(cell)) / np.linalg.norm(np.cross(cell[0], cell[1])))


def classify(frac_z: np.ndarray, side: np.ndarray, planes: np.ndarray, height_A: float,
             half_width_A: float) -> np.ndarray:
    """Region index (into :data:`REGIONS`) of each atom: interphase within ``half_width_A`` (minimum-image
    z distance) of a plane, else metal (``side == 1``) or electrolyte (``side == 0``)."""
    fz = np.asarray(frac_z, dtype=float)
    d = np.stack([np.abs((fz - p + 0.5) % 1.0 - 0.5) * height_A for p in planes]).min(axis=0)
    reg = np.where(np.asarray(side).astype(int) == 1, REGIONS.index("metal"), REGIONS.index("electrolyte"))
    return np.where(d <= half_width_A, REGIONS.index("interphase"), reg)


def halt_diagnosis(dump: Path, interface, threshold: float, half_width_A: float, top: int = 5,
                   shell_A: float = 3.0) -> dict | None:
    """Which atoms stopped a run the γ watch halted: the last frame of its extrapolative ``dump`` (per-atom γ,
    atoms in ``interface``'s order; LAMMPS' text dump, or the ASE engine's ``.extxyz``), the atoms above ``threshold`` (the γ window's upper end) counted per element
    and region (:func:`classify` with the built ``interface``'s planes), and the ``top`` highest: element, γ,
    region, z distance to the nearer interface plane (Å), and neighbours per element within ``shell_A``.
    None when the dump has no complete frame or no γ column."""
    from seilab.geometry import neighbour_list
    from seilab.md.dump import dump_frame_spans, read_dump_frame

    if not Path(dump).is_file() or Path(dump).stat().st_size == 0:
        return None
    if Path(dump).suffix == ".extxyz":
        from seilab.dynamics import read_frames

        frames = read_frames(dump)
        if not frames:
            return None
        frame = frames[-1]
        frame.info.setdefault("timestep", frame.info.get("step"))
    else:
        spans = list(dump_frame_spans(dump))
        if not spans:
            return None
        frame = read_dump_frame(dump, spans[-1])
    g = next((frame.arrays[k] for k in ("f_pace_gamma", "gamma", "c_pace_gamma") if k in frame.arrays), None)
    side = np.asarray(interface.arrays["interface_side"]).astype(int)
    if g is None or len(frame) != len(side):
        return None
    g = np.asarray(g, float)
    planes = interface_planes(interface.get_scaled_positions(wrap=True)[:, 2], side)
    frac_z = frame.get_scaled_positions(wrap=True)[:, 2]
    height = cell_height(frame)
    reg = np.array(REGIONS)[classify(frac_z, side, planes, height, half_width_A)]
    dist = np.stack([np.abs((frac_z - p + 0.5) % 1.0 - 0.5) * height for p in planes]).min(axis=0)
    sym = np.array(frame.get_chemical_symbols())
    hot = g > threshold
    order = np.argsort(-g, kind="stable")[:top]
    i, j = neighbour_list("ij", frame, shell_A)
    rows = []
    for k in order:
        nb = sym[j[i == k]]
        rows.append({"index": int(k), "element": str(sym[k]), "gamma": round(float(g[k]), 3), "region": str(reg[k]),
                     "distance_to_interface_A": round(float(dist[k]), 2),
                     "neighbours": {str(e): int(np.sum(nb == e)) for e in sorted(set(sym))}})
    count = lambda v: {str(x): int(n) for x, n in zip(*np.unique(v, return_counts=True))}  # noqa: E731
    step = frame.info.get("timestep")
    return {"step": None if step is None else int(step), "max_gamma": round(float(g.max()), 3), "threshold": threshold,
            "shell_A": shell_A, "n_above": int(hot.sum()), "above_by_element": count(sym[hot]),
            "above_by_region": count(reg[hot]), "top": rows}


def describe_halt(d: dict) -> str:
    """One line of :func:`halt_diagnosis`: how many atoms extrapolate, which, and the worst one's neighbours."""
    el = ", ".join(f"{e} {n}" for e, n in sorted(d["above_by_element"].items(), key=lambda x: -x[1]))
    rg = ", ".join(f"{r} {n}" for r, n in sorted(d["above_by_region"].items(), key=lambda x: -x[1]))
    line = f"halting frame (step {d['step']}): γ > {d['threshold']:g} on {d['n_above']} atoms ({el}; {rg})"
    if d["top"]:
        t = d["top"][0]
        nb = ", ".join(f"{e} {n}" for e, n in t["neighbours"].items() if n)
        line += (f"; the highest: {t['element']} (γ {t['gamma']:.3g}, {t['region']}, {t['distance_to_interface_A']:.1f} Å "
                 f"from an interface plane; within {d['shell_A']:g} Å: {nb or 'none'})")
    return line


def gamma_profile(z_A: np.ndarray, height_A: float, gamma: np.ndarray, bin_A: float) -> dict:
    """Max and mean γ per z bin (``z_A`` wrapped into [0, height_A)); empty bins give None."""
    nb = max(1, int(round(height_A / bin_A)))
    idx = np.clip(np.floor(np.asarray(z_A) / height_A * nb).astype(int), 0, nb - 1)
    g = np.asarray(gamma, dtype=float)
    counts = np.bincount(idx, minlength=nb)
    gmax = np.full(nb, -np.inf)
    np.maximum.at(gmax, idx, g)
    gsum = np.bincount(idx, weights=g, minlength=nb)
    width = height_A / nb
    return {"z_A": [round((k + 0.5) * width, 4) for k in range(nb)], "bin_A": width,
            "gamma_max": [float(gmax[k]) if counts[k] else None for k in range(nb)],
            "gamma_mean": [float(gsum[k] / counts[k]) if counts[k] else None for k in range(nb)],
            "n_atoms": counts.astype(int).tolist()}


# ----------------------------------------------------------------------------------------------- errors
def core_mask(sub, centre_local: int, cutoff: float) -> np.ndarray:
    """Atoms of subcell ``sub`` within ``cutoff`` of its centre atom (direct distance: the cut keeps the
    centre in the middle of its box, away from the new boundary)."""
    d = np.linalg.norm(sub.positions - sub.positions[centre_local], axis=1)
    return d <= cutoff + 1e-9


def aggregate_errors(pred: dict, core: Sequence[np.ndarray], groups: Sequence[str] = REGIONS) -> dict:
    """Errors of ``pred`` (:func:`seilab.training.metrics.predict` output; ``pred['kind']`` is each
    subcell's group) with forces over the ``core`` atoms of each subcell only.

    Returns ``{"all": {...}, "groups": {group: {...}}, "force_by_element": {...}}``; each entry has
    ``n_subcells``, ``n_core_atoms``, ``energy_meV_per_atom`` and ``force_meV_per_A`` (rmse, mae, max, n)
    computed by :func:`seilab.training.metrics.error_metrics`.
    """
    from seilab.training.metrics import error_metrics

    masks = [np.asarray(m, dtype=bool).reshape(-1) for m in core]
    n = len(pred["e_ref"])
    if len(masks) != n:
        raise SeilabError(f"audit: {len(masks)} core masks for {n} subcells")
    masked = {"e_ref": np.asarray(pred["e_ref"], dtype=float), "e_pred": np.asarray(pred["e_pred"], dtype=float),
              "f_ref": [np.asarray(f, dtype=float)[m] for f, m in zip(pred["f_ref"], masks)],
              "f_pred": [np.asarray(f, dtype=float)[m] for f, m in zip(pred["f_pred"], masks)],
              "kind": [str(k) for k in pred["kind"]],
              "symbols": [list(np.asarray(s)[m]) for s, m in zip(pred["symbols"], masks)],
              "n_atoms": list(pred["n_atoms"])}
    empty = {"rmse": None, "mae": None, "max": None, "n": 0}
    if n == 0:
        blank = {"n_subcells": 0, "n_core_atoms": 0, "energy_meV_per_atom": dict(empty),
                 "force_meV_per_A": dict(empty)}
        return {"all": blank, "groups": {g: dict(blank) for g in groups}, "force_by_element": {}}
    m = error_metrics(masked)
    core_atoms = [int(x.sum()) for x in masks]
    out = {"all": {"n_subcells": n, "n_core_atoms": int(sum(core_atoms)),
                   "energy_meV_per_atom": m["energy_meV_per_atom"], "force_meV_per_A": m["force_meV_per_A"]},
           "groups": {}, "force_by_element": m["force_by_element"]}
    for g in list(groups) + sorted(set(masked["kind"]) - set(groups)):
        bk = m["by_kind"].get(g)
        if bk is None:
            out["groups"][g] = {"n_subcells": 0, "n_core_atoms": 0, "energy_meV_per_atom": dict(empty),
                                "force_meV_per_A": dict(empty)}
        else:
            out["groups"][g] = {"n_subcells": bk["n_structures"],
                                "n_core_atoms": int(sum(c for c, k in zip(core_atoms, masked["kind"]) if k == g)),
                                "energy_meV_per_atom": bk["energy_meV_per_atom"],
                                "force_meV_per_A": bk["force_meV_per_A"]}
    return out


def audit_warnings(errors: dict, test: dict | None, factor: float) -> list[str]:
    """One line per audit RMSE (per region in ``errors['regions']``, then ``errors['all']``) above
    ``factor`` × the test-set RMSE (``test``: ``energy_meV_per_atom`` / ``force_meV_per_A`` numbers)."""
    out: list[str] = []
    if not test:
        return out
    items = list((errors.get("regions") or {}).items()) + [("overall", errors.get("all") or {})]
    for name, e in items:
        for q, what, unit, fmt in (("energy_meV_per_atom", "energy", "meV/atom", ".1f"),
                                   ("force_meV_per_A", "force", "meV/Å", ".0f")):
            v, t = (e.get(q) or {}).get("rmse"), test.get(q)
            if v is None or t is None or not t > 0:
                continue
            if v > factor * t:
                out.append(f"{name} {what} RMSE {v:{fmt}} {unit} is {v / t:.1f}× the test-set {t:{fmt}} {unit}")
    return out


def _ratios(errors: dict, test: dict | None) -> dict:
    out = {}
    for name, e in list(errors["regions"].items()) + [("all", errors["all"])]:
        r = {}
        for q in ("energy_meV_per_atom", "force_meV_per_A"):
            v, t = (e.get(q) or {}).get("rmse"), (test or {}).get(q)
            r[q] = (v / t) if (v is not None and t) else None
        out[name] = r
    return out


# ----------------------------------------------------------------------------------------------- figure
def audit_figure(frames: list[dict], errors: dict, test: dict | None, path: Path, half_width_A: float,
                 factor: float) -> Path:
    """The 2-panel figure (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import cm, colors

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.6))
    times = [f["time_ps"] for f in frames] or [0.0]
    norm = colors.Normalize(vmin=min(times), vmax=max(times) if max(times) > min(times) else min(times) + 1.0)
    cmap = matplotlib.colormaps["viridis"]
    gtop = 0.0
    for f in frames:
        prof = f["profile"]
        z = np.asarray(prof["z_A"], dtype=float)
        g = np.array([np.nan if v is None else v for v in prof["gamma_max"]], dtype=float)
        gtop = max(gtop, float(np.nanmax(g)) if np.isfinite(g).any() else 0.0)
        ax1.plot(z, g, "-o", ms=2.5, lw=1.2, color=cmap(norm(f["time_ps"])),
                 label=f"step {f['step']} ({f['time_ps']:.3g} ps)")
    if frames:
        last = frames[-1]
        h = last["height_A"]
        for p in last["planes_frac"]:
            c = p * h
            for lo, hi in ((c - half_width_A, c + half_width_A),):
                for shift in (-h, 0.0, h):
                    a, b = max(lo + shift, 0.0), min(hi + shift, h)
                    if b > a:
                        ax1.axvspan(a, b, color="0.85", zorder=0)
        ax1.set_xlim(0, h)
    ax1.axhline(1.0, color="k", ls=":", lw=0.8)
    if gtop > 20:
        ax1.set_yscale("log")
    ax1.set_xlabel("z (Å)  [grey: interphase region]")
    ax1.set_ylabel("max γ per z bin")
    ax1.set_title("extrapolation grade along z")
    if len(frames) <= 8:
        ax1.legend(fontsize=7, loc="upper right")
    sm = cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=ax1, label="time (ps)")

    names = list(REGIONS) + ["all"]
    entries = [errors["regions"][r] for r in REGIONS] + [errors["all"]]
    vals = [e["force_meV_per_A"]["rmse"] for e in entries]
    heights = [v if (v is not None and np.isfinite(v)) else 0.0 for v in vals]
    bars = ax2.bar(names, heights, color=["tab:gray", "tab:red", "tab:blue", "k"], alpha=0.8)
    for bar, e, v in zip(bars, entries, vals):
        ev = e["energy_meV_per_atom"]["rmse"]
        txt = "n=0" if not e["n_subcells"] else (f"n={e['n_subcells']}\n" + (f"{v:.0f} meV/Å" if v is not None else "")
                                                  + (f"\nE {ev:.1f} meV/at" if ev is not None else ""))
        ax2.annotate(txt, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                     fontsize=7, xytext=(0, 2), textcoords="offset points")
    tf = (test or {}).get("force_meV_per_A")
    if tf:
        ax2.axhline(tf, color="tab:orange", ls="--", lw=1.2, label=f"test set {tf:.0f} meV/Å")
        ax2.axhline(factor * tf, color="tab:orange", ls=":", lw=1.0, label=f"warning ({factor:g}× test)")
        ax2.legend(fontsize=8, loc="upper left")
    top = max(heights + [factor * tf if tf else 0.0, 1.0])
    ax2.set_ylim(0, 1.3 * top)
    ax2.set_ylabel("force RMSE on core atoms (meV/Å)")
    ax2.set_title("audit errors per region vs test set")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------------- the audit
def _settings_of(s) -> dict:
    keys = ("audit_frames", "audit_top_gamma", "audit_random", "audit_interphase_half_width_A", "audit_z_bin_A",
            "audit_warn_factor", "seed")
    return {k: getattr(s, k) for k in keys}


def _key(parts: dict) -> str:
    return provenance.digest(parts, 20)


def _cached(out_json: Path, key: str) -> dict | None:
    data = provenance.record_for(out_json, key)
    if data is None:
        return None
    sub = out_json.parent / AUDIT_DIR / SUBCELLS
    if data.get("n_subcells") and not provenance.is_valid_artifact(sub):
        return None
    if not (out_json.parent / FIGURE).is_file():
        return None
    return data


def run_audit(campaign, progress: Callable[[str], None] | None = None,
              reference_factory: Callable[[], object] | None = None, backend=None) -> dict:
    """Audit the MD's potential on its own production trajectory (see the module docstring).

    ``reference_factory``: zero-argument factory of the reference calculator (default: the campaign's
    reference, :func:`seilab.reference.get_calculator`). ``backend``: the MLIP backend (default: the
    potential's). Returns the content of ``simulation/audit.json`` (``{"skipped": True, ...}`` and
    nothing written when ``simulation.audit`` is false).
    """
    say = progress or (lambda m: None)
    s = campaign.simulation
    if not s.audit:
        return {"skipped": True, "reason": "simulation.audit is false"}
    t_start = time.perf_counter()
    from seilab.learning.gamma import model_calculator, per_atom_gamma, potential_cutoff
    from seilab.reference import describe
    from seilab.md.engine import load_state

    folder = campaign.stage_dir("simulation")
    latest_path, latest = read_latest(folder)
    run_dir = Path(latest["run_dir"])
    ipath = Path(latest["interface"])
    elements = list(campaign.elements)

    pot, pot_source = md_potential(campaign, run_dir, reference_factory)
    if pot.asi is None or not Path(pot.asi).is_file():
        raise SeilabError(f"{pot.yaml}: no active set (.asi) beside the MD's potential; the audit needs γ "
                          "(set simulation.audit: false to skip it)")
    md_settings = {}
    if (run_dir / "result.json").is_file():
        md_settings = (provenance.read_json(run_dir / "result.json").get("provenance") or {}).get("settings") or {}
    dt_ps = float(md_settings.get("timestep_fs", s.timestep_fs)) / 1000.0
    traj = Trajectory(run_dir, elements, dump_every=md_settings.get("dump_every"))
    chosen = pick_frames(len(traj), s.audit_frames)

    learn = campaign.learning
    cutoff = float(learn.subcell_cutoff_A or potential_cutoff(pot))
    sub_settings = {"cutoff_A": cutoff, "subcell_atoms": learn.subcell_atoms, "vacuum_A": learn.subcell_vacuum_A,
                    "min_distance_A": learn.min_distance_A}
    settings = _settings_of(s)
    reference = describe(campaign.reference)
    state = load_state(run_dir)
    key = _key({"version": KEY_VERSION, "run": state.get("fingerprint"), "steps_done": state.get("steps_done"),
                "trajectory": [traj.path.name, traj.path.stat().st_size], "frames": [traj.steps[i] for i in chosen],
                "potential": {k: provenance.sha256_file(p) for k, p in (("yaml", pot.yaml), ("asi", pot.asi))},
                "reference_energies": pot.reference_energies, "interface": provenance.sha256_file(ipath),
                "settings": settings, "subcells": sub_settings, "reference": reference})
    out_json = folder / AUDIT_JSON
    cached = _cached(out_json, key)
    if cached is not None:
        say(f"audit: {out_json} is up to date ({cached.get('n_subcells', 0)} subcells), not redone")
        return cached

    # --- the built interface: sides and planes --------------------------------------------------
    interface = provenance.read_extxyz(ipath, index=-1)
    if "interface_side" not in interface.arrays:
        raise SeilabError(f"{ipath}: no per-atom interface_side array")
    side = np.asarray(interface.arrays["interface_side"]).astype(int)
    planes = interface_planes(interface.get_scaled_positions(wrap=True)[:, 2], side)
    h0 = cell_height(interface)
    say(f"audit: {len(chosen)} of {len(traj)} frames of {traj.path} (steps {[traj.steps[i] for i in chosen]}); "
        f"interface planes at z = {planes[0] * h0:.2f}, {planes[1] * h0:.2f} Å; potential {pot.yaml}")

    # --- γ, regions, subcells per frame -------------------------------------------------------------
    from ase.data import atomic_numbers

    from seilab.learning.subcells import cut_subcells
    from seilab.reference.store import structure_hash

    be = backend
    if be is None:
        from seilab.training.backends import get_backend

        be = get_backend(pot.backend)
    gcalc = model_calculator(pot, be, gamma=True)
    zs = [atomic_numbers[e] for e in elements]
    frames_out: list[dict] = []
    subcells: list = []          # (Atoms, meta)
    seen: set[str] = set()
    rejected = {"close_contact": 0, "overlap": 0, "boundary_atoms_removed": 0, "duplicates": 0}
    t_gamma = 0.0
    for fi, i in enumerate(chosen):
        frame = traj.read(i)
        step = int(traj.steps[i])
        if len(frame) != len(interface) or not np.array_equal(frame.numbers, interface.numbers):
            raise SeilabError(f"{traj.path}: frame at step {step} has other atoms ({len(frame)}) than the "
                              f"interface {ipath} ({len(interface)})")
        t0 = time.perf_counter()
        g = per_atom_gamma(frame, gcalc)
        t_gamma += time.perf_counter() - t0
        frac_z = frame.get_scaled_positions(wrap=True)[:, 2]
        height = cell_height(frame)
        reg = classify(frac_z, side, planes, height, s.audit_interphase_half_width_A)
        counts = {r: int(np.sum(reg == k)) for k, r in enumerate(REGIONS)}
        by_region = {r: ({"max": float(g[reg == k].max()), "mean": float(g[reg == k].mean())} if counts[r] else
                         {"max": None, "mean": None}) for k, r in enumerate(REGIONS)}
        groups: list[tuple[str, list[int], int]] = []
        if s.audit_top_gamma:
            groups.append(("top_gamma", list(np.argsort(-g, kind="stable")), s.audit_top_gamma))
        rng = np.random.default_rng([int(s.seed), step])
        cut_kw = dict(cutoff=cutoff, n_atoms=learn.subcell_atoms, vacuum=learn.subcell_vacuum_A,
                      min_distance=learn.min_distance_A, max_gamma=np.inf, elements=zs)
        n_before = len(subcells)
        taken: set[int] = set()
        for sel, centres, k_max in groups:
            cells, rep = cut_subcells(frame, g, max_subcells=k_max, centres=centres, **cut_kw)
            _add(cells, rep, sel, reg, fi, step, dt_ps, cutoff, subcells, seen, rejected, structure_hash)
            taken |= {sc.centre for sc in cells}
        if s.audit_random:
            for k, r in enumerate(REGIONS):
                pool = np.setdiff1d(np.flatnonzero(reg == k), np.fromiter(taken, dtype=int, count=len(taken)))
                if not len(pool):
                    continue
                cells, rep = cut_subcells(frame, g, max_subcells=s.audit_random, centres=rng.permutation(pool),
                                          **cut_kw)
                _add(cells, rep, "random", reg, fi, step, dt_ps, cutoff, subcells, seen, rejected, structure_hash)
        frames_out.append({
            "frame_index": int(i), "step": step, "time_ps": step * dt_ps, "n_atoms": len(frame),
            "height_A": height, "planes_frac": [float(p) for p in planes],
            "planes_z_A": [float(p * height) for p in planes], "gamma_max": float(g.max()),
            "gamma_mean": float(g.mean()), "frac_gamma_gt_1": float(np.mean(g > 1.0)),
            "region_atoms": counts, "gamma_by_region": by_region, "n_subcells": len(subcells) - n_before,
            "profile": gamma_profile(frac_z * height, height, g, s.audit_z_bin_A)})
        per_region = ", ".join(f"{r} {by_region[r]['max']:.3g}" for r in REGIONS if counts[r])
        say(f"audit: step {step}: max γ {g.max():.3g} ({per_region}); {len(subcells) - n_before} subcells")

    # --- reference labels (resumable through the store) ------------------------------------------
    from seilab.reference.labelling import label_structures
    from seilab.reference.store import DatasetStore

    audit_dir = folder / AUDIT_DIR
    store = DatasetStore(store_dir(audit_dir, reference), reference=reference)
    factory = reference_factory
    if factory is None:
        from seilab.reference import get_calculator

        factory = functools.partial(get_calculator, campaign.reference)
    tagged = []
    for a, meta in subcells:
        b = _plain(a)
        b.info.update(kind="audit", phase=meta["region"], source=f"audit:{meta['step']}:atom{meta['centre']}")
        tagged.append(b)
    t0 = time.perf_counter()
    report = label_structures(tagged, store, factory, workers=learn.workers, threads=campaign.reference.threads,
                              progress=False)
    t_label = time.perf_counter() - t0
    say(f"audit: {report.labelled} subcells labelled, {report.already_in_store} already labelled, "
        f"{len(report.failed)} failed ({t_label:.1f} s)")

    # --- model predictions and errors -----------------------------------------------------------
    import pandas as pd

    from seilab.training.metrics import predict

    e0 = pot.reference_energies or {}
    rows, kept = [], []
    for a, meta in subcells:
        h = meta["hash"]
        if h not in store:
            continue
        lab = store.get(h).atoms
        missing = set(a.get_chemical_symbols()) - set(e0)
        if missing:
            raise SeilabError(f"{pot.yaml}: no reference energy for {sorted(missing)} in its training generation")
        e_ref = float(lab.get_potential_energy())
        rows.append({"ase_atoms": _plain(a), "energy": e_ref, "forces": np.asarray(lab.get_forces(), dtype=float),
                     "energy_corrected": e_ref - sum(e0[x] for x in a.get_chemical_symbols()),
                     "kind": meta["region"]})
        kept.append((a, meta))
    t0 = time.perf_counter()
    calc = be.calculator(pot)
    pred = predict(calc, pd.DataFrame(rows)) if rows else {"e_ref": np.zeros(0), "e_pred": np.zeros(0),
                                                             "f_ref": [], "f_pred": [], "kind": [], "symbols": [],
                                                             "n_atoms": []}
    t_pred = time.perf_counter() - t0
    cores = [a.arrays["audit_core"].astype(bool) for a, _ in kept]
    agg = aggregate_errors(pred, cores, REGIONS)
    sel_pred = dict(pred, kind=[m["selection"] for _, m in kept])
    by_sel = aggregate_errors(sel_pred, cores, SELECTIONS)["groups"]
    errors = {"all": agg["all"], "regions": {r: agg["groups"][r] for r in REGIONS}, "by_selection": by_sel,
              "force_by_element": agg["force_by_element"]}
    test = potential_test_errors(pot)
    warnings = audit_warnings(errors, test, s.audit_warn_factor)
    if test is None:
        warnings.append(f"no test-set errors for {pot.yaml} (metrics.json missing): nothing to compare with")
    if report.failed:
        warnings.append(f"{len(report.failed)} subcells failed in the reference and are not counted")
    if rejected["close_contact"]:
        warnings.append(f"{rejected['close_contact']} subcell centres rejected: atoms closer than "
                        f"learning.min_distance_A = {learn.min_distance_A} Å in the frame")
    if not kept:
        warnings.append("no subcell could be labelled: no audit errors")
    if pot.generation is None:
        warnings.append(f"{pot.yaml} is not a training generation: energies are compared with the campaign's "
                        "reference energies (training.reference_energies), which may not be those it was fitted with")

    entries, labelled_frames = [], []
    for n, (a, meta) in enumerate(kept):
        core = cores[n]
        fp, fr = pred["f_pred"][n], pred["f_ref"][n]
        de = float((pred["e_pred"][n] - pred["e_ref"][n]) * 1000.0)
        f_core = float(np.sqrt(np.mean((fp[core] - fr[core]) ** 2)) * 1000.0)
        f_all = float(np.sqrt(np.mean((fp - fr) ** 2)) * 1000.0)
        entry = {**{k: meta[k] for k in ("frame", "step", "time_ps", "region", "selection", "centre",
                                         "gamma_centre", "gamma_max_core", "hash")},
                 "n_atoms": len(a), "n_core": int(core.sum()), "energy_error_meV_per_atom": de,
                 "force_rmse_core_meV_per_A": f_core, "force_rmse_all_meV_per_A": f_all}
        entries.append(entry)
        lab = store.get(meta["hash"]).atoms
        out = a.copy()
        from ase.calculators.singlepoint import SinglePointCalculator

        out.arrays["model_forces"] = np.asarray(fp, dtype=float)
        out.arrays["audit_core"] = core.astype(np.int8)
        out.info = {"audit_region": meta["region"], "audit_selection": meta["selection"], "audit_frame": meta["frame"],
                    "audit_step": meta["step"], "audit_time_ps": meta["time_ps"],
                    "subcell_centre": meta["centre_local"],
                    "subcell_centre_parent": meta["centre"], "gamma_centre": meta["gamma_centre"],
                    "gamma_max_core": meta["gamma_max_core"], "subcell_cutoff_A": cutoff,
                    "energy_error_meV_per_atom": de, "force_rmse_core_meV_per_A": f_core,
                    "model_energy_corrected_eV": float(pred["e_pred"][n] * len(a)),
                    "reference_energy_corrected_eV": float(pred["e_ref"][n] * len(a)), "structure_hash": meta["hash"]}
        out.calc = SinglePointCalculator(out, energy=float(lab.get_potential_energy()),
                                         forces=np.asarray(lab.get_forces(), dtype=float))
        labelled_frames.append(out)

    sub_path = audit_dir / SUBCELLS
    inputs = [latest_path, ipath, traj.path, pot.yaml, pot.asi] + ([pot.metrics] if pot.metrics else [])
    rec = provenance.record("simulation-audit", inputs=inputs, settings={**settings, **sub_settings},
                            reference=reference, key=key)
    if labelled_frames:
        provenance.write_extxyz(sub_path, labelled_frames, rec)
    else:  # nothing labelled this time: no stale subcells of an earlier audit
        sub_path.unlink(missing_ok=True)
        provenance.sidecar_path(sub_path).unlink(missing_ok=True)
    fig_path = audit_figure(frames_out, errors, test, folder / FIGURE, s.audit_interphase_half_width_A,
                            s.audit_warn_factor)
    data = {
        "key": key, "run_dir": str(run_dir), "trajectory": str(traj.path), "interface": str(ipath),
        "engine": latest.get("engine"), "md_status": latest.get("status"), "steps_done": latest.get("steps_done"),
        "potential": {"yaml": str(pot.yaml), "asi": str(pot.asi), "generation": pot.generation,
                      "source": pot_source, "reference_energies": dict(e0), "gate": latest.get("potential_gate")},
        "settings": {**settings, **sub_settings},
        "region_rule": (f"interphase: minimum-image z distance <= {s.audit_interphase_half_width_A} Å from either "
                        "interface plane of the built sandwich (planes in fractional z, from interface_side); "
                        "otherwise metal (interface_side 1) or electrolyte (0) by the starting side"),
        "interface_planes_frac": [float(p) for p in planes], "interface_planes_z_A": [float(p * h0) for p in planes],
        "frames": frames_out, "n_subcells": len(entries), "subcells": entries, "errors": errors,
        "test": test, "ratio_to_test": _ratios(errors, test), "warnings": warnings,
        "labelling": {"labelled": report.labelled, "already_in_store": report.already_in_store,
                      "duplicates": report.duplicates, "failed": report.failed,
                      "label_seconds": round(report.label_seconds, 2)},
        "cutting": rejected,
        "units": {"energy": "meV/atom (energy_corrected per atom)", "force": "meV/Å per Cartesian component, "
                  "core atoms (within the cutoff of the centre) only"},
        "files": {"audit": str(out_json), "subcells": str(sub_path) if labelled_frames else None,
                  "figure": str(fig_path), "store": str(store.root)},
        "timing_s": {"gamma": round(t_gamma, 2), "label": round(t_label, 2), "predict": round(t_pred, 2),
                     "total": round(time.perf_counter() - t_start, 2)},
    }
    provenance.write_json(out_json, data, rec)
    for w in warnings:
        say(f"audit WARNING: {w}")
    e_all = errors["all"]
    if e_all["n_subcells"]:
        say(f"audit: {e_all['n_subcells']} subcells, energy RMSE {e_all['energy_meV_per_atom']['rmse']:.1f} meV/atom, "
            f"force RMSE {e_all['force_meV_per_A']['rmse']:.0f} meV/Å (test set: "
            f"{(test or {}).get('energy_meV_per_atom')}, {(test or {}).get('force_meV_per_A')}) → {out_json}")
    return provenance.read_json(out_json)


def store_dir(audit_dir: Path, reference: dict) -> Path:
    """The audit's label store for one reference (``audit/labels-<name>-<hash>``): another reference
    gets a store of its own instead of a refusal."""
    from seilab.reference.store import _ref_key  # the identity the store itself checks

    h = hashlib.sha256(_ref_key(reference).encode()).hexdigest()[:8]
    return Path(audit_dir) / f"labels-{reference.get('name', 'reference')}-{h}"


def _plain(a):
    from ase import Atoms

    return Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=a.pbc)


def _add(cells, rep, selection, reg, fi, step, dt_ps, cutoff, out, seen, rejected, structure_hash) -> None:
    rejected["close_contact"] += rep.get("close_contact", 0)
    rejected["overlap"] += rep.get("overlap", 0)
    rejected["boundary_atoms_removed"] += rep.get("boundary_atoms_removed", 0)
    for sc in cells:
        a = sc.atoms
        h = structure_hash(a)
        if h in seen:
            rejected["duplicates"] += 1
            continue
        seen.add(h)
        core = core_mask(a, sc.centre_local, cutoff)
        a.arrays["audit_core"] = core
        pg = a.arrays.get("parent_gamma")
        meta = {"frame": int(fi), "step": int(step), "time_ps": step * dt_ps, "region": REGIONS[int(reg[sc.centre])],
                "selection": selection, "centre": int(sc.centre), "centre_local": int(sc.centre_local),
                "gamma_centre": float(sc.gamma_centre) if sc.gamma_centre is not None else None,
                "gamma_max_core": float(np.max(pg[core])) if pg is not None else None, "hash": h}
        out.append((a, meta))
