"""Generation bookkeeping of the training stage with a fake backend (fast; no pacemaker)."""

import json
from pathlib import Path

import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes

from seilab.training.backend import MLIPBackend, Potential


class ZeroCalculator(Calculator):
    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3)), "stress": np.zeros(6)}


class FakeBackend:
    """Writes a text 'potential' and records how it was asked to fit."""

    name = "pacemaker"

    def __init__(self):
        self.calls = []

    def fit(self, data, workdir, settings, init_from=None, progress=None):
        self.calls.append({"workdir": Path(workdir), "init_from": init_from, "train": data.train})
        y = Path(workdir) / "potential.yaml"
        y.write_text(f"fake potential from {data.train}\ninit: {init_from.yaml if init_from else None}\n")
        return Potential(yaml=y, elements=data.elements, reference_energies=data.reference_energies)

    def calculator(self, potential, gamma=False):
        return ZeroCalculator()

    def active_set(self, potential, dataset):  # pragma: no cover
        raise NotImplementedError


def _store(tmp_path, n=12):
    """A store of n labelled Li2S/Li3P cells with made-up energies (no reference calculator)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from seilab.reference.store import DatasetStore
    from fixtures.training import demo_structures

    store = DatasetStore(tmp_path / "out" / "dataset", reference={"name": "chgnet", "model": "0.3.0"})
    rng = np.random.default_rng(0)
    for a in demo_structures(("Li2S", "Li3P"), per_phase=n // 2, seed=1):
        a.calc = SinglePointCalculator(a, energy=-3.0 * len(a) + rng.normal(), forces=rng.normal(size=(len(a), 3)))
        store.add(a, kind=a.info["kind"], phase=a.info["phase"])
    return store


def _campaign(tmp_path, **training):
    from fixtures.training import demo_campaign

    training = {"reference_energies": "least_squares", **training}
    return demo_campaign(tmp_path / "out", phases=("Li2S", "Li3P", "Li_bcc", "Li7P3S11"), training=training)


def test_fake_backend_satisfies_the_protocol():
    assert isinstance(FakeBackend(), MLIPBackend)


def test_generations_skip_resume_and_warm_start(tmp_path):
    from seilab.training.stage import latest_potential, run_training

    store = _store(tmp_path)
    c = _campaign(tmp_path)
    b = FakeBackend()
    r0 = run_training(c, backend=b)
    assert r0.generation == "gen000" and not r0.skipped and b.calls[0]["init_from"] is None
    gdir = c.stage_dir("training") / "gen000"
    for name in ("metrics.json", "parity.png", "done.json", "inputs.json", "data/split.json"):
        assert (gdir / name).is_file()
    m = json.loads((gdir / "metrics.json").read_text())
    assert m["train"]["n_structures"] + m["test"]["n_structures"] == len(store)

    # same data and settings: nothing to do
    r = run_training(c, backend=b)
    assert r.skipped and len(b.calls) == 1

    # new labels: a new generation, warm-started from the previous one, same test structures kept
    from ase.calculators.singlepoint import SinglePointCalculator

    from fixtures.training import demo_structures

    old_test = set(json.loads((gdir / "data" / "split.json").read_text())["test"])
    for a in demo_structures(("Li2S",), per_phase=4, seed=7):
        a.calc = SinglePointCalculator(a, energy=-3.0 * len(a), forces=np.zeros((len(a), 3)))
        store.add(a, kind="active_learning", phase="Li2S")
    r1 = run_training(c, backend=b)
    assert r1.generation == "gen001" and b.calls[-1]["init_from"].generation == "gen000"
    new_split = json.loads((c.stage_dir("training") / "gen001" / "data" / "split.json").read_text())
    assert old_test <= set(new_split["test"])
    assert latest_potential(c).generation == "gen001"

    # an interrupted generation (no done.json) is resumed in place, not duplicated
    (c.stage_dir("training") / "gen001" / "done.json").unlink()
    r1b = run_training(c, backend=b)
    assert r1b.generation == "gen001" and b.calls[-1]["workdir"].name == "gen001"

    # warm start off: the next generation starts from scratch
    c2 = _campaign(tmp_path, warm_start=False, seed=3)
    r2 = run_training(c2, backend=b)
    assert r2.generation == "gen002" and b.calls[-1]["init_from"] is None


def test_missing_dataset_is_a_one_line_error(tmp_path):
    from seilab.errors import SeilabError
    from seilab.training.stage import run_training

    with pytest.raises(SeilabError, match="no labelled structures"):
        run_training(_campaign(tmp_path), backend=FakeBackend())


def test_dataset_from_another_reference_is_refused(tmp_path):
    from seilab.errors import SeilabError
    from seilab.training.stage import run_training

    _store(tmp_path)
    c = _campaign(tmp_path).model_copy(update={"reference": _campaign(tmp_path).reference.model_copy(
        update={"name": "espresso"})})
    with pytest.raises(SeilabError, match="labels come from reference"):
        run_training(c, backend=FakeBackend())


def test_a_refit_from_an_older_generation_gets_a_new_folder(tmp_path):
    """What active learning does after a regressed refit: fit again from gen000 while gen001 exists."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from seilab.training.stage import finished_record, run_training
    from fixtures.training import demo_structures

    store = _store(tmp_path)
    c = _campaign(tmp_path)
    b = FakeBackend()
    g0 = run_training(c, backend=b)
    for seed in (7, 8):
        for a in demo_structures(("Li2S",), per_phase=2, seed=seed):
            a.calc = SinglePointCalculator(a, energy=-3.0 * len(a), forces=np.zeros((len(a), 3)))
            store.add(a, kind="active_learning", phase="Li2S")
        r = run_training(c, init_from=g0.potential, backend=b)
    gen1 = c.stage_dir("training") / "gen001"
    assert r.generation == "gen002" and b.calls[-1]["init_from"].generation == "gen000"
    assert finished_record(gen1) is not None          # the regressed refit is kept, not overwritten
    assert run_training(c, init_from=g0.potential, backend=b).skipped
