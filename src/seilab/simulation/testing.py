"""A tiny Li–P–S ACE potential for tests, benchmarks and the demo (not for science).

:func:`demo_potential` labels small rattled/strained cells of bundled phases (bcc Li, Li2S, Li3P,
Li7P3S11) plus a few small Li(100)/Li7P3S11(100) interface cells with CHGNet, exports them to
pacemaker's pickle and fits an ACE potential through :mod:`seilab.training`'s pacemaker backend
(``potential.yaml``, ``potential.yace``, ``potential.asi``). The result is cached in ``root`` keyed by
its parameters, so only the first call pays (~1–3 min on two cores).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from seilab import provenance
from seilab.errors import SeilabError

ELEMENTS = ("Li", "P", "S")


def _interface_cells(n: int, seed: int = 0) -> list:
    import numpy as np

    from seilab.simulation.interface import build_interface, bulk_phases

    bulk = bulk_phases(None)
    base = build_interface(bulk["Li_bcc"], bulk["Li7P3S11"], 150, anode_fraction=0.4, aspect_ratio=0.5,
                           anode_name="Li_bcc", electrolyte_name="Li7P3S11")
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = base.copy()
        a.positions += rng.normal(0.0, 0.04 + 0.04 * k, size=a.positions.shape)
        if k % 2:
            a.set_cell(a.cell.array * (1.0 + 0.02 * (k - n / 2) / n), scale_atoms=True)
        del a.arrays["interface_side"]
        a.info = {"phase": "Li_bcc|Li7P3S11", "kind": "interface"}
        out.append(a)
    return out


def demo_potential(root: str | Path, functions_per_element: int = 12, per_phase: int = 5, interfaces: int = 2,
                   cutoff_A: float = 5.0, maxiter: int = 30, seed: int = 0, activeset: bool = True, progress=None):
    """Fit (or reuse) a tiny ACE potential under ``root``; returns a ``seilab.training.Potential``."""
    from seilab.training.backend import Potential, TrainingData, get_backend

    say = progress or (lambda m: None)
    params = {"f": functions_per_element, "pp": per_phase, "if": interfaces, "rc": cutoff_A, "it": maxiter,
              "seed": seed, "v": 2, **({} if activeset else {"asi": False})}
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    folder = Path(root) / f"demo-ace-{key}"
    done = folder / "potential.json"
    if done.is_file():
        pot = Potential.from_dict(provenance.read_json(done))
        if pot.yaml.is_file() and (pot.asi.is_file() if pot.asi is not None else not activeset):
            return pot
    folder.mkdir(parents=True, exist_ok=True)
    from seilab.config import ReferenceSettings
    from seilab.reference import describe, get_calculator
    from seilab.reference.store import DatasetStore
    from seilab.training.data import least_squares_energies
    from seilab.training.testing import demo_structures, label_demo_dataset, tiny_training_settings

    ref = ReferenceSettings(name="chgnet")
    store = DatasetStore(folder / "store", reference=describe(ref))
    structs = demo_structures(per_phase=per_phase, seed=seed) + _interface_cells(interfaces, seed)
    say(f"labelling {len(structs)} structures with CHGNet")
    label_demo_dataset(store, get_calculator(ref), structs)
    df = store.to_dataframe({el: 0.0 for el in ELEMENTS})
    e_ref = least_squares_energies(df, list(ELEMENTS))
    train = store.to_pacemaker(folder / "train.pckl.gzip", e_ref)
    data = TrainingData(train=train, test=None, elements=ELEMENTS, reference_energies=e_ref)
    settings = tiny_training_settings(functions_per_element=functions_per_element, cutoff_A=cutoff_A,
                                      kappa_stages=[0.95], maxiter=[maxiter], ladder=False, seed=seed + 1,
                                      reference_energies="least_squares", activeset=activeset)
    say(f"fitting ACE ({functions_per_element} functions/element, {maxiter} iterations)")
    pot = get_backend("pacemaker").fit(data, folder / "fit", settings, progress=say)
    if activeset and pot.asi is None:
        raise SeilabError(f"{folder}: the demo fit wrote no active set")
    done.write_text(json.dumps(pot.as_dict(), indent=2))
    return pot
