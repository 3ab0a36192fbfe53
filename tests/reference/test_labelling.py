"""The parallel labeller: every unique structure reaches the reference once, across kills and reruns."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from ase.calculators.lj import LennardJones

from seilab.reference.labelling import label_structures, run_line, summary_table
from seilab.reference.store import DatasetStore, structure_hash

HERE = Path(__file__).resolve().parent


class CountingLJ(LennardJones):
    """Lennard-Jones that logs every finished evaluation to a file (one line: pid).

    ``fail_after``: raise RuntimeError instead of the (n+1)-th evaluation of this process;
    ``kill_after``: SIGKILL this process instead of it; ``kill_parent_after``: SIGKILL the parent
    (the labelling driver, from a pool worker) after that many. ``nan_for``: atom count that gets NaN.
    """

    def __init__(self, log, fail_after=None, kill_after=None, nan_for=None, kill_parent_after=None, delay_s=0.0):
        super().__init__(sigma=2.0, epsilon=0.02, rc=5.0, smooth=True)
        self.log, self.fail_after, self.kill_after, self.nan_for = Path(log), fail_after, kill_after, nan_for
        self.kill_parent_after, self.delay_s = kill_parent_after, delay_s
        self.calls = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("simulated crash of the reference")
        if self.kill_after is not None and self.calls >= self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        super().calculate(atoms, properties, system_changes)
        if self.delay_s:
            import time

            time.sleep(self.delay_s)  # a reference slower than storing a label, like the real ones
        if self.nan_for is not None and len(atoms) == self.nan_for:
            self.results["energy"] = float("nan")
        self.calls += 1
        with open(self.log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        if self.kill_parent_after is not None and self.calls >= self.kill_parent_after:
            os.kill(os.getppid(), signal.SIGKILL)


class CountingFactory:
    """Picklable factory (spawned workers import this module); logs each calculator it builds."""

    def __init__(self, log, **kw):
        self.log, self.kw = Path(log), kw

    def __call__(self):
        with open(self.log.with_suffix(".factory"), "a") as fh:
            fh.write(f"{os.getpid()}\n")
        with open(self.log.with_suffix(".threads"), "a") as fh:
            fh.write(f"{os.environ.get('OMP_NUM_THREADS')}\n")
        return CountingLJ(self.log, **self.kw)


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.is_file() else []


def structures(n=12, duplicates=3, seed=0):
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    base = bulk("Li", "bcc", a=3.45, cubic=True).repeat((2, 2, 2))
    out = []
    for i in range(n):
        a = base.copy()
        a.positions += rng.normal(0, 0.05, a.positions.shape)
        a.info.update(kind="perturbed", phase="Li_bcc" if i % 2 else "Li_other", source=f"test:{i}")
        out.append(a)
    return out + [out[i].copy() for i in range(duplicates)]


def store_at(tmp_path):
    return DatasetStore(tmp_path / "dataset", reference={"name": "lj"})


def n_unique(frames):
    return len({structure_hash(f) for f in frames})


def test_labels_every_unique_structure_once(tmp_path):
    frames = structures()
    log = tmp_path / "calls.log"
    store = store_at(tmp_path)
    report = label_structures(frames, store, CountingFactory(log), progress=False)
    assert report.duplicates == 3 and report.labelled == n_unique(frames) == 12
    assert len(lines(log)) == 12 and len(store) == 12
    assert len(lines(log.with_suffix(".factory"))) == 1  # one calculator per process
    assert report.total_structures == 12 and report.total_atoms == 12 * 16
    rows = {(r["kind"], r["phase"]): r["structures"] for r in report.rows}
    assert rows == {("perturbed", "Li_bcc"): 6, ("perturbed", "Li_other"): 6}
    lab = store.get(structure_hash(frames[0]))
    ref = frames[0].copy()
    ref.calc = LennardJones(sigma=2.0, epsilon=0.02, rc=5.0, smooth=True)
    assert lab.atoms.get_potential_energy() == pytest.approx(ref.get_potential_energy())
    assert lab.meta["source"] == "test:0" and lab.meta["label_seconds"] >= 0
    again = label_structures(frames, store, CountingFactory(log), progress=False)
    assert again.labelled == 0 and again.already_in_store == 12 and len(lines(log)) == 12
    assert "total" in str(summary_table(again).columns[0]._cells) and "0 labelled" in run_line(again)


def test_interrupted_run_resumes_without_recomputing(tmp_path):
    frames = structures()
    log = tmp_path / "calls.log"
    store = store_at(tmp_path)
    with pytest.raises(RuntimeError, match="simulated crash"):
        label_structures(frames, store, CountingFactory(log, fail_after=5), progress=False)
    assert len(store) == 5 == len(lines(log))
    report = label_structures(frames, store, CountingFactory(log), progress=False)
    assert report.already_in_store == 5 and report.labelled == 7
    assert len(lines(log)) == n_unique(frames) == len(store)


def test_killed_process_resumes_without_recomputing(tmp_path):
    """SIGKILL the labelling process after k labels, rerun: total reference calls == unique structures."""
    script = tmp_path / "label.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(HERE)!r})
        from pathlib import Path
        from test_labelling import CountingFactory, structures, store_at
        from seilab.reference.labelling import label_structures
        tmp = Path(sys.argv[1])
        kill = int(sys.argv[2]) if len(sys.argv) > 2 else None
        r = label_structures(structures(), store_at(tmp), CountingFactory(tmp / "calls.log", kill_after=kill),
                             progress=False)
        print("labelled", r.labelled, "skipped", r.already_in_store)
    """))
    first = subprocess.run([sys.executable, str(script), str(tmp_path), "4"], capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == -signal.SIGKILL, first.stderr
    log = tmp_path / "calls.log"
    assert len(lines(log)) == 4 and len(store_at(tmp_path)) == 4
    second = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 0, second.stderr
    assert "labelled 8 skipped 4" in second.stdout
    assert len(lines(log)) == n_unique(structures()) == len(store_at(tmp_path)) == 12


def _group(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def test_killed_parallel_driver_leaves_no_workers_and_resumes(tmp_path):
    """kill -9 the driver of a 2-worker run: workers exit, a rerun labels only what is missing."""
    import time

    script = tmp_path / "label.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(HERE)!r})
        from pathlib import Path
        from test_labelling import CountingFactory, structures, store_at
        from seilab.reference.labelling import label_structures
        if __name__ == "__main__":
            tmp = Path(sys.argv[1])
            kill = int(sys.argv[2]) if len(sys.argv) > 2 else None
            r = label_structures(structures(n=16), store_at(tmp),
                                 CountingFactory(tmp / "calls.log", kill_parent_after=kill, delay_s=0.2), workers=2,
                                 progress=False)
            print("labelled", r.labelled, "skipped", r.already_in_store)
    """))
    # own session (all its processes share one group id); output to a file, not a pipe: orphaned
    # workers would hold a pipe open and hang the test
    with open(tmp_path / "first.out", "w") as out:
        first = subprocess.Popen([sys.executable, str(script), str(tmp_path), "4"], stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        try:
            first.wait(timeout=300)
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
    assert first.returncode == -signal.SIGKILL, (tmp_path / "first.out").read_text()
    deadline = time.time() + 15
    while _group(first.pid) and time.time() < deadline:
        time.sleep(0.2)
    orphans = _group(first.pid)
    if orphans:  # do not leave them behind when the test fails
        os.killpg(first.pid, signal.SIGKILL)
    assert not orphans, f"orphaned processes after the driver was killed: {orphans}"
    stored = len(store_at(tmp_path))
    first_calls = len(lines(tmp_path / "calls.log"))
    assert 1 <= stored <= first_calls < 16
    second = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 0, second.stderr
    assert f"labelled {16 - stored} skipped {stored}" in second.stdout
    assert len(store_at(tmp_path)) == 16
    # the rerun computes exactly the missing labels; what the killed driver had not yet stored
    # (in flight or queued when it died) is lost, never a stored label
    assert len(lines(tmp_path / "calls.log")) - first_calls == 16 - stored


def test_reference_failures_are_recorded_and_the_rest_labelled(tmp_path):
    frames = structures(n=4, duplicates=0)
    odd = frames[0].copy()
    del odd[0]  # 15 atoms: this one gets a NaN energy
    odd.info["source"] = "test:odd"
    log = tmp_path / "calls.log"
    store = store_at(tmp_path)
    report = label_structures(frames + [odd], store, CountingFactory(log, nan_for=15), progress=False)
    assert report.labelled == 4 and len(store) == 4
    assert len(report.failed) == 1 and report.failed[0][1] == "test:odd" and "non-finite" in report.failed[0][2]


def test_parallel_workers_spawned_each_with_one_calculator(tmp_path):
    """2 spawned workers: each builds its calculator once; a crash in one keeps finished labels."""
    frames = structures(n=16, duplicates=2)
    log = tmp_path / "calls.log"
    store = store_at(tmp_path)
    with pytest.raises(RuntimeError, match="simulated crash"):
        label_structures(frames, store, CountingFactory(log, fail_after=3), workers=2, progress=False)
    done = len(lines(log))
    assert 3 <= done <= 6 and len(store) == done  # every finished label was stored
    assert len(set(lines(log.with_suffix(".factory")))) == len(lines(log.with_suffix(".factory"))) <= 2
    report = label_structures(frames, store, CountingFactory(log), workers=2, threads=1, progress=False)
    assert set(lines(log.with_suffix(".threads"))) == {"1"}  # workers run with the reference's threads
    assert report.already_in_store == done and report.labelled == 16 - done
    assert len(lines(log)) == n_unique(frames) == len(store) == 16
    pids = set(lines(log)[done:])
    assert os.getpid() not in {int(p) for p in pids}  # labelled in worker processes
    factories = lines(log.with_suffix(".factory"))
    assert len(factories) == len(set(factories))  # never two calculators in one process
    serial = store_at(tmp_path / "serial")
    label_structures(frames, serial, CountingFactory(tmp_path / "serial.log"), progress=False)
    for h in serial.hashes():
        assert store.get(h).atoms.get_potential_energy() == pytest.approx(serial.get(h).atoms.get_potential_energy())


@pytest.mark.slow
def test_chgnet_reference_labels_tiny_cells(tmp_path):
    import functools

    from seilab.config import ReferenceSettings
    from seilab.reference.calculators import describe, get_calculator

    settings = ReferenceSettings()
    frames = structures(n=2, duplicates=1)
    store = DatasetStore(tmp_path / "dataset", reference=describe(settings))
    report = label_structures(frames, store, functools.partial(get_calculator, settings), progress=False)
    assert report.labelled == 2 and report.duplicates == 1
    for lab in store:
        assert np.isfinite(lab.atoms.get_potential_energy())
        assert lab.atoms.get_forces().shape == (16, 3) and lab.atoms.get_stress().shape == (6,)
    assert store.reference["name"] == "chgnet"


def test_store_summary_counts_kinds_phases_and_generations(tmp_path):
    frames = structures(n=6, duplicates=0)
    store = store_at(tmp_path)
    label_structures(frames, store, CountingFactory(tmp_path / "calls.log"), progress=False)
    extra = structures(n=3, duplicates=0, seed=1)
    for a in extra:  # what an active-learning generation adds (source "gen002:<candidate>")
        a.info.update(kind="active_learning", phase="Li_bcc", source=f"gen002:{a.info['source']}")
    label_structures(extra, store, CountingFactory(tmp_path / "calls.log"), progress=False)

    data = store.write_summary()
    assert data["structures"] == 9 and data["atoms"] == 9 * 16
    assert data["per_kind"] == {"active_learning": 3, "perturbed": 6}
    assert data["per_origin"] == {"gen002": 3, "sampling": 6}
    rows = {(r["kind"], r["phase"], r["origin"]): r["structures"] for r in data["rows"]}
    assert rows == {("perturbed", "Li_bcc", "sampling"): 3, ("perturbed", "Li_other", "sampling"): 3,
                    ("active_learning", "Li_bcc", "gen002"): 3}
    assert (store.root / "summary.json").is_file()
    assert (store.root / "composition.png").stat().st_size > 5000
    assert not list(store.root.glob(".composition*"))  # the temporary file was renamed into place

    # a label whose sidecar is gone is still counted (read whole, no kind/phase), as by store.summary()
    side = next(store.labels_dir.glob("*/*.extxyz.json"))
    side.unlink()
    rows = store.summary()
    assert sum(r["structures"] for r in rows) == 9 and sum(r["atoms"] for r in rows) == 9 * 16
    assert {"kind": "", "phase": "", "structures": 1, "atoms": 16, "label_seconds": 0.0} in rows
