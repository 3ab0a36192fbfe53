"""The training stage: dataset store → fixed split → backend fit → metrics, one *generation* per fit.

Layout of ``<output>/training/``::

    reference_energies.json          per-element energies (isolated atoms), cached per reference
    gen000/                          one generation (gen001 is the next, warm-started from gen000)
        inputs.json                  signature of settings + data + reference energies, warm start
        data/{train,test}.pckl.gzip  the split pacemaker fits / metrics are computed on
        data/split.json              structure hashes of each set (the rule is in seilab.training.data)
        stage1/, stage2/             one pacemaker run per kappa stage (checkpoints, logs)
        potential.yaml / .yace / .asi
        metrics.json, parity.png
        done.json                    written last: the generation is finished

Which generation runs: the newest one when it is unfinished (resumed from its checkpoints); nothing
when the newest finished generation has the same signature (skipped); otherwise a new generation,
warm-started from the newest finished one when ``training.warm_start`` is true.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from seilab import provenance
from seilab.errors import SeilabError
from seilab.training.backend import MLIPBackend, Potential, TrainingData
from seilab.training.backends import get_backend

GEN_RE = re.compile(r"^gen(\d{3,})$")
DONE = "done.json"
INPUTS = "inputs.json"


def generation_name(index: int) -> str:
    return f"gen{index:03d}"


def generations(campaign) -> list[tuple[int, Path]]:
    """Existing generation folders (finished or not), oldest first."""
    root = campaign.stage_dir("training")
    if not root.is_dir():
        return []
    out = []
    for p in root.iterdir():
        m = GEN_RE.match(p.name)
        if m and p.is_dir():
            out.append((int(m.group(1)), p))
    return sorted(out)


def finished_record(gen_dir: Path) -> dict | None:
    """The ``done.json`` of a finished generation whose files still match their hashes, else None."""
    rec = provenance.load_json(Path(gen_dir) / DONE)  # None when missing or unreadable
    if rec is None:
        return None
    for name, sha in (rec.get("files") or {}).items():
        f = Path(gen_dir) / name
        if not f.is_file() or provenance.sha256_file(f) != sha:
            return None
    return rec


def potential_of(gen_dir: Path, rec: dict | None = None) -> Potential:
    rec = rec if rec is not None else finished_record(gen_dir)
    if rec is None:
        raise SeilabError(f"{gen_dir}: not a finished training generation")
    gen_dir = Path(gen_dir)
    p = rec["potential"]
    opt = lambda name: gen_dir / name if (name and (gen_dir / name).is_file()) else None  # noqa: E731
    return Potential(yaml=gen_dir / p["yaml"], yace=opt(p.get("yace")), asi=opt(p.get("asi")),
                     metrics=opt("metrics.json"), backend=p.get("backend", "pacemaker"), generation=gen_dir.name,
                     elements=tuple(p.get("elements") or ()), reference_energies=dict(p.get("reference_energies") or {}))


def latest_potential(campaign) -> Potential:
    """The newest finished potential of the campaign (paths of .yaml, .yace, .asi, metrics.json)."""
    for _, gdir in reversed(generations(campaign)):
        rec = finished_record(gdir)
        if rec is not None:
            return potential_of(gdir, rec)
    raise SeilabError(f"{campaign.stage_dir('training')}: no finished potential; run `seilab train CONFIG` first")


@dataclass
class TrainingResult:
    potential: Potential
    generation: str
    metrics: dict
    skipped: bool = False
    directory: Path | None = None

    def summary(self) -> dict:
        test = (self.metrics or {}).get("test") or {}
        return {"potential": str(self.potential.yaml), "generation": self.generation,
                "test_energy_meV_per_atom": test.get("energy_meV_per_atom"),
                "test_force_meV_per_A": test.get("force_meV_per_A")}


def dataset_root(campaign) -> Path:
    return campaign.layout.dataset


#: labels the active-learning stage adds to the store; the first fit (generation 0) never sees them
LEARNED_KIND = "active_learning"


def load_dataframe(campaign, store_root: Path | None = None, progress=None, exclude_kinds: tuple = ()):
    """(DataFrame with energy_corrected, reference energies) from the campaign's dataset store, without
    the structures of ``exclude_kinds``."""
    from seilab.reference import describe
    from seilab.reference.store import DatasetStore
    from seilab.training.data import reference_energies

    root = Path(store_root) if store_root is not None else dataset_root(campaign)
    if not DatasetStore.holds_labels(root):
        raise SeilabError(f"{root}: no labelled structures; label the sampled structures first (seilab label CONFIG)")
    store = DatasetStore(root)
    ref_now = describe(campaign.reference)
    if store.reference and any(store.reference.get(k) != ref_now.get(k) for k in ("name", "model", "xc")
                               if k in ref_now):
        raise SeilabError(f"{root}: labels come from reference {store.reference.get('name')!r} "
                          f"{store.reference.get('model', '')}, the campaign's reference is {ref_now.get('name')!r}")
    elements = list(campaign.elements)
    from ase.data import chemical_symbols

    df = store.to_dataframe({el: 0.0 for el in chemical_symbols[1:]})  # raw energies; corrected below
    if exclude_kinds and not df.empty:
        df = df[~df["kind"].isin(exclude_kinds)].reset_index(drop=True)
    if df.empty:
        raise SeilabError(f"{root}: the dataset store is empty")
    seen = set()
    for a in df["ase_atoms"]:
        seen |= set(a.get_chemical_symbols())
    if seen - set(elements):
        raise SeilabError(f"{root}: dataset has elements {sorted(seen - set(elements))} not in the campaign's phases")
    e0 = reference_energies(campaign, df=df)
    df["energy_corrected"] = [float(e) - sum(e0[s] for s in a.get_chemical_symbols())
                              for e, a in zip(df["energy"], df["ase_atoms"])]
    return df, e0


def signature(settings, data_sig: str, ref_energies: dict, init_from: Potential | None) -> str:
    parts = {"settings": settings.model_dump(mode="json", exclude={"threads", "timeout_s", "display_step", "callbacks"}),
             "data": data_sig, "reference_energies": ref_energies,
             "init_from": provenance.sha256_file(init_from.yaml) if init_from is not None else None}
    return provenance.digest(parts)


def run_training(campaign, *, progress: Callable[[str], None] | None = None, generation: int | None = None,
                 init_from: Potential | None | str = "auto", backend: MLIPBackend | None = None,
                 store_root: Path | None = None) -> TrainingResult:
    """Fit (or resume, or skip) one generation; see the module docstring for which one. Generation 0
    (the first fit, what the campaign's training stage runs) is fitted on the first-generation dataset
    only: the active-learning labels that later joined the store are not part of it."""
    from seilab.training.data import data_signature, write_split

    say = progress or (lambda msg: None)
    settings = campaign.training
    backend = backend or get_backend(settings.backend)
    df, e0 = load_dataframe(campaign, store_root, say, exclude_kinds=(LEARNED_KIND,) if generation == 0 else ())
    data_sig = data_signature(df)
    gens = generations(campaign)

    def previous_finished(before: int) -> Potential | None:
        for idx, gdir in reversed(gens):
            if idx < before:
                rec = finished_record(gdir)
                if rec is not None:
                    return potential_of(gdir, rec)
        return None

    if generation is None:
        if not gens:
            generation = 0
        else:
            last_idx, last_dir = gens[-1]
            rec = finished_record(last_dir)
            if rec is None:
                generation = last_idx
            else:
                warm = previous_finished(last_idx) if (init_from == "auto" and settings.warm_start) else (
                    None if init_from == "auto" else init_from)
                if rec.get("signature") == signature(settings, data_sig, e0, warm):
                    say(f"{last_dir.name}: finished with the same settings and data, skipped")
                    metrics = provenance.read_json(last_dir / "metrics.json") if (last_dir / "metrics.json").is_file() else {}
                    return TrainingResult(potential_of(last_dir, rec), last_dir.name, metrics, skipped=True,
                                          directory=last_dir)
                generation = last_idx + 1
    if init_from == "auto":
        init_from = previous_finished(generation) if settings.warm_start else None
    gdir = campaign.stage_dir("training") / generation_name(generation)
    sig = signature(settings, data_sig, e0, init_from)
    rec = finished_record(gdir)
    if rec is not None and rec.get("signature") == sig:
        say(f"{gdir.name}: finished with the same settings and data, skipped")
        return TrainingResult(potential_of(gdir, rec), gdir.name, provenance.read_json(gdir / "metrics.json"),
                              skipped=True, directory=gdir)
    (gdir / DONE).unlink(missing_ok=True)
    gdir.mkdir(parents=True, exist_ok=True)
    old = _read(gdir / INPUTS)
    datadir = gdir / "data"
    if old.get("signature") == sig and (datadir / "train.pckl.gzip").is_file():
        train = datadir / "train.pckl.gzip"
        test = datadir / "test.pckl.gzip" if (datadir / "test.pckl.gzip").is_file() else None
        split = provenance.read_json(datadir / "split.json")
        say(f"{gdir.name}: resuming (same settings and data)")
    else:
        train, test, split = write_split(df, datadir, settings.test_fraction, settings.seed,
                                         settings.energy_weight_by_kind, settings.force_weight_by_kind)
        provenance.write_json(gdir / INPUTS, {
            "signature": sig, "data_signature": data_sig, "generation": gdir.name,
            "n_structures": len(df), "n_train": split["n_train"], "n_test": split["n_test"],
            "reference_energies": e0, "init_from": init_from.as_dict() if init_from else None,
        }, provenance.record("training", settings=settings.model_dump(mode="json")))
    say(f"{gdir.name}: {split['n_train']} train / {split['n_test']} test structures; "
        f"{'warm start from ' + str(init_from.generation or init_from.yaml) if init_from else 'from scratch'}")
    data = TrainingData(train=train, test=test, elements=tuple(campaign.elements), reference_energies=e0)
    pot = backend.fit(data, gdir, settings, init_from=init_from, progress=say)
    metrics = evaluate(backend, pot, data, gdir, title=f"{campaign.name} {gdir.name}")
    files = {p.name: provenance.sha256_file(p) for p in (pot.yaml, pot.yace, pot.asi) if p is not None}
    files["metrics.json"] = provenance.sha256_file(gdir / "metrics.json")
    pot_rec = {"yaml": pot.yaml.name, "yace": pot.yace.name if pot.yace else None,
               "asi": pot.asi.name if pot.asi else None, "backend": pot.backend,
               "elements": list(pot.elements), "reference_energies": e0}
    provenance.write_json(gdir / DONE, {"signature": sig, "generation": gdir.name, "files": files,
                                        "potential": pot_rec, "test": metrics.get("test")},
                          provenance.record("training", inputs=[train] + ([test] if test else []),
                                            settings=settings.model_dump(mode="json")))
    return TrainingResult(potential_of(gdir), gdir.name, metrics, directory=gdir)


def evaluate(backend, pot: Potential, data: TrainingData, folder: Path, title: str = "") -> dict:
    """metrics.json + parity.png for ``pot`` on the data's train and test sets."""
    import pandas as pd

    from seilab.training.metrics import error_metrics, parity_plot, predict

    calc = backend.calculator(pot)
    preds = {"train": predict(calc, pd.read_pickle(data.train, compression="gzip"))}
    preds["test"] = predict(calc, pd.read_pickle(data.test, compression="gzip")) if data.test else None
    metrics = {name: (error_metrics(p) if p is not None else None) for name, p in preds.items()}
    metrics["units"] = {"energy": "meV/atom (energy_corrected per atom)", "force": "meV/Å per Cartesian component"}
    parity_plot(preds, folder / "parity.png", title=title)
    provenance.write_json(folder / "metrics.json", metrics,
                          provenance.record("training-metrics", inputs=[pot.yaml, data.train]
                                            + ([data.test] if data.test else [])))
    return metrics


def _read(path: Path) -> dict:
    return provenance.load_json(path) or {}
