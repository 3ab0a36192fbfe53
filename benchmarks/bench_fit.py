"""Benchmark: the two ACE fitting backends on the same labelled data, measured in one run.

Run: ``python benchmarks/bench_fit.py`` (options: ``--data``, ``--per-phase``, ``--linear-functions``,
``--nonlinear-functions``, ``--maxiter``).

``--data DIR``: a training generation's ``data`` folder (``train.pckl.gzip``, ``test.pckl.gzip``; the
per-element energies are read from ``../../reference_energies.json``), e.g. the demo campaign's
``runs/li-li7p3s11/training/gen000/data`` after ``make demo``. That is where the demo's choice was
measured: 236 train / 24 test structures, pacemaker 40 functions per element against linear 350.
Without ``--data`` the data are ``write_demo_store``'s (tests/fixtures/training.py) small rattled /
strained / compressed cells of bcc Li, Li2S, Li3P and Li7P3S11 (CHGNet labels, the training stage's
fixed 90/10 split): there, with a few dozen structures, a linear basis of the same size as the nonlinear
one is *less* accurate (measured: test E 76 vs 53 meV/atom at 40 functions per element, 17x faster).
A linear fit needs several times more data than coefficients. Both fits see the same pickles:

* ``pacemaker``: nonlinear ACE, the demo's former settings (ladder at κ 0.99, then κ 0.3), tensorpotential;
* ``linear-ace``: linear ACE by weighted ridge least squares with the ZBL core (``seilab.training.linear``).

Printed: wall time of each fit (potential and LAMMPS file; no active set: on this little data the linear
basis has more functions than P atoms, too few environments for γ), test-set E and F RMSE
through each saved potential, and the ratios. The demo campaign's own numbers (259 train / 25 test
structures, 2 cores) are in ``examples/li-li7p3s11.yaml``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the shared fixtures (tests/fixtures)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="a training generation's data folder")
    ap.add_argument("--per-phase", type=int, default=12, help="labelled structures per phase (without --data)")
    ap.add_argument("--linear-functions", type=int, default=None,
                    help="default: 350 with --data (the demo's), 40 without (the data are too few for more)")
    ap.add_argument("--nonlinear-functions", type=int, default=40)
    ap.add_argument("--maxiter", type=int, nargs=2, default=[70, 60], help="pacemaker iterations per stage")
    args = ap.parse_args(argv)

    from seilab.training.backend import TrainingData
    from seilab.training.backends import get_backend
    from seilab.settings.training import TrainingSettings
    from seilab.training.stage import evaluate, load_dataframe
    from seilab.training.data import write_split
    from fixtures.training import demo_campaign, write_demo_store

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.data is not None:
            import json

            import pandas as pd

            train, test = args.data / "train.pckl.gzip", args.data / "test.pckl.gzip"
            energies = args.data.parent.parent / "reference_energies.json"
            for need in (train, test, energies):
                if not need.is_file():
                    raise SystemExit(f"error: --data: {need} not found (give a training generation's data folder)")
            e0 = json.loads(energies.read_text())["energies"]
            elements = sorted({s for a in pd.read_pickle(train, compression="gzip")["ase_atoms"]
                               for s in a.get_chemical_symbols()})
            split = {"n_train": len(pd.read_pickle(train, compression="gzip")),
                     "n_test": len(pd.read_pickle(test, compression="gzip"))}
            data = TrainingData(train=train, test=test, elements=tuple(elements),
                                reference_energies={el: e0[el] for el in elements})
        else:
            write_demo_store(tmp / "camp" / "dataset", per_phase=args.per_phase)
            campaign = demo_campaign(tmp / "camp")
            df, e0 = load_dataframe(campaign)
            train, test, split = write_split(df, tmp / "data", 0.1, 42)
            data = TrainingData(train=train, test=test, elements=tuple(campaign.elements), reference_energies=e0)
        runs = {
            "pacemaker": TrainingSettings(functions_per_element=args.nonlinear_functions, ladder_step=[20, 0.5],
                                          maxiter=list(args.maxiter), kappa_stages=[0.99, 0.3], threads=2,
                                          activeset=False),
            "linear-ace": TrainingSettings(backend="linear-ace", functions_per_element=args.linear_functions
                                           or (350 if args.data is not None else 40),
                                           threads=2, activeset=False),
        }
        rows = {}
        for name, settings in runs.items():
            backend = get_backend(name)
            t0 = time.perf_counter()
            pot = backend.fit(data, tmp / name, settings)
            seconds = time.perf_counter() - t0
            m = evaluate(backend, pot, data, tmp / name)["test"]
            rows[name] = (seconds, m["energy_meV_per_atom"]["rmse"], m["force_meV_per_A"]["rmse"])
    print(f"{split['n_train']} train / {split['n_test']} test structures ({args.data or 'tiny demo store'})")
    print(f"{'backend':12s} {'fit (s)':>9s} {'test E (meV/atom)':>18s} {'test F (meV/Å)':>15s}")
    for name, (s, e, f) in rows.items():
        print(f"{name:12s} {s:9.1f} {e:18.1f} {f:15.0f}")
    (sp, ep, fp), (sl, el, fl) = rows["pacemaker"], rows["linear-ace"]
    print(f"ratio pacemaker / linear-ace: fit time {sp / sl:.1f}x, test E {ep / el:.2f}x, test F {fp / fl:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
