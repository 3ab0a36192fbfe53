"""pacemaker (python-ace + tensorpotential) behind :class:`~seilab.training.backend.MLIPBackend`.

One fit = one or more *stages* (``training.kappa_stages``), each a ``pacemaker`` run in its own
folder ``<workdir>/stage<k>/`` started as a subprocess from the venv's ``bin`` folder:

* stage 1 grows the basis hierarchically (pacemaker's ``ladder_step``, by body order) at κ = 0.99;
* stage 2 (and later) refits the full basis from the previous stage's potential at κ = 0.90.

Files of a stage: ``input.yaml`` (written from the settings), ``pacemaker.out`` (stdout+stderr),
``log.txt`` (pacemaker's log), ``seilab.log`` (what seilab decided: fresh start, resume, warm start),
``started.json`` / ``stage.json`` (fingerprint at start / completion), ``output_potential.yaml``.

**Resume.** pacemaker (python-ace 0.4, ``pyace/generalfit.py``) saves ``interim_potential_0.yaml`` after
every optimizer iteration (``save_interim_potential_callback``, after the iteration was logged), and
``interim_potential_ladder_step_<k>.yaml`` / ``interim_potential_best_cycle.yaml`` at the end of a ladder
step / fit. When a stage folder holds a ``started.json`` with the same fingerprint but no ``stage.json``,
the run was interrupted: the newest interim potential the interrupted attempt wrote is copied to
``resume_<n>.yaml`` and the stage goes on from it with the iterations it has left. ``attempts.json``
records each pacemaker start (log.txt offset, iterations already done, maxiter); the iterations the
attempt completed up to its checkpoint are read from its part of ``log.txt`` (pacemaker logs every
iteration, ``Iteration #n``) and add up over resumes. A ladder stage whose checkpoint basis is smaller
than the target goes on as ``initial_potential`` (the ladder continues from that basis size, full maxiter
per step; the rest of an interrupted step is dropped, its functions are refitted by the next step); a
full basis or refit stage refits the checkpoint with maxiter = budget - iterations done, and with none
left takes the checkpoint as the stage's result. ``seilab.log`` says what was decided. Finished stages
(``stage.json`` with matching fingerprint and output hash) are skipped. A stage whose fingerprint differs
(settings or data changed) is wiped.

**Warm start.** ``init_from`` (a previous generation) seeds stage 1 the same way, when its elements
and cutoff match the settings and its basis is not larger than the target.

After the stages: ``potential.yaml`` (copy of the last stage's output), ``potential.yace``
(``pace_yaml2yace``) and ``potential.asi`` (``pace_activeset`` on the training set).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from seilab import provenance
from seilab.errors import SeilabError
from seilab.processes import die_with_parent, stop_group
from seilab.training.backend import Potential, TrainingData

STAGE_DONE = "stage.json"
STAGE_STARTED = "started.json"
#: one entry per pacemaker start in a stage folder (what it was asked to do; where its log.txt part begins)
ATTEMPTS = "attempts.json"

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
                                start_new_session=True, preexec_fn=die_with_parent)
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_group(proc, grace_s=20)
            raise SeilabError(f"training.timeout_s: {what or cmd[0]} ran longer than {timeout_s} s; "
                              f"rerun to resume from its last checkpoint (log: {log})") from None
        except BaseException:
            stop_group(proc, grace_s=20)
            raise
    if rc != 0:
        raise SeilabError(f"{what or Path(cmd[0]).name} failed (exit {rc}): {_last_error(log)} (see {log})")






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


#: pacemaker's per-iteration checkpoint, ``interim_potential_<fit cycle>.yaml`` (save_interim_potential_callback)
_PER_ITERATION = re.compile(r"^interim_potential_\d+\.yaml$")
#: a detailed iteration line (MetricsAggregator.print_detailed_metrics, title "Iteration")
_ITER_LINE = re.compile(r" I - Iteration:?\s+#(\d+)")
#: first line of an extended "FIT STATS" block (every display_step-th iteration)
_ITER_BLOCK = re.compile(r"^Iteration:\s+#(\d+)")
_FUNCS_LINE = re.compile(r"Total number of functions: (\d+)")


def log_cycles(text: str) -> list[dict]:
    """pacemaker's fit cycles (one per ladder step, or the single-shot fit) in a piece of its log.txt.

    ``[{"functions": N, "iterations": n}, ...]`` in order: ``n`` is the last optimizer iteration logged
    (``Iteration #n``; pacemaker logs an iteration before it saves that iteration's checkpoint).
    """
    cycles: list[dict] = []
    after_fit_stats = False
    for line in text.splitlines():
        if "I - Cycle fitting loop" in line:
            cycles.append({"functions": None, "iterations": 0})
        elif cycles:
            m = _FUNCS_LINE.search(line)
            if m and cycles[-1]["functions"] is None:
                cycles[-1]["functions"] = int(m.group(1))
            m = _ITER_LINE.search(line) or (_ITER_BLOCK.match(line) if after_fit_stats else None)
            if m:
                cycles[-1]["iterations"] = max(cycles[-1]["iterations"], int(m.group(1)))
        after_fit_stats = "-FIT STATS-" in line
    return cycles


def _attempts(stage_dir: Path) -> list[dict]:
    found = _read(stage_dir / ATTEMPTS).get("attempts")
    return found if isinstance(found, list) else []


def _log_part(stage_dir: Path, attempts: list[dict], index: int | None) -> str:
    """The part of log.txt written by attempt ``attempts[index]`` (None: after the last 'Start pacemaker')."""
    try:
        data = (stage_dir / "log.txt").read_bytes()
    except OSError:
        return ""
    if index is None:
        text = data.decode(errors="replace")
        cut = text.rfind(" I - Start pacemaker")
        return text[text.rfind("\n", 0, cut) + 1:] if cut >= 0 else text
    begin = int(attempts[index].get("log_offset", 0))
    end = int(attempts[index + 1].get("log_offset", len(data))) if index + 1 < len(attempts) else len(data)
    return data[begin:end].decode(errors="replace")


def _resume_plan(stage_dir: Path, ladder_stage: bool, budget: int, target_n: int) -> dict | None:
    """Where an interrupted stage goes on from, and with how many iterations (None: nothing to go on from).

    Keys: ``start`` (resume_<n>.yaml), ``functions``, ``maxiter``, ``done`` (iterations of the interrupted
    fit already run, counted again by the next attempt), ``finished`` (nothing left: ``start`` is the
    result), ``how`` (for stage.json) and ``note`` (for seilab.log).
    """
    attempts = _attempts(stage_dir)
    last = attempts[-1] if attempts else None
    since = float(last["started_at"]) if last else None
    n_res = len(list(stage_dir.glob("resume_*.yaml")))
    for interim in interims(stage_dir):
        if since is not None and interim.stat().st_mtime < since:
            break  # older than the interrupted attempt: superseded by what that attempt started from
        try:  # a checkpoint cut short by the kill cannot be read: take the one before
            start = _clean_copy(interim, stage_dir / f"resume_{n_res + 1}.yaml")
            functions = _count_functions(start)[0]
        except Exception as exc:  # pyace raises RuntimeError / YAML errors
            _append(stage_dir / "seilab.log", f"unreadable checkpoint {interim.name} skipped ({exc})")
            continue
        ladder_run = bool(last.get("ladder")) if last else ladder_stage and functions < target_n
        if not _PER_ITERATION.match(interim.name):  # end of a ladder step or of the fit
            done, where = budget, "at the end of a fit cycle (complete)"
        else:
            cycles = log_cycles(_log_part(stage_dir, attempts, len(attempts) - 1 if last else None))
            same = [c for c in cycles if c["functions"] == functions] or cycles[-1:]
            ran = same[-1]["iterations"] if same else 0
            # a ladder run starts every step from zero; a refit goes on from what the resumed attempt had done
            done = ran if ladder_run else int(last.get("done", 0) if last else 0) + ran
            where = f"after {done} of {budget} iterations"
        how = f"resume from {interim.name} (copied to {start.name})"
        plan = {"start": start, "functions": functions, "how": how, "finished": False}
        if ladder_stage and functions < target_n:
            plan.update(maxiter=budget, done=0)
            dropped = budget - done
            note = (f"resume from {interim.name} {where} at {functions} of {target_n} functions: the ladder goes "
                    f"on from this basis (maxiter {budget} per step"
                    + (f"; the {dropped} left of the interrupted step are dropped)" if dropped > 0 else ")"))
        elif done >= budget:
            plan.update(maxiter=0, done=done, finished=True)
            note = f"resume from {interim.name} {where}: nothing left, it is the stage's result"
        else:
            plan.update(maxiter=budget - done, done=done)
            note = f"resume from {interim.name} {where}: {budget - done} left"
        plan["note"] = note
        return plan
    if last and last.get("start") and Path(last["start"]).is_file() and last.get("resume"):
        # the interrupted attempt wrote no (readable) checkpoint: again from where it started
        start = Path(last["start"])
        note = (f"the interrupted attempt wrote no readable checkpoint: again from {start.name} "
                f"({last.get('done', 0)} of {budget} iterations done, maxiter {last.get('maxiter', budget)})")
        return {"start": start, "functions": _count_functions(start)[0], "maxiter": int(last.get("maxiter", budget)),
                "done": int(last.get("done", 0)), "finished": False, "note": note,
                "how": last.get("how") or f"resume from {start.name}"}
    return None


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
                     start_functions: int | None = None, target_functions: int | None = None,
                     maxiter: int | None = None) -> dict:
        """pacemaker's input.yaml (as a dict) for stage ``stage`` (0-based) starting from ``start``.

        ``maxiter``: the optimizer iterations of this run (default: the stage's; a resume passes what is left).
        """
        kappa = settings.kappa_stages[stage]
        kappa = kappa if kappa == "auto" else float(kappa)
        maxiter = int(settings.stage_maxiter(stage) if maxiter is None else max(1, int(maxiter)))
        fit = {"loss": {"kappa": kappa, "L1_coeffs": settings.l1_coeff, "L2_coeffs": settings.l2_coeff},
               "optimizer": settings.optimizer, "maxiter": maxiter}
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
            budget = int(settings.stage_maxiter(i))
            start, how = prev, ("warm start from " + str(prev)) if prev is not None else "fresh start"
            if i > 0:
                how = f"refit of stage {i} output"
            plan = None
            if sdir.is_dir() and started.get("fingerprint") == fp:
                plan = _resume_plan(sdir, settings.ladder and i == 0, budget, target_n)
                if plan is None:
                    how += " (interrupted before the first checkpoint)"
                else:
                    start, how = plan["start"], plan["how"]
                    _append(sdir / "seilab.log", plan["note"])
                    say(f"stage {i + 1}: {plan['note']}")
            elif sdir.is_dir():
                shutil.rmtree(sdir)
            sdir.mkdir(parents=True, exist_ok=True)
            (sdir / STAGE_DONE).unlink(missing_ok=True)
            if not started or started.get("fingerprint") != fp:
                provenance.write_json(sdir / STAGE_STARTED, {"fingerprint": fp, "stage": i + 1, "kappa": kappa})
            start_n = None
            if start is not None:
                start_n = plan["functions"] if plan is not None else _count_functions(start)[0]
            t0 = time.perf_counter()
            if plan is not None and plan["finished"]:
                _clean_copy(start, out)
            else:
                maxiter = plan["maxiter"] if plan is not None else budget
                done_before = plan["done"] if plan is not None else 0
                cfg = self.input_config(settings, data, i, start, start_n, target_n, maxiter=maxiter)
                (sdir / "input.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
                left = f"{maxiter} of {budget}" if maxiter != budget else f"{budget}"
                msg = (f"stage {i + 1}/{len(settings.kappa_stages)} (kappa {kappa}, maxiter {left}): {how}; "
                       f"start basis {start_n if start_n is not None else 0} / target {target_n} functions")
                _append(sdir / "seilab.log", msg)
                say(msg)
                log_txt = sdir / "log.txt"
                attempts = _attempts(sdir) + [{
                    "attempt": len(_attempts(sdir)) + 1, "started_at": time.time(),
                    "log_offset": log_txt.stat().st_size if log_txt.is_file() else 0,
                    "start": str(start) if start is not None else None, "resume": plan is not None,
                    "how": how, "ladder": "ladder_step" in cfg["fit"], "budget": budget, "done": done_before,
                    "maxiter": maxiter}]
                provenance.write_json(sdir / ATTEMPTS, {"attempts": attempts})
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
        last = workdir / f"stage{len(settings.kappa_stages)}" / "fitting_data_info.pckl.gzip"
        return self.finish(prev, data, workdir, settings, activeset_data=last if last.is_file() else data.train)

    def finish(self, fitted: Path, data: TrainingData, workdir: Path, settings, activeset_data: Path) -> Potential:
        """``potential.yaml`` (copy of ``fitted``), ``potential.yace`` and, with ``training.activeset``,
        ``potential.asi`` (from ``activeset_data``) in ``workdir``."""
        final = workdir / "potential.yaml"
        shutil.copyfile(fitted, final)
        yace = workdir / "potential.yace"
        run_tool([tool("pace_yaml2yace"), "potential.yaml", "-o", "potential.yace"], cwd=workdir,
                 log=workdir / "tools.log", what="pace_yaml2yace")
        pot = Potential(yaml=final, yace=yace if yace.is_file() else None, backend=self.name,
                        elements=tuple(data.elements), reference_energies=dict(data.reference_energies))
        if settings.activeset:
            asi = self.active_set(pot, activeset_data, threads=settings.threads)
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
        return provenance.digest(parts)

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
    return provenance.load_json(path) or {}  # {} when missing; campaign paths come back absolute


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
