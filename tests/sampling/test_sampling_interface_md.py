"""Reference MD of the sampled interfaces (kind "interface_md"): frames, resume, selection."""

import numpy as np
import pytest
from sampling_helpers import CountingLJ, bundled_atoms, exploding, lj, small_settings

from seilab import provenance
from seilab.geometry import min_distance
from seilab.sampling.common import run_jobs
from seilab.sampling.interface_md import (interface_md_job, interface_md_jobs, interface_md_outputs,
                                          interface_md_path, interface_md_starts)
from seilab.sampling.interfaces import generate_interfaces
from seilab.sampling.md import read_checkpoint

#: SMALL's two plane pairs give a 168-atom and a 152-atom interface (Li(110) on Li7P3S11 (101), (100)).
S = small_settings()


@pytest.fixture(scope="module")
def interface_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("interfaces")
    got = generate_interfaces("Li_bcc", bundled_atoms("Li_bcc"), "Li7P3S11", bundled_atoms("Li7P3S11"), S, out)
    assert len(got["files"]) == 2
    return got["files"]


def test_starts_are_the_smallest_cell_of_each_plane_pair(interface_files):
    starts = interface_md_starts(interface_files, S)
    assert [s["name"] for s in starts] == [f.stem for f in interface_files]
    for s in starts:
        frames = provenance.read_extxyz(s["start_file"])
        assert s["n_atoms"] == len(frames[s["start_index"]]) == min(len(a) for a in frames)
        assert s["phase"] == frames[s["start_index"]].info["phase"] and "|" in s["phase"]
    assert len(interface_md_starts(interface_files, S.model_copy(update={"interface_md_max_structures": 1}))) == 1
    assert interface_md_starts(interface_files, S.model_copy(update={"interface_md_max_structures": 0})) == []
    smaller = S.model_copy(update={"interface_md_max_atoms": 160})  # only the 152-atom one fits
    assert [s["n_atoms"] for s in interface_md_starts(interface_files, smaller)] == [152]


def test_frames_are_written_tagged_and_resumable(interface_files, tmp_path):
    starts = interface_md_starts(interface_files, S)
    jobs = interface_md_jobs(starts, S, tmp_path)
    assert len(jobs) == len(starts) * len(S.interface_md_temperatures_K) == 4
    summaries = run_jobs(jobs, lj, 1, progress=False)
    assert [x["temperature_K"] for x in summaries] == [300.0, 900.0, 300.0, 900.0]
    outputs = interface_md_outputs(starts, S, tmp_path)
    assert outputs[0] == tmp_path / "interface_md" / f"{starts[0]['name']}_300K.extxyz"
    for start, temperature in [(s, t) for s in starts for t in S.interface_md_temperatures_K]:
        path = interface_md_path(tmp_path, start["name"], temperature)
        assert provenance.is_valid_artifact(path)
        assert provenance.read_json(provenance.sidecar_path(path))["stage"] == "sampling.interface_md"
        first = provenance.read_extxyz(start["start_file"], index=start["start_index"])
        frames = provenance.read_extxyz(path)
        assert len(frames) == S.interface_md_steps // S.interface_md_stride == 2
        for f in frames:
            assert f.info["kind"] == "interface_md" and f.info["phase"] == start["phase"]
            assert f.info["temperature_K"] == temperature and f.info["md_target_T_K"] == temperature
            assert f.info["termination"] == first.info["termination"]
            assert f.info["source"].startswith(f"interface_md:{start['name']}:{temperature:g}K:step")
            assert f.get_chemical_symbols() == first.get_chemical_symbols()
            assert np.array_equal(f.arrays["interface_side"], first.arrays["interface_side"])
            assert min_distance(f) >= S.min_distance_A
        assert not np.allclose(frames[-1].positions, first.positions)  # the atoms moved
    # rerun: nothing to do, and a direct call returns the stored summary without a force call
    assert interface_md_jobs(starts, S, tmp_path) == []
    again = interface_md_job(exploding(), **{**starts[0], "temperature_K": 300.0, "settings": S,
                                             "out_dir": str(tmp_path)})
    assert again == summaries[0]
    # changed MD settings make the runs stale; other interface-MD knobs do not
    assert len(interface_md_jobs(starts, S.model_copy(update={"interface_md_steps": 9}), tmp_path)) == 4
    assert interface_md_jobs(starts, S.model_copy(update={"interface_md_max_atoms": 300}), tmp_path) == []


def test_killed_run_resumes_from_its_checkpoint(interface_files, tmp_path):
    s = S.model_copy(update={"interface_md_steps": 12, "interface_md_stride": 3})
    start = interface_md_starts(interface_files, s)[1]
    kwargs = {**start, "temperature_K": 900.0, "settings": s, "out_dir": str(tmp_path)}
    out = interface_md_path(tmp_path, start["name"], 900.0)
    checkpoint = out.parent / "work" / f"{out.stem}.partial.extxyz"
    with pytest.raises(RuntimeError, match="simulated crash"):
        interface_md_job(CountingLJ(fail_after=8), **kwargs)  # 1 initial + 7 steps: dies during step 8
    assert not out.exists()
    saved = read_checkpoint(checkpoint)
    assert [f.info["md_step"] for f in saved] == [3, 6]
    assert len(interface_md_jobs([start], s, tmp_path)) == 2  # 300 K never ran, 900 K is unfinished
    fresh = CountingLJ()
    summary = interface_md_job(fresh, **kwargs)
    assert fresh.calls == 1 + 6  # one initial evaluation, then only the 6 missing steps
    frames = provenance.read_extxyz(out)
    assert [f.info["md_step"] for f in frames] == [3, 6, 9, 12] and summary["frames"] == 4
    assert len({f.info["source"] for f in frames}) == 4
    for old, new in zip(saved, frames[:2]):  # the checkpointed frames are kept as they were
        assert np.allclose(old.positions, new.positions)
    done = CountingLJ(fail_after=0)
    assert interface_md_job(done, **kwargs) == summary and done.calls == 0


def test_labelling_keeps_the_kind_and_metrics_report_it(interface_files, tmp_path):
    """The store's meta and pacemaker's dataframe carry kind "interface_md"; metrics group by it."""
    from seilab.reference.labelling import label_structures
    from seilab.reference.store import DatasetStore
    from seilab.training.metrics import error_metrics, predict

    s = S.model_copy(update={"interface_md_temperatures_K": [900.0]})
    starts = interface_md_starts(interface_files, s)[:1]
    run_jobs(interface_md_jobs(starts, s, tmp_path), lj, 1, progress=False)
    frames = provenance.read_extxyz(interface_md_outputs(starts, s, tmp_path)[0])
    store = DatasetStore(tmp_path / "dataset", reference={"name": "lj"})
    report = label_structures(frames, store, lj, progress=False)
    assert report.labelled == 2 and {r["kind"] for r in report.rows} == {"interface_md"}
    assert {store.get(h).meta["kind"] for h in store.hashes()} == {"interface_md"}
    df = store.to_dataframe({"Li": 0.0, "P": 0.0, "S": 0.0})
    assert set(df["kind"]) == {"interface_md"}
    assert set(error_metrics(predict(lj(), df))["by_kind"]) == {"interface_md"}
