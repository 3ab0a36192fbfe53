"""The analysis over frames on a Dask cluster gives the serial path's numbers, streaming in a bounded window.

What runs (the README's cluster section describes exactly this):

* ``cluster: local``: ``seilab analyze --workers 2`` in a subprocess with an empty ``$HOME`` (a LocalCluster of
  2 one-thread worker processes), and in-process after a frame fails (the cluster is shut down);
* a scheduler address: a LocalCluster the test starts (module fixture), passed as ``cluster: tcp://...``, for
  every trajectory kind (byte spans read by the workers: image flags, unwrapped columns; frames shipped by the
  client: minimum-image unwrapping, extxyz), a frame selection, a truncated last frame, the memory window;
* ``cluster: slurm``: the analysis *stage* (``seilab run``'s function) with ``analysis.workers: 2`` on the
  project's one-node Slurm (``scripts/slurm-up.sh``; ``make test`` starts it), worker jobs sized by the
  campaign's ``cluster:`` section; skipped with the reason when Slurm is not up.

Every comparison is of the numbers ``analysis.json`` holds (all but provenance and the trajectory path),
exactly: the per-frame function is the serial one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import psutil
import pytest

from seilab.analysis.pipeline import analyze_trajectory
from seilab.settings.analysis import AnalysisSettings
from seilab.analysis.synthetic import layered_frame
from seilab.analysis.trajectory import write_lammps_dump
from seilab.errors import SeilabError

from fixtures.slurm import slurm_up

distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed (requirements/base.txt)")

LI, LI2S, LI3P, SSE = {"Li": 1}, {"Li": 2, "S": 1}, {"Li": 3, "P": 1}, {"Li": 7, "P": 3, "S": 11}
TYPES = ["Li", "P", "S"]
N_FRAMES = 9


def frames():
    """9 frames, 1,440 atoms: a growing Li | Li3P | Li2S | Li7P3S11 interphase; the same grid atoms
    random-walk (σ 0.6 Å per frame) so that some cross the interface planes and the cell faces."""
    rng = np.random.default_rng(7)
    walk = None
    out = []
    for k in range(N_FRAMES):
        t = 4.0 * k
        h = 3.0 * t**0.5
        regions = [(h, 40, LI), (h / 2, h, LI3P), (-h, h / 2, LI2S), (-40, -h, SSE)]
        fr = layered_frame(regions, (14.4, 14.4, 80), spacing=(2.4, 2.4, 2.0), jitter=0.2, seed=0, time_ps=t, index=k)
        walk = np.zeros_like(fr.unwrapped) if walk is None else walk + rng.normal(0, 0.6, walk.shape)
        fr.unwrapped = fr.unwrapped + walk
        s = (fr.unwrapped - fr.origin) @ fr.inv_cell
        fr.positions = fr.origin + (s - np.floor(s)) @ fr.cell
        fr.step = int(t * 1000)
        out.append(fr)
    return out


@pytest.fixture(scope="module")
def trajectories(tmp_path_factory):
    """The same frames as: a dump with image flags and one with unwrapped columns (workers read byte spans),
    a dump with wrapped positions only and an extxyz file (minimum-image unwrapping: the client reads)."""
    from ase.io import write

    root = tmp_path_factory.mktemp("par")
    fr = frames()
    paths = {
        "image-flags": write_lammps_dump(root / "flags.lammpstrj", fr, type_map=TYPES),
        "unwrapped-columns": write_lammps_dump(root / "xu.lammpstrj", fr, columns=("id", "element", "xu", "yu", "zu")),
        "minimum-image": write_lammps_dump(root / "wrapped.lammpstrj", fr, type_map=TYPES,
                                           columns=("id", "type", "x", "y", "z")),
    }
    atoms = []
    for f in fr:
        a = f.to_atoms()
        a.info["time_ps"] = f.time_ps
        atoms.append(a)
    write(root / "traj.extxyz", atoms, format="extxyz")
    paths["extxyz"] = root / "traj.extxyz"
    return paths


@pytest.fixture(scope="module")
def scheduler():
    """A running Dask scheduler with 2 one-thread worker processes, as a cluster's would be."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False}) as cluster, \
            Client(cluster) as client:
        client.run(lambda: __import__("seilab.analysis.pipeline"))  # workers import seilab once, up front
        yield cluster


def started_since(before: set) -> list:
    """Child processes alive now that were not in ``before`` (multiprocessing's resource tracker, started
    once per process at its first spawn and kept until it exits, is not a worker)."""
    def live(p):
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE and \
                "resource_tracker" not in " ".join(p.cmdline())
        except psutil.NoSuchProcess:
            return False

    return [p for p in psutil.Process().children(recursive=True) if p.pid not in before and live(p)]


