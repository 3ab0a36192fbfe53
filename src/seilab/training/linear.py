"""Linear ACE fitted by weighted ridge least squares (``training.backend: linear-ace``).

The same ACE basis as :mod:`seilab.training.pacemaker` (pacemaker's basis shapes, cutoff, radial basis,
``functions_per_element``) with a *linear* embedding (``FinnisSinclairShiftedScaled``, ``ndensity 1``,
``fs_parameters [1, 1]``: the atomic energy is Σ c_i B_i). Energies and forces are then linear in the
coefficients, so the fit is one weighted least-squares solve instead of an iterative optimisation:

* the design matrix (one row per structure's per-atom energy, three per atom's force) comes from
  python-ace's :class:`pyace.linearacefit.LinearACEDataset`;
* rows are weighted: a per-atom energy row by ``linear_energy_weight`` (relative to one force component)
  times the structure kind's ``energy_weight_by_kind``; a force row by its atom's ``force_weight_by_kind``
  (and by the dataset's ``w_forces``, so subcell boundary atoms with zero force weight do not count);
* the solve is scikit-learn's :class:`~sklearn.linear_model.Ridge` (``ridge_alpha``, no intercept), the
  model python-ace's own ``LinearACEFit`` uses.

``repulsion: auto`` adds pacemaker's ZBL inner core (``pyace.generalfit.setup_zbl_inner_core_repulsion``):
below the shortest distance of each element pair in the training data the potential follows the ZBL
screened nuclear repulsion, so MD that pushes two atoms closer than any reference structure did meets a
wall, not an unfitted polynomial. What the core adds to the data (zero when every distance is above the
inner cutoff) is evaluated with all coefficients zero and subtracted from the targets before the solve.

Measured on the demo campaign's 197 train / 19 test structures (CHGNet labels; 2 cores): pacemaker's
nonlinear fit (40 functions per element, two stages) reached test E 64 meV/atom, F 237 meV/Å in 343 s;
this fit at 250 functions per element, energy weight 1000, reached E 22, F 149 in 20 s.

The fit runs as a subprocess (``python -m seilab.training.linear fit.json``) like pacemaker, so a kill
or ``training.timeout_s`` stops it cleanly; it takes seconds to minutes and is redone, not resumed,
after an interrupt. ``<workdir>/linear/`` holds ``fit.json`` (the request), ``fit.log``, ``result.json``
(errors on the training set, inner cutoffs, seconds) and ``output_potential.yaml``.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

from seilab import provenance
from seilab.errors import SeilabError
from seilab.training.backend import Potential, TrainingData
from seilab.training.pacemaker import PacemakerBackend, run_tool

FOLDER = "linear"
RESULT = "result.json"
#: the embedding that makes the atomic energy linear in the coefficients
LINEAR_EMBEDDING = {"npot": "FinnisSinclairShiftedScaled", "fs_parameters": [1.0, 1.0], "ndensity": 1}
#: largest disagreement (eV/atom) tolerated between the solve's prediction and the saved potential
SELF_CHECK_EV_PER_ATOM = 1e-5


class LinearACEBackend(PacemakerBackend):
    """Linear ACE (python-ace basis, ridge least squares); potentials are pacemaker YAML/YACE files, so
    the calculator, the active set (γ) and LAMMPS/ML-PACE work exactly as for pacemaker's fits."""

    name = "linear-ace"

    @staticmethod
    def potential_section(settings, elements) -> dict:
        section = PacemakerBackend.potential_section(settings, elements)
        section["embeddings"] = {"ALL": dict(LINEAR_EMBEDDING)}
        return section

    def fingerprint(self, data: TrainingData, settings, init_from: Potential | None) -> str:
        # a least-squares fit does not depend on a previous generation: the same data give the same model
        return super().fingerprint(data, settings, None)

    def fit(self, data: TrainingData, workdir: Path, settings, init_from: Potential | None = None,
            progress: Callable[[str], None] | None = None) -> Potential:
        say = progress or (lambda msg: None)
        workdir = Path(workdir)
        fdir = workdir / FOLDER
        fp = self.fingerprint(data, settings, None)
        out = fdir / "output_potential.yaml"
        done = provenance.load_json(fdir / RESULT) or {}
        if done.get("fingerprint") == fp and out.is_file() and done.get("sha256") == provenance.sha256_file(out):
            say(f"linear ACE fit: finished earlier ({done.get('seconds', 0):.0f} s), skipped")
        else:
            if fdir.is_dir():
                shutil.rmtree(fdir)  # an interrupted or outdated fit: seconds to redo, nothing to resume
            fdir.mkdir(parents=True)
            if init_from is not None:
                say(f"linear ACE fit: least squares on all data; the previous generation ({init_from.yaml}) "
                    "is not needed as a start")
            request = {
                "fingerprint": fp, "train": str(Path(data.train).resolve()),
                "elements": list(data.elements), "potential": self.potential_section(settings, data.elements),
                "repulsion": settings.repulsion, "energy_weight": float(settings.linear_energy_weight),
                "energy_weight_by_kind": dict(settings.energy_weight_by_kind),
                "force_weight_by_kind": dict(settings.force_weight_by_kind),
                "ridge_alpha": float(settings.ridge_alpha), "workers": int(settings.threads),
                "reference_energies": {el: float(e) for el, e in data.reference_energies.items()},
            }
            (fdir / "fit.json").write_text(json.dumps(request, indent=1))
            n = self.target_size(settings, data.elements)
            say(f"linear ACE fit: {n} functions, energy weight {settings.linear_energy_weight:g}, "
                f"ridge alpha {settings.ridge_alpha:g}, repulsion {settings.repulsion}")
            run_tool([sys.executable, "-m", "seilab.training.linear", "fit.json"], cwd=fdir, log=fdir / "fit.log",
                     threads=settings.threads, timeout_s=settings.timeout_s, what=f"linear ACE fit ({fdir})")
            done = provenance.load_json(fdir / RESULT) or {}
            if not out.is_file() or done.get("fingerprint") != fp:
                raise SeilabError(f"{fdir}: the linear ACE fit finished without its potential (see {fdir / 'fit.log'})")
            say(f"linear ACE fit: train E RMSE {done['train_energy_rmse_meV_per_atom']:.1f} meV/atom, "
                f"F RMSE {done['train_force_rmse_meV_per_A']:.0f} meV/Å in {done['seconds']:.0f} s")
        return self.finish(out, data, workdir, settings, activeset_data=data.train)


