"""The dataset store: labelled structures on disk, one file each, de-duplicated by structure hash.

Layout of a store folder::

    store.json                      reference name + settings + versions (one reference per store)
    summary.json, composition.png   what the store holds, per kind / phase / origin (refreshed by the
                                    labelling stage and by each active-learning label step)
    labels/<h[:2]>/<hash>.extxyz    one labelled structure (energy, forces, stress in the extxyz)
    labels/<h[:2]>/<hash>.extxyz.json  its provenance sidecar (kind, phase, source, label time)

One file per label makes labelling resumable and parallel-safe: a label exists once its file was
atomically renamed into place, so a killed run loses at most the structures in flight, and a rerun
skips every hash already present. :meth:`DatasetStore.to_pacemaker` exports the pandas pickle that
pacemaker reads (``ase_atoms``, ``energy``, ``forces``, ``energy_corrected``, ...).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from seilab import provenance
from seilab.errors import SeilabError

#: Structure kinds the pipeline uses (free text is allowed, these get metrics of their own).
KINDS = ("crystalline", "amorphous", "interface", "perturbed", "hot_md", "active_learning", "other")


def structure_hash(atoms, decimals: int = 4) -> str:
    """Hash of species, positions, cell and pbc (rounded to 1e-4 Å); order-sensitive.

    Two structures with the same hash are the same labelling job. Positions are wrapped into the
    cell first so that periodic images of the same structure hash alike.
    """
    h = hashlib.sha256()
    h.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    cell = np.round(np.asarray(atoms.cell.array, dtype=float), decimals) + 0.0
    h.update(cell.tobytes())
    h.update(np.asarray(atoms.pbc, dtype=bool).tobytes())
    if atoms.cell.rank == 3 and all(atoms.pbc):
        frac = atoms.get_scaled_positions(wrap=True)
        pos = np.round(frac @ atoms.cell.array, decimals) + 0.0
    else:
        pos = np.round(atoms.positions, decimals) + 0.0
    h.update(pos.tobytes())
    return h.hexdigest()[:32]


@dataclass
class Label:
    """One labelled structure as read back from the store."""

    hash: str
    atoms: object  # ase.Atoms with a SinglePointCalculator
    meta: dict


class DatasetStore:
    """A folder of labelled structures for one reference.

    Parameters
    ----------
    root:
        Store folder (created when needed).
    reference:
        The reference description (:func:`seilab.reference.describe`). A store refuses labels from
        a different reference so datasets never silently mix levels of theory.
    """

    @staticmethod
    def holds_labels(root: str | Path) -> bool:
        """Whether ``root`` is a store with labels (its ``labels/`` folder exists)."""
        return (Path(root) / "labels").is_dir()

    def __init__(self, root: str | Path, reference: dict | None = None):
        self.root = Path(root)
        self.labels_dir = self.root / "labels"
        meta_path = self.root / "store.json"
        if meta_path.is_file():
            meta = provenance.read_json(meta_path)
            stored = meta.get("reference")
            if reference is not None and stored is not None and _ref_key(stored) != _ref_key(reference):
                raise SeilabError(
                    f"{meta_path}: this store holds labels from reference {_ref_key(stored)}, "
                    f"not {_ref_key(reference)}; use another output folder")
            self.reference = stored
        else:
            self.reference = reference
            if reference is not None:
                provenance.write_json(meta_path, {"reference": reference},
                                      provenance.record("reference-store"))

    # -- paths -------------------------------------------------------------------------------
    def path(self, h: str) -> Path:
        return self.labels_dir / h[:2] / f"{h}.extxyz"

    def __contains__(self, item) -> bool:
        h = item if isinstance(item, str) else structure_hash(item)
        return self.path(h).is_file()

    def hashes(self) -> list[str]:
        if not self.labels_dir.is_dir():
            return []
        return sorted(p.name[: -len(".extxyz")] for p in self.labels_dir.glob("*/*.extxyz"))

    def __len__(self) -> int:
        return len(self.hashes())

    # -- writing -----------------------------------------------------------------------------
    def add(self, labelled, kind: str = "other", phase: str = "", source: str = "", seconds: float | None = None,
            extra: dict | None = None) -> str:
        """Store one labelled structure (ASE Atoms carrying energy/forces); returns its hash.

        Adding a structure already in the store is a no-op (de-duplication).
        """
        if labelled.calc is None or "energy" not in labelled.calc.results or "forces" not in labelled.calc.results:
            raise SeilabError("dataset store: a structure must carry energy and forces to be stored")
        h = structure_hash(labelled)
        path = self.path(h)
        if path.is_file():
            return h
        atoms = labelled.copy()
        atoms.calc = labelled.calc
        atoms.info.update(kind=kind, phase=phase, structure_hash=h)
        meta = {"hash": h, "kind": kind, "phase": phase, "source": source,
                "n_atoms": len(atoms), "formula": atoms.get_chemical_formula(),
                "label_seconds": seconds, "reference": self.reference, **(extra or {})}
        provenance.write_extxyz(path, [atoms], provenance.record("label", settings=meta))
        return h

    # -- reading -----------------------------------------------------------------------------
    def get(self, h: str) -> Label:
        path = self.path(h)
        atoms = provenance.read_extxyz(path, index=0)
        side = provenance.sidecar_path(path)
        meta = json.loads(side.read_text())["settings"] if side.is_file() else {}
        return Label(h, atoms, meta)

    def __iter__(self) -> Iterator[Label]:
        for h in self.hashes():
            yield self.get(h)

    def frames(self, kinds: Iterable[str] | None = None) -> list:
        """All labelled structures (ASE Atoms), optionally only some kinds."""
        keep = set(kinds) if kinds is not None else None
        return [lab.atoms for lab in self if keep is None or lab.meta.get("kind") in keep]

    def summary(self) -> list[dict]:
        """Rows of (kind, phase, n_structures, n_atoms, label_seconds) for a summary table."""
        return self._grouped(by_origin=False)

    def composition(self) -> list[dict]:
        """Rows (kind, phase, origin, structures, atoms, label_seconds) for the dataset figure.

        ``origin`` is ``"sampling"`` for first-generation structures and the generation (``"gen001"``,
        ...) for active-learning labels (their ``source`` starts with it)."""
        return self._grouped(by_origin=True)

    def _label_meta(self) -> Iterator[tuple[dict, int]]:
        """(sidecar settings, number of atoms) of every label, from the JSON sidecars only (fast); a
        label without a readable sidecar is read whole (empty meta, as :meth:`get` gives it)."""
        for h in self.hashes():
            try:
                meta = json.loads(provenance.sidecar_path(self.path(h)).read_text())["settings"]
                n_atoms = int(meta["n_atoms"])
            except (OSError, ValueError, KeyError, TypeError):
                lab = self.get(h)
                meta, n_atoms = lab.meta, len(lab.atoms)
            yield meta, n_atoms

    def _grouped(self, by_origin: bool) -> list[dict]:
        rows: dict[tuple, dict] = {}
        for meta, n_atoms in self._label_meta():
            key = (meta.get("kind", ""), meta.get("phase", ""))
            if by_origin:
                source = str(meta.get("source") or "")
                key += (source.split(":")[0] if key[0] == "active_learning" and source.startswith("gen")
                        else "sampling",)
            row = rows.get(key)
            if row is None:
                row = rows[key] = {"kind": key[0], "phase": key[1], **({"origin": key[2]} if by_origin else {}),
                                   "structures": 0, "atoms": 0, "label_seconds": 0.0}
            row["structures"] += 1
            row["atoms"] += n_atoms
            row["label_seconds"] += meta.get("label_seconds") or 0.0
        return [rows[k] for k in sorted(rows)]

    def write_summary(self) -> dict:
        """Write ``summary.json`` and ``composition.png`` into the store folder; returns the summary."""
        from seilab.reference.figures import plot_composition

        rows = self.composition()
        data = {"structures": sum(r["structures"] for r in rows), "atoms": sum(r["atoms"] for r in rows),
                "per_kind": _totals(rows, "kind"), "per_origin": _totals(rows, "origin"), "rows": rows,
                "reference": self.reference}
        provenance.write_json(self.root / "summary.json", data, provenance.record("reference-store-summary"))
        if rows:
            plot_composition(rows, self.root / "composition.png")
        return data

    def to_dataframe(self, reference_energies: dict[str, float]):
        """pacemaker's DataFrame: ase_atoms, energy, forces, energy_corrected (+ kind, phase, name).

        ``energy_corrected = energy - Σ_atoms reference_energies[element]`` (eV). When some label carries
        per-atom force weights (active-learning subcells), a ``force_weight`` column holds them (ones for
        the other structures).
        """
        import pandas as pd

        rows = []
        for lab in self:
            atoms = lab.atoms
            missing = set(atoms.get_chemical_symbols()) - set(reference_energies)
            if missing:
                raise SeilabError(f"reference_energies: no value for element(s) {sorted(missing)}")
            energy = float(atoms.get_potential_energy())
            e0 = sum(reference_energies[s] for s in atoms.get_chemical_symbols())
            plain = atoms.copy()
            plain.calc = None
            plain.info = {}
            rows.append({"name": lab.hash, "ase_atoms": plain, "energy": energy,
                         "forces": np.asarray(atoms.get_forces()), "energy_corrected": energy - e0,
                         "kind": lab.meta.get("kind", ""), "phase": lab.meta.get("phase", ""),
                         "n_atoms": len(atoms), "force_weight": lab.meta.get("force_weight")})
        df = pd.DataFrame(rows)
        if df.empty or df["force_weight"].isna().all():
            return df.drop(columns="force_weight", errors="ignore")
        df["force_weight"] = [np.ones(n) if w is None else np.asarray(w, dtype=float)
                              for w, n in zip(df["force_weight"], df["n_atoms"])]
        return df

    def to_pacemaker(self, path: str | Path, reference_energies: dict[str, float]) -> Path:
        """Write the pacemaker pandas pickle (gzip) and its provenance sidecar; returns the path."""
        import os

        df = self.to_dataframe(reference_energies)
        if df.empty:
            raise SeilabError(f"{self.root}: the dataset store is empty, nothing to export")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        df.to_pickle(tmp, compression="gzip")
        os.replace(tmp, path)
        provenance.write_json(provenance.sidecar_path(path), {
            "n_structures": len(df), "n_atoms": int(df["n_atoms"].sum()),
            "reference_energies": reference_energies, "reference": self.reference,
        }, provenance.record("export-pacemaker", settings={"path": str(path)}))
        return path


def _totals(rows: list[dict], key: str) -> dict:
    out: dict = {}
    for r in rows:
        out[r[key]] = out.get(r[key], 0) + r["structures"]
    return out


def _ref_key(ref: dict) -> str:
    keys = ("name", "model", "xc", "ecut_Ry", "ecut_eV", "kpoint_density_per_A3")
    return json.dumps({k: ref.get(k) for k in keys if k in ref}, sort_keys=True)
