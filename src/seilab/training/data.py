"""Training data: reference energies, a fixed train/test split, pacemaker pickles.

**Reference energies** (``training.reference_energies``): pacemaker fits ``energy_corrected = E -
Σ_atoms e_el``. ``isolated_atoms`` (default) takes e_el from the reference calculator (one atom in a
16 Å box), cached in ``<output>/training/reference_energies.json`` next to the reference's
description (recomputed when the reference changes); ``least_squares`` fits e_el to the dataset's
energies by composition (changes when the data change); ``zero`` fits raw energies. The values are
passed to pacemaker as ``data: reference_energy`` and so are stored in the potential's metadata.
A model's energy is therefore *E − Σ e_el*; compare shapes (binding curves, EOS), not absolute values.

**Split** (``training.test_fraction``, ``training.seed``): a structure is in the test set when
``sha256(f"{seed}:{structure_hash}")`` mapped to [0, 1) is below the fraction. The decision depends
only on the structure, so the test set stays fixed as the dataset grows over generations (new
structures are split with the same rule; no structure ever moves between sets). When the rule puts
no structure of the dataset in the test set (tiny datasets) the structure with the smallest score is
used. ``split.json`` records both hash lists.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from seilab import provenance
from seilab.errors import SeilabError


def split_score(structure_hash: str, seed: int) -> float:
    h = hashlib.sha256(f"{seed}:{structure_hash}".encode()).hexdigest()
    return int(h[:15], 16) / float(16 ** 15)


def split_names(names, fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, test) names by the hash rule (see module docstring)."""
    names = list(names)
    if fraction <= 0 or len(names) < 2:
        return names, []
    scores = {n: split_score(n, seed) for n in names}
    test = [n for n in names if scores[n] < fraction]
    if not test:
        test = [min(names, key=scores.get)]
    if len(test) == len(names):
        test.remove(max(test, key=scores.get))
    tset = set(test)
    return [n for n in names if n not in tset], test


def least_squares_energies(df, elements) -> dict[str, float]:
    """Per-element energies that best explain the dataset's total energies (lstsq on composition)."""
    counts = np.array([[a.get_chemical_symbols().count(el) for el in elements] for a in df["ase_atoms"]],
                      dtype=float)
    energies = df["energy"].to_numpy(dtype=float)
    coef, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return {el: float(c) for el, c in zip(elements, coef)}


def reference_energies(campaign, store=None, df=None, calc_factory=None) -> dict[str, float]:
    """Per-element energies for ``energy_corrected`` according to ``training.reference_energies``."""
    mode = campaign.training.reference_energies
    elements = list(campaign.elements)
    if mode == "zero":
        return {el: 0.0 for el in elements}
    if mode == "least_squares":
        if df is None:
            raise SeilabError("training.reference_energies: least_squares needs the dataset")
        return least_squares_energies(df, elements)
    from seilab.reference import describe, isolated_atom_energies

    ref = describe(campaign.reference)
    cache = campaign.stage_dir("training") / "reference_energies.json"
    if cache.is_file():
        data = provenance.read_json(cache)
        if data.get("reference") == ref and set(elements) <= set(data.get("energies", {})):
            return {el: float(data["energies"][el]) for el in elements}
    if calc_factory is None:
        from seilab.reference import get_calculator

        calc = get_calculator(campaign.reference, directory=campaign.stage_dir("training") / "isolated_atoms")
    else:
        calc = calc_factory()
    energies = isolated_atom_energies(elements, calc)
    provenance.write_json(cache, {"reference": ref, "energies": energies, "box_A": 16.0},
                          provenance.record("training-reference-energies", settings={"mode": mode}))
    return energies


def kind_weights(df, energy_by_kind: dict[str, float], force_by_kind: dict[str, float]):
    """``df`` with pacemaker's per-structure ``w_energy`` and per-atom ``w_forces`` columns.

    Without factors pacemaker's default (uniform) weighting applies: ``w_energy = 1/N_structures`` and
    every atom's force weight equal to its structure's energy weight. A factor of a structure ``kind``
    multiplies that structure's energy (or per-atom force) weight; pacemaker normalises both columns to
    sum 1, so only ratios matter. A ``force_weight`` column (per-atom, from the store: zero for subcell
    atoms at the cut) multiplies the force weights. Without factors and without that column the columns
    are not written and pacemaker weights uniformly, exactly as before.
    """
    per_atom = df["force_weight"] if "force_weight" in df.columns else None
    if not energy_by_kind and not force_by_kind and per_atom is None:
        return df
    df = df.copy()
    kinds = [str(k or "") for k in (df["kind"] if "kind" in df.columns else [""] * len(df))]
    base = 1.0 / len(df)
    df["w_energy"] = [base * energy_by_kind.get(k, 1.0) for k in kinds]
    df["w_forces"] = [np.full(len(a), base * force_by_kind.get(k, 1.0)) for a, k in zip(df["ase_atoms"], kinds)]
    if per_atom is not None:
        df["w_forces"] = [w * np.asarray(m, dtype=float) for w, m in zip(df["w_forces"], per_atom)]
    return df


def write_split(df, folder: Path, fraction: float, seed: int, energy_by_kind: dict[str, float] | None = None,
                force_by_kind: dict[str, float] | None = None) -> tuple[Path, Path | None, dict]:
    """Write ``train.pckl.gzip`` / ``test.pckl.gzip`` (pacemaker format) and ``split.json``; the training
    set carries the per-kind weights of :func:`kind_weights` when factors are given."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if df.empty:
        raise SeilabError("training: the dataset is empty")
    train_names, test_names = split_names(df["name"].tolist(), fraction, seed)
    train = df[df["name"].isin(set(train_names))].reset_index(drop=True)
    test = df[df["name"].isin(set(test_names))].reset_index(drop=True)
    train_path = _write_pickle(kind_weights(train, energy_by_kind or {}, force_by_kind or {}),
                               folder / "train.pckl.gzip")
    test_path = _write_pickle(test, folder / "test.pckl.gzip") if len(test) else None
    info = {"rule": "test iff sha256(f'{seed}:{structure_hash}') < test_fraction", "seed": seed,
            "test_fraction": fraction, "n_train": len(train), "n_test": len(test),
            "train": sorted(train_names), "test": sorted(test_names)}
    provenance.write_json(folder / "split.json", info)
    return train_path, test_path, info


def _write_pickle(df, path: Path) -> Path:
    """Write deterministically-ordered pickle (atomic) so identical data give identical hashes."""
    import os

    df = df.sort_values("name").reset_index(drop=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    df.to_pickle(tmp, compression={"method": "gzip", "mtime": 0})
    if path.is_file() and provenance.sha256_file(path) == provenance.sha256_file(tmp):
        tmp.unlink()  # unchanged: keep the old file (and its mtime)
    else:
        os.replace(tmp, path)
    return path


def data_signature(df) -> str:
    """Hash of the dataset's content (names, energies) independent of file encoding."""
    h = hashlib.sha256()
    for name, e in sorted(zip(df["name"], df["energy"])):
        h.update(f"{name}:{float(e):.8f};".encode())
    return h.hexdigest()