# ---- the fit itself (runs in the subprocess) ----------------------------------------------------------

def min_distances(df, basis) -> dict:
    """Shortest distance of every element pair in ``df`` within the basis cutoff
    (:func:`seilab.geometry.pair_minima`), keyed by the basis' sorted species indices (i <= j, the keys
    ``setup_zbl_inner_core_repulsion`` reads); pairs absent from the data get the sum of covalent radii
    (python-ace's ``complement_min_dist_dict``). Same values as python-ace's
    ``calculate_minimal_nn_distance_per_bond`` (measured: within 1e-15 Å on 200 random Li/P/S cells)."""
    from pyace.utils.utils import complement_min_dist_dict

    from seilab.geometry import pair_minima

    mu = basis.elements_to_index_map
    found = {}
    for key, r in pair_minima(df["ase_atoms"], cutoff=basis.cutoffmax).items():
        a, b = key.split("-")
        found[tuple(sorted((mu[a], mu[b])))] = r
    return complement_min_dist_dict(found, found, list(basis.elements_name), verbose=False)


def core_contribution(df, conf):
    """(per-atom energies, flat forces) of the basis with every coefficient zero: the ZBL core and
    nothing else (zero when no pair of the data is inside an inner cutoff)."""
    import numpy as np
    from pyace import ACEBBasisSet, PyACECalculator

    basis = ACEBBasisSet(conf)
    basis.basis_coeffs = np.zeros(len(basis.basis_coeffs))
    calc = PyACECalculator(basis)
    energies, forces = [], []
    for atoms in df["ase_atoms"]:
        a = atoms.copy()
        a.calc = calc
        energies.append(a.get_potential_energy() / len(a))
        forces.append(a.get_forces().reshape(-1))
    return np.asarray(energies), np.concatenate(forces)


def row_weights(df, energy_weight: float, energy_by_kind: dict, force_by_kind: dict):
    """Weights of the design matrix rows: per-atom energy rows first, then 3 per atom (x, y, z).

    The training pickle's ``w_energy`` / ``w_forces`` columns (written by
    :func:`~seilab.training.data.kind_weights`, already holding the per-kind factors, and zero for atoms
    that must not count) are used where present, relative to their mean; otherwise the factors of
    ``energy_by_kind`` / ``force_by_kind`` are applied by structure kind.
    """
    import numpy as np

    kinds = [str(k or "") for k in (df["kind"] if "kind" in df.columns else [""] * len(df))]
    if "w_energy" in df.columns:
        w = np.asarray(df["w_energy"], dtype=float)
        rel_e = w / (np.mean(w) or 1.0)
    else:
        rel_e = np.array([energy_by_kind.get(k, 1.0) for k in kinds])
    if "w_forces" in df.columns:
        per_atom = np.concatenate([np.asarray(w, dtype=float).reshape(-1) for w in df["w_forces"]])
        per_atom = per_atom / (np.mean(per_atom) or 1.0)
    else:
        per_atom = np.concatenate([np.full(len(a), force_by_kind.get(k, 1.0))
                                   for a, k in zip(df["ase_atoms"], kinds)])
    return np.concatenate([energy_weight * rel_e, np.repeat(per_atom, 3)])