def settings(**kw) -> AnalysisSettings:
    # structure every 3rd frame (the last frame gets its own), local phase labels: every per-frame part runs
    base = dict(type_map=TYPES, figures=False, structure_every=3, local_phase_radius_A=4.0, tasks_per_worker=1)
    return AnalysisSettings(**{**base, **kw})


def numbers(folder: Path) -> dict:
    data = json.loads((Path(folder) / "analysis.json").read_text())
    data.pop("provenance")
    data.pop("trajectory")
    return data


def serial(path, tmp_path, name="serial", partial=False, **kw) -> dict:
    analyze_trajectory(path, settings(**kw), out_dir=tmp_path / name, partial=partial)
    return numbers(tmp_path / name)


@pytest.mark.parametrize("kind", ["image-flags", "unwrapped-columns", "minimum-image", "extxyz"])
def test_scheduler_address_gives_the_serial_numbers(trajectories, scheduler, tmp_path, kind):
    path = trajectories[kind]
    expected = serial(path, tmp_path)
    res = analyze_trajectory(path, settings(workers=2, cluster=scheduler.scheduler_address), out_dir=tmp_path / "par")
    assert numbers(tmp_path / "par") == expected
    assert res.unwrap_method == {"image-flags": "image-flags", "unwrapped-columns": "columns"}.get(kind, "minimum-image")
    assert res.summary()["n_frames"] == N_FRAMES
    assert np.abs(res.flux.net_crossings).sum() > 0  # atoms crossed: the flux numbers compared are not all zero
    assert [p.name for p in tmp_path.iterdir() if "dask" in p.name] == []  # Dask's scratch folder is removed


def test_workers_ship_per_atom_labels_of_the_first_and_last_frame_only():
    """A worker's result for a middle frame leaves out the per-atom phase labels (the serial path keeps them
    for the first and last frame only): the structure part is otherwise the same, and far smaller."""
    import pickle

    from seilab.analysis.parallel import _frame_task
    from seilab.analysis.pipeline import InterphaseAnalysis
    from seilab.analysis.trajectory import TrajectoryReader

    fr = frames()
    ana = InterphaseAnalysis(settings())
    ana.begin(fr[0])
    reader = TrajectoryReader.__new__(TrajectoryReader)  # not read from: the frame is shipped
    full, _ = _frame_task(ana, reader, fr[4], True, False, True)
    lean, _ = _frame_task(ana, reader, fr[4], True, False, False)
    assert full.structure.atoms["labels"].size == fr[4].n_atoms and lean.structure.atoms is None
    np.testing.assert_array_equal(full.structure.labels, lean.structure.labels)
    assert len(pickle.dumps(lean)) < 0.5 * len(pickle.dumps(full))


def test_frame_selection_and_structure_frames(trajectories, scheduler, tmp_path):
    """start / stride / stop and structure_every decide which frames get the structure part, the last always."""
    kw = dict(start_frame=1, stride=2, stop_frame=8, structure_every=2)
    expected = serial(trajectories["image-flags"], tmp_path, **kw)
    par = settings(workers=2, cluster=scheduler.scheduler_address, figures=True, figure_dpi=30, **kw)
    res = analyze_trajectory(trajectories["image-flags"], par, out_dir=tmp_path / "par")
    assert numbers(tmp_path / "par") == expected
    assert (tmp_path / "par" / "snapshots.png").stat().st_size > 2000  # first and last frame, read by the client
    np.testing.assert_allclose(res.times_ps, [4, 12, 20, 28])  # frames 1, 3, 5, 7
    np.testing.assert_allclose(res.structure_times_ps, [4, 20, 28])  # every 2nd analysed frame, and the last


@pytest.mark.parametrize("partial", [True, False])
def test_truncated_last_frame(trajectories, scheduler, tmp_path, partial):
    cut = tmp_path / "cut.lammpstrj"
    text = trajectories["image-flags"].read_text()
    cut.write_text(text[: len(text) - 300])  # the last frame loses its last rows
    par = settings(workers=2, cluster=scheduler.scheduler_address)
    if not partial:
        with pytest.raises(SeilabError) as a:
            analyze_trajectory(cut, settings())
        with pytest.raises(SeilabError) as b:
            analyze_trajectory(cut, par)
        assert str(b.value) == str(a.value) and "truncated" in str(a.value)
        return
    expected = serial(cut, tmp_path, partial=True)
    analyze_trajectory(cut, par, out_dir=tmp_path / "par", partial=True)
    got = numbers(tmp_path / "par")
    assert got == expected
    assert got["partial"] and any("truncated last frame" in n for n in got["notes"])  # the reader's warning, noted


