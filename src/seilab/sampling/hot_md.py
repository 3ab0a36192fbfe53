"""Reference MD of the crystalline supercells (the paper's AIMD at 300, 900 and 1500 K).

One job per (phase, temperature): NVT from the crystalline supercell for ``md.steps`` steps,
keeping every ``md.sample_every``-th frame. Output ``hot_md/<phase>_<T>K.extxyz``; the running
checkpoint is ``hot_md/work/<phase>_<T>K.partial.extxyz``.
"""

from __future__ import annotations

from pathlib import Path

from seilab.sampling.common import fingerprint, up_to_date
from seilab.settings.base import settings_values
from seilab.sampling.md import md_job

KIND = "hot_md"


def hot_md_path(out_dir: Path, phase: str, temperature_K: float) -> Path:
    return Path(out_dir) / KIND / f"{phase}_{temperature_K:g}K.extxyz"


_SETTINGS = ("md.timestep_fs", "md.steps", "md.sample_every", "md.thermostat", "md.friction_per_fs", "md.damp_fs", "seed",
             "min_distance_A")


def _fingerprint(settings, phase: str, temperature_K: float, start_file) -> str:
    return fingerprint({**settings_values(settings, _SETTINGS), "phase": phase, "T": float(temperature_K)},
                       files=[start_file])


def hot_md_job(calc, phase: str, start_file: str, temperature_K: float, settings, out_dir: str) -> dict:
    """Run (or resume) one hot-MD job and write its frames; returns a small summary."""
    return md_job(calc, kind=KIND, name=phase, phase=phase, start_file=start_file, temperature_K=temperature_K,
                  steps=settings.md.steps, stride=settings.md.sample_every, settings=settings,
                  settings_rec=settings_values(settings, _SETTINGS),
                  out=hot_md_path(Path(out_dir), phase, temperature_K),
                  fp=_fingerprint(settings, phase, temperature_K, start_file))


def hot_md_jobs(crystalline_files: dict[str, Path], settings, out_dir: Path) -> list[tuple]:
    """Jobs (for :func:`seilab.sampling.common.run_jobs`) of the runs not finished yet."""
    jobs = []
    for phase, path in crystalline_files.items():
        for temperature in settings.md.temperatures_K:
            if up_to_date(hot_md_path(out_dir, phase, temperature), _fingerprint(settings, phase, temperature, path)):
                continue
            jobs.append((hot_md_job, {"phase": phase, "start_file": str(path), "temperature_K": temperature,
                                      "settings": settings, "out_dir": str(out_dir)}))
    return jobs