def fit_linear(request: dict, folder: Path) -> dict:
    import numpy as np
    import pandas as pd
    import psutil
    from pyace import ACEBBasisSet, PyACECalculator
    from pyace.generalfit import setup_zbl_inner_core_repulsion
    from pyace.linearacefit import LinearACEDataset
    from pyace.multispecies_basisextension import construct_bbasisconfiguration
    from sklearn.linear_model import Ridge

    t0 = time.perf_counter()
    df = pd.read_pickle(request["train"], compression="gzip")
    conf = construct_bbasisconfiguration(request["potential"])
    r_in = {}
    if request["repulsion"] == "auto":
        dist = min_distances(df, ACEBBasisSet(conf))
        setup_zbl_inner_core_repulsion(conf, dist)
        names = list(ACEBBasisSet(conf).elements_name)
        r_in = {f"{names[i]}-{names[j]}": round(float(d), 4) for (i, j), d in sorted(dist.items()) if i <= j}
        print(f"ZBL inner core below the shortest distances of the data (Å): {r_in}", flush=True)
    dataset = LinearACEDataset(conf, df)
    need = dataset.estimate_memory() * 2.5  # design matrix + its weighted copy + solver workspace
    have = psutil.virtual_memory().available
    if need > have:
        raise SeilabError(f"training.functions_per_element: the linear fit's design matrix needs "
                          f"~{need / 2**30:.1f} GiB, {have / 2**30:.1f} GiB are free; use fewer functions, "
                          "fewer structures, or backend: pacemaker")
    design = dataset.get_design_matrix(max_workers=max(1, int(request["workers"])))
    target = dataset.get_target_vector().copy()
    n_s = len(df)
    core_e, core_f = core_contribution(df, conf)
    target[:n_s] -= core_e
    target[n_s:] -= core_f
    weights = row_weights(df, request["energy_weight"], request["energy_weight_by_kind"],
                          request["force_weight_by_kind"])
    print(f"design matrix {design.shape[0]} rows x {design.shape[1]} functions "
          f"({time.perf_counter() - t0:.1f} s)", flush=True)
    model = Ridge(alpha=float(request["ridge_alpha"]), fit_intercept=False).fit(design, target, sample_weight=weights)
    coef = np.asarray(model.coef_, dtype=float)
    predicted = design @ coef
    d_e = (predicted[:n_s] - target[:n_s]) * 1000.0
    d_f = (predicted[n_s:] - target[n_s:]) * 1000.0
    basis = dataset.basis
    basis.basis_coeffs = coef
    out_conf = basis.to_BBasisConfiguration()
    meta = {"origin": "seilab linear-ace", "reference_energy": json.dumps(request["reference_energies"])}
    for k, v in meta.items():
        out_conf.metadata[k] = v
    out = folder / "output_potential.yaml"
    tmp = folder / ".output_potential.tmp.yaml"
    out_conf.save(str(tmp))
    # the saved file must predict what the solve predicted (ties the YAML to the numbers reported)
    calc = PyACECalculator(str(tmp))
    for i in range(min(3, n_s)):
        a = df["ase_atoms"].iloc[i].copy()
        a.calc = calc
        e_file = a.get_potential_energy() / len(a)
        e_solve = predicted[i] + core_e[i]
        if not abs(e_file - e_solve) < SELF_CHECK_EV_PER_ATOM:
            raise SeilabError(f"{out}: the saved potential gives {e_file:.6f} eV/atom for training structure {i}, "
                              f"the least-squares solve {e_solve:.6f}; not saved")
    tmp.replace(out)
    return {"fingerprint": request["fingerprint"], "sha256": provenance.sha256_file(out),
            "functions": int(design.shape[1]), "rows": int(design.shape[0]), "n_structures": n_s,
            "train_energy_rmse_meV_per_atom": float(np.sqrt(np.mean(d_e ** 2))),
            "train_force_rmse_meV_per_A": float(np.sqrt(np.mean(d_f ** 2))),
            "energy_weight": request["energy_weight"], "ridge_alpha": request["ridge_alpha"],
            "inner_cutoff_A": r_in, "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]).resolve().parent
    request = json.loads(Path(argv[0]).read_text())
    try:
        result = fit_linear(request, folder)
    except SeilabError as exc:
        print(f"Error: {exc}", flush=True)
        return 2
    provenance.write_json(folder / RESULT, result, provenance.record("linear-ace-fit", inputs=[request["train"]]))
    print(f"done: train E RMSE {result['train_energy_rmse_meV_per_atom']:.2f} meV/atom, "
          f"F RMSE {result['train_force_rmse_meV_per_A']:.1f} meV/Å, {result['seconds']:.1f} s", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover (run as a subprocess by LinearACEBackend.fit)
    raise SystemExit(main())