def test_frames_in_flight_are_bounded(trajectories, scheduler, tmp_path):
    """Frame tasks (and, when the client reads, the frames it ships) on the scheduler stay within
    workers x tasks_per_worker + 1 (the +1: Dask sends a consumed result's release one event-loop hop after
    the next submission) whatever the trajectory's length: 3 of 9 frames here; every frame went through."""
    from distributed.diagnostics.plugin import SchedulerPlugin

    alive = {"_frame_task": set(), "Frame": set()}
    peak = dict.fromkeys(alive, 0)
    seen = set()

    tasks = scheduler.scheduler.tasks  # the scheduler runs in this process

    class Count(SchedulerPlugin):
        def transition(self, key, start, finish, *args, **kwargs):
            if not str(key).startswith("_frame_task"):
                return
            seen.add(key)
            if finish in ("released", "forgotten", "erred"):
                alive["_frame_task"].discard(key)
            else:
                alive["_frame_task"].add(key)
            # scattered frames are put in memory without transitions: counted from the task table
            alive["Frame"] = {k for k in tasks if str(k).startswith("Frame-")}
            for kind in alive:
                peak[kind] = max(peak[kind], len(alive[kind]))

    scheduler.scheduler.add_plugin(Count(), name="count-frame-tasks")
    window = 2 * 1  # workers x tasks_per_worker
    try:
        for kind, shipped in (("image-flags", 0), ("minimum-image", N_FRAMES)):
            seen.clear()
            peak.update(dict.fromkeys(peak, 0))
            analyze_trajectory(trajectories[kind], settings(workers=2, cluster=scheduler.scheduler_address,
                                                            tasks_per_worker=1))
            assert len(seen) == N_FRAMES and 1 <= peak["_frame_task"] <= window + 1, (kind, peak)
            assert (peak["Frame"] > 0) == (shipped > 0) and peak["Frame"] <= window + 1, (kind, peak)
            assert not alive["_frame_task"]  # all released afterwards
    finally:
        scheduler.scheduler.remove_plugin(name="count-frame-tasks")


