"""Real pacemaker fits on a tiny CHGNet-labelled dataset: outputs, metrics, γ, skip, resume after a kill."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from seilab.errors import SeilabError

pytestmark = pytest.mark.slow


def test_fit_writes_every_output(good_fit):
    campaign, result = good_fit
    gdir = campaign.stage_dir("training") / "gen000"
    assert result.generation == "gen000" and result.directory == gdir
    for name in ("potential.yaml", "potential.yace", "potential.asi", "metrics.json", "parity.png", "done.json",
                 "data/train.pckl.gzip", "data/test.pckl.gzip", "data/split.json"):
        assert (gdir / name).is_file(), name
    s1 = json.loads((gdir / "stage1" / "stage.json").read_text())
    assert s1["kappa"] == 0.9 and s1["started_from"] == "fresh start" and s1["functions"] == 36
    inp = (gdir / "stage1" / "input.yaml").read_text()
    assert "ladder_step" in inp and "FinnisSinclairShiftedScaled" in inp and "kappa: 0.9" in inp
    assert "Ladder-scheme fitting is ON" in (gdir / "stage1" / "log.txt").read_text()


def test_metrics_cover_train_and_test_by_kind_and_element(good_fit):
    campaign, result = good_fit
    split = json.loads((result.directory / "data" / "split.json").read_text())
    m = result.metrics
    assert m["test"]["n_structures"] == split["n_test"] >= 1
    assert m["train"]["n_structures"] == split["n_train"]
    for name in ("train", "test"):
        for key in ("energy_meV_per_atom", "force_meV_per_A"):
            assert np.isfinite(m[name][key]["rmse"]) and m[name][key]["mae"] <= m[name][key]["rmse"]
    assert set(m["train"]["force_by_element"]) == {"Li", "P", "S"}
    assert {"crystalline", "hot_md"} <= set(m["train"]["by_kind"])
    # the fit learned something: much better than the spread of the data
    assert m["train"]["energy_meV_per_atom"]["rmse"] < 1000
    assert m["train"]["force_meV_per_A"]["rmse"] < 1500


def test_potential_gives_energies_forces_and_gamma(good_fit):
    from seilab.training import get_backend, latest_potential
    from fixtures.training import bundled_atoms

    campaign, result = good_fit
    pot = latest_potential(campaign)
    assert pot.yaml == result.potential.yaml and pot.asi is not None and pot.yace is not None
    calc = get_backend().calculator(pot, gamma=True)
    atoms = bundled_atoms("Li2S")
    atoms.calc = calc
    e = atoms.get_potential_energy()
    assert np.isfinite(e) and atoms.get_forces().shape == (len(atoms), 3)
    gamma = calc.results["gamma"]
    assert gamma.shape == (len(atoms),) and np.all(gamma >= 0)
    assert set(pot.reference_energies) == {"Li", "P", "S"}


def test_rerun_with_same_inputs_is_skipped(good_fit):
    from seilab.training.stage import run_training

    campaign, result = good_fit
    t0 = time.perf_counter()
    again = run_training(campaign)
    assert again.skipped and again.generation == result.generation
    assert time.perf_counter() - t0 < 60  # no pacemaker run


def test_train_command_prints_and_skips(good_fit, tmp_path, capsys):
    import yaml

    from seilab.cli.training import train

    campaign, result = good_fit
    cfg = tmp_path / "campaign.yaml"
    cfg.write_text(yaml.safe_dump(campaign.model_dump(mode="json")))
    train(cfg)
    out = capsys.readouterr().out
    assert "skipped" in out and "test" in out and str(result.potential.yaml) in out


HOOK = '''
import os, signal

def die_in_second_ladder_step(basis_config, current_fit_iteration, current_fit_cycle, current_ladder_step):
    """Simulates a hard interrupt (SIGKILL, e.g. out of memory or a lost node) mid-fit."""
    if current_ladder_step >= 1:
        os.kill(os.getpid(), signal.SIGKILL)


def count_iterations(basis_config, current_fit_iteration, current_fit_cycle, current_ladder_step):
    """One line per optimizer iteration, in iterations.txt of the stage folder (pacemaker's cwd)."""
    with open("iterations.txt", "a") as fh:
        fh.write(f"{os.getpid()} {current_ladder_step} {current_fit_iteration + 1}\\n")


def _die_after(n, current_fit_iteration):
    if current_fit_iteration + 1 >= n:  # after the n-th iteration's checkpoint (saved by the callback before)
        os.kill(os.getpid(), signal.SIGKILL)


def die_after_4_iterations(basis_config, current_fit_iteration, current_fit_cycle, current_ladder_step):
    _die_after(4, current_fit_iteration)


def die_after_2_iterations(basis_config, current_fit_iteration, current_fit_cycle, current_ladder_step):
    _die_after(2, current_fit_iteration)


def die_after_3_iterations(basis_config, current_fit_iteration, current_fit_cycle, current_ladder_step):
    _die_after(3, current_fit_iteration)
'''


def _write_hooks(shared_base, monkeypatch):
    hooks = shared_base / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "seilab_test_hooks.py").write_text(HOOK)
    monkeypatch.setenv("PYTHONPATH", str(hooks) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _iterations_per_attempt(stage_dir):
    """Iterations pacemaker ran in ``stage_dir``, per attempt (pacemaker process), in order."""
    runs: dict = {}
    for row in (stage_dir / "iterations.txt").read_text().splitlines():
        pid, _step, _it = row.split()
        runs[pid] = runs.get(pid, 0) + 1
    return list(runs.values())


def test_training_resumes_from_its_last_checkpoint(shared_base, monkeypatch):
    """Kill pacemaker during stage 1 (ladder step 2); the rerun continues from the interim potential."""
    from seilab.training.stage import run_training
    from fixtures.training import BROKEN_TRAINING, shared_campaign

    _write_hooks(shared_base, monkeypatch)
    killer = dict(BROKEN_TRAINING, callbacks=["seilab_test_hooks.die_in_second_ladder_step"])
    campaign = shared_campaign(shared_base, "broken", killer)
    stage1 = campaign.stage_dir("training") / "gen000" / "stage1"
    with pytest.raises(SeilabError, match=r"pacemaker \(stage 1.*exit -9"):
        run_training(campaign)
    assert not (stage1 / "stage.json").exists()
    interims = sorted(p.name for p in stage1.glob("interim_potential*.yaml"))
    assert "interim_potential_ladder_step_0.yaml" in interims

    campaign = shared_campaign(shared_base, "broken", BROKEN_TRAINING)   # same fit, no killer
    result = run_training(campaign)
    log = (stage1 / "seilab.log").read_text()
    assert re.search(r"resume from interim_potential\S*\.yaml \(copied to resume_1\.yaml\); start basis [1-9]", log)
    pac = (stage1 / "log.txt").read_text()
    # the ladder goes on from the interim basis (not from an empty one)
    m = re.search(r"Initial potential provided: \S*resume_1\.yaml, it contains (\d+) functions", pac)
    assert m and 0 < int(m.group(1)) < 36
    assert "Initial potential is NOT provided" not in pac.split("resume_1.yaml")[-1]
    done = json.loads((stage1 / "stage.json").read_text())
    assert done["started_from"].startswith("resume from")
    # the second kappa stage refits the first stage's potential
    s2 = json.loads((campaign.stage_dir("training") / "gen000" / "stage2" / "stage.json").read_text())
    assert s2["kappa"] == 0.90 and "refit of stage 1" in s2["started_from"]
    assert "kappa: 0.9" in (stage1.parent / "stage2" / "input.yaml").read_text()
    assert result.potential.asi is not None and not result.skipped


#: one pyace-evaluated stage without ladder: pacemaker checkpoints after every iteration (interim_potential_0.yaml)
REFIT = dict(functions_per_element=4, ladder=False, kappa_stages=[0.9], maxiter=[8], evaluator="pyace",
             threads=1, display_step=1, activeset=False)


def test_resumed_fit_runs_only_the_iterations_left(shared_base, monkeypatch):
    """SIGKILL after 4 of 8 iterations, again after 2 more, then a plain rerun: 8 iterations in all, not 4 + 8 + 8."""
    from seilab.training.stage import run_training
    from fixtures.training import shared_campaign

    _write_hooks(shared_base, monkeypatch)
    budget, interval = REFIT["maxiter"][0], 1          # pacemaker's per-iteration checkpoint
    stage1 = None
    for killer in ("die_after_4_iterations", "die_after_2_iterations"):
        campaign = shared_campaign(shared_base, "killed-refit", dict(
            REFIT, callbacks=["seilab_test_hooks.count_iterations", f"seilab_test_hooks.{killer}"]))
        stage1 = campaign.stage_dir("training") / "gen000" / "stage1"
        with pytest.raises(SeilabError, match=r"pacemaker \(stage 1.*exit -9"):
            run_training(campaign)
        assert not (stage1 / "stage.json").exists()
    counting = ["seilab_test_hooks.count_iterations"]
    campaign = shared_campaign(shared_base, "killed-refit", dict(REFIT, callbacks=counting))
    result = run_training(campaign)

    runs = _iterations_per_attempt(stage1)
    print(f"iterations per attempt: {runs} (total {sum(runs)}, stage budget {budget})")
    assert len(runs) == 3 and runs[:2] == [4, 2]
    assert sum(runs) <= budget + interval, f"{runs}: the resumes repeated iterations"
    assert sum(runs) >= budget - interval, f"{runs}: the resumes dropped iterations"
    log = (stage1 / "seilab.log").read_text()
    assert re.search(r"resume from interim_potential_0\.yaml after 4 of 8 iterations: 4 left", log), log
    assert re.search(r"resume from interim_potential_0\.yaml after 6 of 8 iterations: 2 left", log), log
    assert "maxiter: 2" in (stage1 / "input.yaml").read_text()
    done = json.loads((stage1 / "stage.json").read_text())
    assert done["started_from"].startswith("resume from") and done["functions"] > 0
    assert result.potential.yaml.is_file() and not result.skipped
    assert (stage1 / "output_potential.yaml").is_file()


def test_resume_with_no_iterations_left_finishes_the_stage(shared_base, monkeypatch):
    """Killed after the last iteration's checkpoint: the rerun takes it as the stage's result, no new fit."""
    from seilab.training.stage import run_training
    from fixtures.training import shared_campaign

    _write_hooks(shared_base, monkeypatch)
    settings = dict(REFIT, maxiter=[3])
    campaign = shared_campaign(shared_base, "killed-at-the-end", dict(
        settings, callbacks=["seilab_test_hooks.count_iterations", "seilab_test_hooks.die_after_3_iterations"]))
    stage1 = campaign.stage_dir("training") / "gen000" / "stage1"
    with pytest.raises(SeilabError, match=r"exit -9"):
        run_training(campaign)
    counting = ["seilab_test_hooks.count_iterations"]
    campaign = shared_campaign(shared_base, "killed-at-the-end", dict(settings, callbacks=counting))
    result = run_training(campaign)
    assert _iterations_per_attempt(stage1) == [3]
    assert (stage1 / "pacemaker.out").read_text().count("### ") == 1   # pacemaker was not started again
    assert "after 3 of 3 iterations: nothing left" in (stage1 / "seilab.log").read_text()
    assert json.loads((stage1 / "stage.json").read_text())["started_from"].startswith("resume from")
    assert result.potential.yaml.is_file()


def test_log_cycles_reads_the_iterations_pacemaker_logged():
    """Both ways pacemaker logs an iteration (a detailed line, a FIT STATS block) count; summaries do not."""
    from seilab.training.pacemaker import log_cycles

    ts = "2026-01-01 00:00:00,000 I - "
    block = "\n".join([ts, "-" * 20 + "{}" + "-" * 20, "Iteration:  #{}   Loss:    Total:  1.0e+00 (100%) "])
    text = "\n".join([
        ts + "Start pacemaker", ts + "Cycle fitting loop", ts + "Number of fit attempts: 0/1",
        ts + "Total number of functions: 12 / number of parameters: 30",
        ts + "Initial state:#0    (1 evals):        Loss: 2.9e+00", block.format("INIT STATS", 0),
        ts + "Iteration   #1    (3 evals):        Loss: 2.4e+00", ts + "Iteration   #2    (5 evals):  Loss: 2.3e+00",
        block.format("FIT STATS", 3), ts + "Iteration   #4    (9 evals):  Loss: 2.2e+00",
        block.format("Cycle last iteration:", 4), block.format("LADDER STEP", 4),
        ts + "Cycle fitting loop", ts + "Total number of functions: 24 / number of parameters: 60",
        ts + "Initial state:#0    (1 evals):        Loss: 2.1e+00", block.format("FIT STATS", 1)])
    assert log_cycles(text) == [{"functions": 12, "iterations": 4}, {"functions": 24, "iterations": 1}]
    assert log_cycles(ts + "Start pacemaker\n" + ts + "Loading input.yaml...") == []


def test_resume_plan_adds_up_iterations_over_attempts(tmp_path):
    """Iterations done add up over resumes; an attempt killed before its first checkpoint is started again."""
    from pyace.multispecies_basisextension import construct_bbasisconfiguration

    from seilab import provenance
    from seilab.training.pacemaker import ATTEMPTS, PacemakerBackend, _resume_plan
    from seilab.settings.training import TrainingSettings

    settings = TrainingSettings(functions_per_element=4, ladder=False, kappa_stages=[0.9], maxiter=[10])
    conf = construct_bbasisconfiguration(PacemakerBackend.potential_section(settings, ["Li", "S"]))
    n = conf.total_number_of_functions
    ts = "2026-01-01 00:00:00,000 I - "

    def attempt_log(iterations):
        lines = [ts + "Start pacemaker", ts + "Cycle fitting loop", ts + f"Total number of functions: {n} / x"]
        lines += [ts + f"Iteration   #{k}    (1 evals): Loss: 1" for k in range(1, iterations + 1)]
        return "\n".join(lines) + "\n"

    log = tmp_path / "log.txt"
    log.write_text(attempt_log(3))
    conf.save(str(tmp_path / "interim_potential_0.yaml"))
    now = time.time()
    first = {"started_at": now - 100, "log_offset": 0, "start": None, "resume": False, "ladder": False,
             "done": 0, "maxiter": 10}
    provenance.write_json(tmp_path / ATTEMPTS, {"attempts": [first]})
    plan = _resume_plan(tmp_path, False, 10, n)
    assert (plan["done"], plan["maxiter"], plan["start"].name, plan["finished"]) == (3, 7, "resume_1.yaml", False)
    assert plan["note"] == "resume from interim_potential_0.yaml after 3 of 10 iterations: 7 left"

    # the resumed attempt is killed before its first checkpoint: the interim is older than its start
    second = {"started_at": now + 100, "log_offset": log.stat().st_size, "start": str(plan["start"]),
              "resume": True, "ladder": False, "done": 3, "maxiter": 7, "how": plan["how"]}
    provenance.write_json(tmp_path / ATTEMPTS, {"attempts": [first, second]})
    again = _resume_plan(tmp_path, False, 10, n)
    assert (again["done"], again["maxiter"], again["start"].name) == (3, 7, "resume_1.yaml")
    assert "no readable checkpoint" in again["note"]

    # ... or after 5 more iterations (checkpoint newer than its start)
    second["started_at"] = now - 50
    provenance.write_json(tmp_path / ATTEMPTS, {"attempts": [first, second]})
    with open(log, "a") as fh:
        fh.write(attempt_log(5))
    os.utime(tmp_path / "interim_potential_0.yaml")
    plan = _resume_plan(tmp_path, False, 10, n)
    assert (plan["done"], plan["maxiter"], plan["start"].name) == (8, 2, "resume_2.yaml")
    # a fit cycle that ended (best_cycle written after the last iteration) leaves nothing to do
    conf.save(str(tmp_path / "interim_potential_best_cycle.yaml"))
    os.utime(tmp_path / "interim_potential_best_cycle.yaml", (now + 1, now + 1))
    assert _resume_plan(tmp_path, False, 10, n)["finished"]


def test_killed_parent_takes_the_fit_down(tmp_path):
    """A child started by run_tool dies with seilab (PR_SET_PDEATHSIG), so no orphan fit keeps running."""
    pidfile = tmp_path / "child.pid"
    (tmp_path / "child.py").write_text(
        f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)\n")
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\nfrom seilab.training.pacemaker import run_tool\n"
        "run_tool([sys.executable, 'child.py'], cwd=Path('.'), log=Path('tool.log'))\n")
    parent = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    for _ in range(200):
        if pidfile.is_file() and pidfile.read_text():
            break
        time.sleep(0.1)
    child = int(pidfile.read_text())
    parent.kill()
    parent.wait()
    for _ in range(100):
        if not _alive(child):
            break
        time.sleep(0.1)
    else:
        os.kill(child, 9)
        pytest.fail("child survived its parent")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_next_generation_warm_starts_from_the_previous_potential(shared_base, tmp_path):
    """Active learning's path: new settings or data → gen001 starts from gen000's coefficients."""
    import shutil

    from seilab.training.stage import run_training
    from fixtures.training import BROKEN_TRAINING, shared_campaign

    broken = shared_campaign(shared_base, "broken", BROKEN_TRAINING)
    first = run_training(broken)                       # finished by the resume test (else fitted now)
    shutil.copytree(broken.output, tmp_path / "warm")  # keep the shared broken model untouched
    warm = shared_campaign(tmp_path, "warm", dict(BROKEN_TRAINING, kappa_stages=[0.9], maxiter=[2]))
    second = run_training(warm)
    assert second.generation == "gen001" and not second.skipped
    stage1 = warm.stage_dir("training") / "gen001" / "stage1"
    assert "warm start from" in (stage1 / "seilab.log").read_text()
    assert re.search(r"Target potential loaded from file '\S*gen000/potential\.yaml', it contains 36 functions",
                     (stage1 / "log.txt").read_text())
    inputs = json.loads((warm.stage_dir("training") / "gen001" / "inputs.json").read_text())
    assert inputs["init_from"]["generation"] == "gen000"
    assert first.generation == "gen000"
