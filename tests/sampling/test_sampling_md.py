"""NVT MD with checkpoints: frames every stride, resume after a crash without redoing steps."""

import pytest
from sampling_helpers import CountingLJ, bundled_atoms, small_settings

from seilab.sampling.common import make_supercell
from seilab.sampling.md import read_checkpoint, run_nvt


@pytest.fixture
def cell():
    return make_supercell(bundled_atoms("Li2S"), 24)


@pytest.mark.parametrize("thermostat", ["langevin", "bussi", "nose_hoover"])
def test_frames_every_stride(cell, thermostat):
    s = small_settings(md={"thermostat": thermostat})
    frames = run_nvt(cell, CountingLJ(), s, 900.0, steps=12, stride=4, seed=1)
    assert [f.info["md_step"] for f in frames] == [4, 8, 12]
    assert all(f.info["md_target_T_K"] == 900.0 and f.info["md_T_K"] > 0 for f in frames)
    assert all(len(f) == len(cell) for f in frames)
    assert frames[-1].positions.tolist() != cell.positions.tolist()


def test_resume_from_checkpoint(cell, tmp_path):
    s = small_settings()
    ckpt = tmp_path / "run.partial.extxyz"
    crashing = CountingLJ(fail_after=10)  # 1 initial + 9 steps: dies during step 10
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_nvt(cell, crashing, s, 900.0, steps=20, stride=4, seed=1, checkpoint=ckpt)
    saved = read_checkpoint(ckpt)
    assert [f.info["md_step"] for f in saved] == [4, 8]
    assert "momenta" in saved[-1].arrays
    fresh = CountingLJ()
    frames = run_nvt(cell, fresh, s, 900.0, steps=20, stride=4, seed=1, checkpoint=ckpt)
    assert [f.info["md_step"] for f in frames] == [4, 8, 12, 16, 20]
    assert fresh.calls == 1 + 12  # one initial evaluation, then only the 12 missing steps
    # a finished checkpoint is returned as is
    done = CountingLJ(fail_after=0)
    again = run_nvt(cell, done, s, 900.0, steps=20, stride=4, seed=1, checkpoint=ckpt)
    assert len(again) == 5 and done.calls == 0


def test_checkpoint_of_other_settings_is_not_continued(cell, tmp_path):
    s = small_settings()
    ckpt = tmp_path / "run.partial.extxyz"
    with pytest.raises(RuntimeError):
        run_nvt(cell, CountingLJ(fail_after=10), s, 900.0, steps=20, stride=4, seed=1, checkpoint=ckpt, key="a")
    assert len(read_checkpoint(ckpt)) == 2
    fresh = CountingLJ()
    frames = run_nvt(cell, fresh, s, 900.0, steps=20, stride=4, seed=1, checkpoint=ckpt, key="b")
    assert fresh.calls == 1 + 20 and len(frames) == 5  # started again from step 0
    assert {f.info["ckpt_key"] for f in read_checkpoint(ckpt)} == {"b"}