def test_cli_local_cluster_without_writing_home(trajectories, tmp_path):
    """`seilab analyze --workers 2`: a LocalCluster (the default cluster), same numbers, nothing under $HOME."""
    expected = serial(trajectories["image-flags"], tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    # matplotlib keeps its font cache in $HOME unless told otherwise: not what is checked here
    env.update(HOME=str(home), PYTHONPATH=os.pathsep.join(sys.path), MPLCONFIGDIR=str(tmp_path / "mpl"))
    (tmp_path / "s.yaml").write_text(textwrap.dedent("""\
        analysis: {structure_every: 3, local_phase_radius_A: 4.0, tasks_per_worker: 1}
        """))
    out = subprocess.run(
        [sys.executable, "-m", "seilab.cli", "analyze", str(trajectories["image-flags"]), "--type-map", "Li,P,S",
         "--out", str(tmp_path / "cli"), "--no-figures", "--settings", str(tmp_path / "s.yaml"), "--workers", "2"],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "on 2 Dask workers (local)" in out.stdout
    assert numbers(tmp_path / "cli") == expected
    assert list(home.rglob("*")) == []  # no ~/.config/dask, no worker space
    assert [p.name for p in tmp_path.iterdir() if "dask" in p.name] == []  # the scratch beside --out is removed


def test_local_cluster_is_shut_down_after_a_failing_frame(trajectories, tmp_path):
    """A bad atom row in frame 5 fails on a worker with the serial path's error, in frame order; the
    LocalCluster's processes are gone afterwards, and so is the scratch folder."""
    bad = tmp_path / "bad.lammpstrj"
    lines = trajectories["image-flags"].read_text().splitlines(keepends=True)
    starts = [i for i, ln in enumerate(lines) if ln.startswith("ITEM: TIMESTEP")]
    row = starts[5] + 9 + 3  # the 4th atom row of frame 5
    lines[row] = lines[row].replace(lines[row].split()[2], "oops", 1)
    bad.write_text("".join(lines))
    with pytest.raises(SeilabError) as a:
        analyze_trajectory(bad, settings(), out_dir=tmp_path / "serial")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(SeilabError) as b:
        analyze_trajectory(bad, settings(workers=2), out_dir=tmp_path / "par")
    assert str(b.value) == str(a.value)
    assert f"line {row + 1} (frame 5)" in str(a.value) and "'x' is not a number" in str(a.value)
    assert started_since(before) == []
    assert not (tmp_path / "par").exists() and [p.name for p in tmp_path.iterdir() if "dask" in p.name] == []


def worker_env(client) -> list:
    """What each worker process sees (the thread pin, the malloc trim Dask's nanny would set) and its folder."""
    env = {k: client.run(os.getenv, k) for k in ("OMP_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")}
    info = client.scheduler_info(n_workers=-1)["workers"]
    return [({k: env[k][w] for k in env}, info[w]["local_directory"]) for w in info]


def test_local_cluster_workers(tmp_path):
    """The LocalCluster: 2 one-thread workers, BLAS threads pinned, no malloc trim (+12 % CPU per frame
    measured with it), worker space in the scratch folder; its processes end with the context."""
    from seilab.analysis.parallel import dask_client

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with dask_client(settings(workers=2), scratch=tmp_path / "scratch") as client:
        assert sorted(client.nthreads().values()) == [1, 1]
        for env, folder in worker_env(client):
            assert env == {"OMP_NUM_THREADS": "1", "MALLOC_TRIM_THRESHOLD_": None}
            assert Path(folder).is_relative_to(tmp_path / "scratch")
    assert started_since(before) == []


def test_bad_settings_are_one_line_errors_naming_the_field(tmp_path):
    from seilab.cli.analysis import load_analysis_settings
    from seilab.cli.workflows import with_analysis_execution
    from fixtures.campaigns import minimal_campaign

    for kw, field in ((dict(cluster="pbs"), "analysis.cluster"), (dict(workers=0), "analysis.workers"),
                      (dict(tasks_per_worker=0), "analysis.tasks_per_worker"),
                      (dict(cluster_timeout_s=0), "analysis.cluster_timeout_s")):
        with pytest.raises(SeilabError, match=field) as e:
            load_analysis_settings(**kw)
        assert "\n" not in str(e.value)
    with pytest.raises(SeilabError, match=r"c\.yaml: analysis\.cluster: must be 'local', 'slurm' or a Dask"):
        with_analysis_execution(minimal_campaign(tmp_path), None, "pbs", "c.yaml")
    from seilab.analysis.parallel import dask_client

    with pytest.raises(SeilabError, match=r"analysis\.cluster: no Dask scheduler at tcp://127\.0\.0\.1:9"):
        with dask_client(settings(workers=2, cluster="tcp://127.0.0.1:9", cluster_timeout_s=1)):
            pass


def test_a_selection_past_the_end_is_the_same_one_line_error(trajectories):
    """No frame selected: the serial error (no cluster is started for nothing)."""
    errors = []
    for w in (1, 2):
        with pytest.raises(SeilabError, match=r"0 frames to analyse \(--start 50\)") as e:
            analyze_trajectory(trajectories["image-flags"], settings(workers=w, start_frame=50))
        errors.append(str(e.value))
    assert errors[0] == errors[1]


def test_slurm_cluster_runs_the_analysis_stage(trajectories, tmp_path):
    """The analysis stage with analysis.workers: 2, cluster: slurm: two Slurm jobs of one worker each, sized
    by the campaign's cluster: section; the serial stage's numbers."""
    if why := slurm_up():
        pytest.skip(why)
    from fixtures.campaigns import minimal_campaign
    from seilab.workflows.stages import get_stage

    def campaign(folder, analysis):
        folder.mkdir()
        c = minimal_campaign(folder, extra=textwrap.dedent(f"""\
            analysis: {analysis}
            cluster:
              stages:
                analysis: {{cores_per_rank: 1, memory_per_core_MB: 1000, walltime_min: 10}}
            """))
        latest = c.layout.simulation_latest
        latest.parent.mkdir(parents=True, exist_ok=True)
        latest.write_text(json.dumps({"trajectory": str(trajectories["image-flags"])}))
        return c

    common = "figures: false, structure_every: 3, local_phase_radius_A: 4.0, tasks_per_worker: 1"
    one = campaign(tmp_path / "one", f"{{{common}}}")
    two = campaign(tmp_path / "two", f"{{{common}, workers: 2, cluster: slurm, cluster_timeout_s: 120}}")
    get_stage("analysis").run(one)
    get_stage("analysis").run(two)
    assert numbers(two.stage_dir("analysis")) == numbers(one.stage_dir("analysis"))
    # what Slurm was asked for, and that the worker jobs were ended (their logs were under this campaign)
    jobs = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, timeout=20).stdout
    ours = [j for j in jobs.splitlines() if "JobName=seilab-analysis" in j and str(two.output) in j]
    assert len(ours) == 2, jobs
    for j in ours:
        assert "NumCPUs=1 " in j and "TimeLimit=00:10:00 " in j and "MinMemoryNode=1000M " in j, j
        assert "JobState=PENDING" not in j and "JobState=RUNNING" not in j, j

    # the worker processes in the jobs: one thread each, no malloc trim (our config folder reached them)
    from seilab.analysis.parallel import dask_client

    with dask_client(two.analysis.model_copy(update={"workers": 1}), two.cluster.for_stage("analysis"),
                     scratch=tmp_path / "scratch") as client:
        assert list(client.nthreads().values()) == [1]
        for env, folder in worker_env(client):
            assert env == {"OMP_NUM_THREADS": "1", "MALLOC_TRIM_THRESHOLD_": None}
            assert Path(folder).is_relative_to(tmp_path / "scratch")
