"""pacemaker (python-ace + tensorpotential) behind :class:`~seilab.training.backend.MLIPBackend`.

One fit = one or more *stages* (``training.kappa_stages``), each a ``pacemaker`` run in its own
folder ``<workdir>/stage<k>/`` started as a subprocess from the venv's ``bin`` folder:

* stage 1 grows the basis hierarchically (pacemaker's ``ladder_step``, by body order) at κ = 0.99;
* stage 2 (and later) refits the full basis from the previous stage's potential at κ = 0.90.

Files of a stage: ``input.yaml`` (written from the settings), ``pacemaker.out`` (stdout+stderr),
``log.txt`` (pacemaker's log), ``seilab.log`` (what seilab decided: fresh start, resume, warm start),
``started.json`` / ``stage.json`` (fingerprint at start / completion), ``output_potential.yaml``.

**Resume.** pacemaker saves ``interim_potential_*.yaml`` every iteration and after each ladder step.
When a stage folder holds a ``started.json`` with the same fingerprint but no ``stage.json``, the run
was interrupted: the newest interim potential is copied to ``resume_<n>.yaml`` and the stage restarts
from it (ladder stage: as ``initial_potential``, so the ladder goes on from that basis size; full basis
or refit stage: as the potential to refit). Finished stages (``stage.json`` with matching fingerprint
and output hash) are skipped. A stage whose fingerprint differs (settings or data changed) is wiped.

**Warm start.** ``init_from`` (a previous generation) seeds stage 1 the same way, when its elements
and cutoff match the settings and its basis is not larger than the target.

After the stages: ``potential.yaml`` (copy of the last stage's output), ``potential.yace``
(``pace_yaml2yace``) and ``potential.asi`` (``pace_activeset`` on the training set).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from seilab import provenance
from seilab.errors import SeilabError
from seilab.training.backend import Potential, TrainingData

STAGE_DONE = "stage.json"
STAGE_STARTED = "started.json"

#: pacemaker's per-element basis shape (its input template's defaults).
FUNCTIONS_SHAPE = {
    "UNARY": {"nradmax_by_orders": [15, 6, 4, 3, 2, 2], "lmax_by_orders": [0, 3, 3, 2, 2, 1]},
    "BINARY": {"nradmax_by_orders": [15, 6, 3, 2, 2, 1], "lmax_by_orders": [0, 3, 2, 1, 1, 0]},
    "TERNARY": {"nradmax_by_orders": [15, 3, 3, 2, 1], "lmax_by_orders": [0, 2, 2, 1, 1]},
    "ALL": {"nradmax_by_orders": [15, 3, 2, 1, 1], "lmax_by_orders": [0, 2, 2, 1, 1]},
}


def bin_dir() -> Path:
    """Folder of the running interpreter's console scripts (the venv's ``bin``)."""
    return Path(sys.executable).parent


def tool(name: str) -> str:
    """Path of a pacemaker console script: the venv's ``bin`` first, then ``PATH``."""
    p = bin_dir() / name
    if p.is_file():
        return str(p)
    found = shutil.which(name)
    if found:
        return found
    raise SeilabError(f"training.backend: '{name}' not found in {bin_dir()} or PATH "
                      "(pip install python-ace==0.4.0rc1 and tensorpotential)")


def thread_env(threads: int) -> dict:
    env = os.environ.copy()
    n = str(threads)
    env.update(OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, TF_NUM_INTRAOP_THREADS=n,
               TF_NUM_INTEROP_THREADS=n, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    return env


def run_tool(cmd: list[str], cwd: Path, log: Path, threads: int = 1, timeout_s: float | None = None,
             what: str = "") -> None:
    """Run ``cmd`` in ``cwd`` appending stdout+stderr to ``log``; SeilabError on failure.

    The child runs in its own process group so an interrupt or timeout stops it (and only it).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        fh.write(f"\n### {time.strftime('%Y-%m-%d %H:%M:%S')} $ {' '.join(cmd)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=thread_env(threads),
                                start_new_session=True, preexec_fn=_die_with_parent)
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _stop(proc)
            raise SeilabError(f"training.timeout_s: {what or cmd[0]} ran longer than {timeout_s} s; "
                              f"rerun to resume from its last checkpoint (log: {log})") from None
        except BaseException:
            _stop(proc)
            raise
    if rc != 0:
        raise SeilabError(f"{what or Path(cmd[0]).name} failed (exit {rc}): {_last_error(log)} (see {log})")


def _die_with_parent() -> None:  # pragma: no cover (runs in the child)
    """Linux: the child gets SIGTERM when seilab dies (even by SIGKILL), so no orphan fit keeps running."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def _last_error(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no output"
    for ln in reversed(lines):
        if "Error" in ln or "error" in ln or "Exception" in ln:
            return ln[-300:]
    return lines[-1][-300:] if lines else "no output"


def _sha_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _count_functions(path: Path) -> tuple[int, tuple[str, ...], float]:
    """(number of B-functions, elements, maximal cutoff) of a pacemaker YAML potential."""
    from pyace import ACEBBasisSet, BBasisConfiguration

    conf = BBasisConfiguration(str(path))
    basis = ACEBBasisSet(conf)
    return conf.total_number_of_functions, tuple(basis.elements_name), float(basis.cutoffmax)


def _clean_copy(src: Path, dst: Path) -> Path:
    """Copy a pacemaker potential, dropping the bookkeeping that would stop a refit (``_fit_cycles``)."""
    from pyace import BBasisConfiguration

    conf = BBasisConfiguration(str(src))
    for key in ("_fit_cycles", "_loss"):
        if key in conf.metadata:
            del conf.metadata[key]
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    conf.save(str(tmp))
    os.replace(tmp, dst)
    return dst


def interims(stage_dir: Path) -> list[Path]:
    """``interim_potential*.yaml`` of a stage folder, newest first (ties: the per-iteration file first)."""
    cands = [p for p in stage_dir.glob("interim_potential*.yaml") if p.stat().st_size > 0]
    return sorted(cands, key=lambda p: (p.stat().st_mtime, p.name == "interim_potential_0.yaml"), reverse=True)


def latest_interim(stage_dir: Path) -> Path | None:
    found = interims(stage_dir)
    return found[0] if found else None


class PacemakerBackend:
    """ACE potentials fitted by the ``pacemaker`` CLI (python-ace 0.4, tensorpotential backend)."""

    name = "pacemaker"

    # -- input ---------------------------------------------------------------------------------
    @staticmethod
    def potential_section(settings, elements) -> dict:
        """The ``potential:`` section of pacemaker's input for the target basis."""
        functions = {"number_of_functions_per_element": int(settings.functions_per_element)}
        functions.update({k: dict(v) for k, v in FUNCTIONS_SHAPE.items()})
        return {
            "deltaSplineBins": 0.001,
            "elements": list(elements),
            "embeddings": {"ALL": {"npot": settings.embedding, "fs_parameters": list(settings.fs_parameters),
                                   "ndensity": int(settings.ndensity)}},
            "bonds": {"ALL": {"radbase": settings.radial_basis, "radparameters": [5.25],
                              "rcut": float(settings.cutoff_A), "dcut": 0.01, "NameOfCutoffFunction": "cos"}},
            "functions": functions,
        }

    def target_size(self, settings, elements) -> int:
        """Number of B-functions pacemaker will build for these settings (computed in-process)."""
        from pyace.multispecies_basisextension import construct_bbasisconfiguration

        conf = construct_bbasisconfiguration(self.potential_section(settings, elements))
        return int(conf.total_number_of_functions)

    def input_config(self, settings, data: TrainingData, stage: int, start: Path | None,
                     start_functions: int | None = None, target_functions: int | None = None) -> dict:
        """pacemaker's input.yaml (as a dict) for stage ``stage`` (0-based) starting from ``start``."""
        kappa = settings.kappa_stages[stage]
        kappa = kappa if kappa == "auto" else float(kappa)
        fit = {"loss": {"kappa": kappa, "L1_coeffs": settings.l1_coeff, "L2_coeffs": settings.l2_coeff},
               "optimizer": settings.optimizer, "maxiter": int(settings.stage_maxiter(stage))}
        if settings.repulsion == "auto":
            fit["repulsion"] = "auto"
        if settings.callbacks:
            fit["callbacks"] = list(settings.callbacks)
        ladder_stage = settings.ladder and stage == 0
        target = self.potential_section(settings, data.elements)
        if start is None:
            potential: dict | str = target
            if ladder_stage:
                fit["ladder_step"] = settings.pacemaker_ladder_step()
                fit["ladder_type"] = settings.ladder_type
        elif ladder_stage and start_functions is not None and target_functions is not None \
                and start_functions < target_functions:
            potential = dict(target, initial_potential=str(start))
            fit["ladder_step"] = settings.pacemaker_ladder_step()
            fit["ladder_type"] = settings.ladder_type
        else:  # refit all coefficients of an existing basis
            potential = str(start)
        data_cfg: dict = {"filename": str(data.train)}
        if settings.reference_energies == "zero":
            data_cfg["reference_energy"] = 0
        else:
            data_cfg["reference_energy"] = {el: float(e) for el, e in data.reference_energies.items()}
        backend = {"evaluator": settings.evaluator, "batch_size": int(settings.batch_size),
                   "display_step": int(settings.display_step)}
        if settings.evaluator == "pyace":
            backend["parallel_mode"] = "serial"
        return {"seed": int(settings.seed), "metadata": {"origin": "seilab"}, "potential": potential,
                "data": data_cfg, "fit": fit, "backend": backend}

    # -- fit -----------------------------------------------------------------------------------
    def fit(self, data: TrainingData, workdir: Path, settings, init_from: Potential | None = None,
            progress: Callable[[str], None] | None = None) -> Potential:
        import yaml

        say = progress or (lambda msg: None)
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        base_fp = self.fingerprint(data, settings, init_from)
        target_n = self.target_size(settings, data.elements)
        prev: Path | None = None
        if init_from is not None:
            prev = self._check_warm_start(init_from, settings, data, target_n, say)
        for i, kappa in enumerate(settings.kappa_stages):
            sdir = workdir / f"stage{i + 1}"
            fp = _sha_text(f"{base_fp}:stage{i}")
            out = sdir / "output_potential.yaml"
            done = _read(sdir / STAGE_DONE)
            if done.get("fingerprint") == fp and out.is_file() and done.get("sha256") == provenance.sha256_file(out):
                say(f"stage {i + 1} (kappa {kappa}): finished earlier, skipped")
                prev = out
                continue
            started = _read(sdir / STAGE_STARTED)
            start, how = prev, ("warm start from " + str(prev)) if prev is not None else "fresh start"
            if i > 0:
                how = f"refit of stage {i} output"
            if sdir.is_dir() and started.get("fingerprint") == fp:
                n_res = len(list(sdir.glob("resume_*.yaml")))
                for interim in interims(sdir):
                    try:  # a checkpoint cut short by the kill cannot be read: take the one before
                        start = _clean_copy(interim, sdir / f"resume_{n_res + 1}.yaml")
                    except Exception as exc:  # pyace raises RuntimeError / YAML errors
                        _append(sdir / "seilab.log", f"unreadable checkpoint {interim.name} skipped ({exc})")
                        continue
                    how = f"resume from {interim.name} (copied to {start.name})"
                    break
                else:
                    how += " (interrupted before the first checkpoint)"
            elif sdir.is_dir():
                shutil.rmtree(sdir)
            sdir.mkdir(parents=True, exist_ok=True)
            (sdir / STAGE_DONE).unlink(missing_ok=True)
            if not started or started.get("fingerprint") != fp:
                provenance.write_json(sdir / STAGE_STARTED, {"fingerprint": fp, "stage": i + 1, "kappa": kappa})
            start_n = None
            if start is not None:
                start_n = _count_functions(start)[0]
            cfg = self.input_config(settings, data, i, start, start_n, target_n)
            (sdir / "input.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
            msg = (f"stage {i + 1}/{len(settings.kappa_stages)} (kappa {kappa}, maxiter "
                   f"{settings.stage_maxiter(i)}): {how}; start basis "
                   f"{start_n if start_n is not None else 0} / target {target_n} functions")
            _append(sdir / "seilab.log", msg)
            say(msg)
            t0 = time.perf_counter()
            run_tool([tool("pacemaker"), "input.yaml", "-o", "output_potential.yaml", "-l", "log.txt",
                      "--no-predict"], cwd=sdir, log=sdir / "pacemaker.out", threads=settings.threads,
                     timeout_s=settings.timeout_s, what=f"pacemaker (stage {i + 1}, {sdir})")
            if not out.is_file():
                raise SeilabError(f"{out}: pacemaker finished without writing its potential (see {sdir / 'log.txt'})")
            seconds = time.perf_counter() - t0
            _append(sdir / "seilab.log", f"stage {i + 1} finished in {seconds:.1f} s")
            provenance.write_json(sdir / STAGE_DONE, {
                "fingerprint": fp, "stage": i + 1, "kappa": kappa, "started_from": how,
                "sha256": provenance.sha256_file(out), "seconds": seconds,
                "functions": _count_functions(out)[0]})
            prev = out
        final = workdir / "potential.yaml"
        shutil.copyfile(prev, final)
        yace = workdir / "potential.yace"
        run_tool([tool("pace_yaml2yace"), "potential.yaml", "-o", "potential.yace"], cwd=workdir,
                 log=workdir / "tools.log", what="pace_yaml2yace")
        pot = Potential(yaml=final, yace=yace if yace.is_file() else None, backend=self.name,
                        elements=tuple(data.elements), reference_energies=dict(data.reference_energies))
        if settings.activeset:
            last = workdir / f"stage{len(settings.kappa_stages)}" / "fitting_data_info.pckl.gzip"
            asi = self.active_set(pot, last if last.is_file() else data.train, threads=settings.threads)
            pot = Potential(**{**pot.__dict__, "asi": asi})
        return pot

    def fingerprint(self, data: TrainingData, settings, init_from: Potential | None) -> str:
        """Hash of everything a fit depends on: settings, data files, reference energies, warm start."""
        parts = {
            "settings": settings.model_dump(mode="json", exclude={"threads", "timeout_s", "display_step", "callbacks"}),
            "train": provenance.sha256_file(data.train),
            "test": provenance.sha256_file(data.test) if data.test and Path(data.test).is_file() else None,
            "elements": list(data.elements), "reference_energies": data.reference_energies,
            "init_from": provenance.sha256_file(init_from.yaml) if init_from is not None else None,
        }
        return _sha_text(json.dumps(parts, sort_keys=True, default=str))

    def _check_warm_start(self, init_from: Potential, settings, data, target_n, say) -> Path | None:
        path = Path(init_from.yaml)
        if not path.is_file():
            raise SeilabError(f"{path}: warm-start potential not found")
        n, elements, rcut = _count_functions(path)
        problems = []
        if set(elements) != set(data.elements):
            problems.append(f"elements {list(elements)} != {list(data.elements)}")
        if abs(rcut - settings.cutoff_A) > 1e-6:
            problems.append(f"cutoff {rcut} != {settings.cutoff_A}")
        if n > target_n:
            problems.append(f"its basis ({n} functions) is larger than the target ({target_n})")
        if problems:
            say(f"warm start from {path} ignored: " + "; ".join(problems))
            return None
        return path

    # -- use -----------------------------------------------------------------------------------
    def calculator(self, potential: Potential, gamma: bool = False, **kwargs):
        try:
            from pyace import PyACECalculator
        except ImportError as exc:  # pragma: no cover
            raise SeilabError(f"training.backend: pacemaker needs python-ace ({exc})") from None
        if not Path(potential.yaml).is_file():
            raise SeilabError(f"{potential.yaml}: potential file not found")
        calc = PyACECalculator(str(potential.yaml), **kwargs)
        if gamma:
            if potential.asi is None or not Path(potential.asi).is_file():
                raise SeilabError(f"{potential.yaml}: no active set (.asi) beside it; γ needs one "
                                  "(training.activeset: true)")
            calc.set_active_set(str(potential.asi))
        return calc

    def active_set(self, potential: Potential, dataset: Path, threads: int = 1) -> Path:
        """``pace_activeset -d dataset potential.yaml`` → ``<potential>.asi`` beside the YAML."""
        ydir = Path(potential.yaml).parent
        name = Path(potential.yaml).name
        run_tool([tool("pace_activeset"), "-d", str(Path(dataset).resolve()), name], cwd=ydir,
                 log=ydir / "tools.log", threads=threads, what="pace_activeset")
        asi = ydir / (name[: -len(".yaml")] + ".asi")
        if not asi.is_file():
            raise SeilabError(f"{asi}: pace_activeset wrote no active set (see {ydir / 'tools.log'})")
        return asi


def _read(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
