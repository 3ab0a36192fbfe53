"""Reference MD of the sampled interfaces: the reaction itself in the first data set.

The crystalline hot MD (:mod:`.hot_md`) never puts the metal next to the electrolyte, so without
this the first data set holds no configuration of the reaction (P–S bonds breaking next to Li, Li
entering the electrolyte). The paper perturbs its explicit interface structures with AIMD; here
the interfaces of :mod:`.interfaces` get short NVT runs with the reference calculator.

Which interfaces: per sampled interface file (one plane pair, in the order of the Miller lists),
its smallest cell with at most ``interface_md_max_atoms`` atoms (the first such termination on a
tie), for the first ``interface_md_max_structures`` files that have one. One job per (file,
temperature in ``interface_md_temperatures_K``): ``interface_md_steps`` steps at the hot MD's time
step and thermostat, keeping every ``interface_md_stride``-th frame. Frames are tagged kind
``interface_md`` (phase: the plane pair, e.g. ``Li_bcc(100)|Li7P3S11(100)``) and keep the start's
``termination`` and per-atom ``interface_side``. Output ``interface_md/<file stem>_<T>K.extxyz``;
the running checkpoint is ``interface_md/work/<file stem>_<T>K.partial.extxyz``.
"""

from __future__ import annotations

from pathlib import Path

from seilab import provenance
from seilab.sampling.common import fingerprint, up_to_date
from seilab.settings.base import settings_values
from seilab.sampling.md import md_job

KIND = "interface_md"

_SETTINGS = ("md.timestep_fs", "interface_md_steps", "interface_md_stride", "md.thermostat", "md.friction_per_fs",
             "md.damp_fs", "seed", "min_distance_A")

#: Carried from the start interface to every frame.
_KEEP_INFO = ("termination", "film_miller", "substrate_miller", "n_atoms")
_KEEP_ARRAYS = ("interface_side",)


def interface_md_path(out_dir: Path, name: str, temperature_K: float) -> Path:
    return Path(out_dir) / KIND / f"{name}_{temperature_K:g}K.extxyz"


def interface_md_starts(interface_files, settings) -> list[dict]:
    """The interfaces that get MD (see the module docstring).

    Dicts with ``name`` (file stem), ``start_file``, ``start_index`` (frame), ``phase``, ``n_atoms``.
    """
    if not settings.interface_md_temperatures_K or settings.interface_md_max_structures == 0:
        return []
    starts = []
    for path in interface_files:
        frames = provenance.read_extxyz(path)
        fits = [(len(a), i) for i, a in enumerate(frames) if len(a) <= settings.interface_md_max_atoms]
        if not fits:
            continue
        index = min(fits)[1]
        starts.append({"name": Path(path).stem, "start_file": str(path), "start_index": index,
                       "phase": str(frames[index].info.get("phase", Path(path).stem)), "n_atoms": len(frames[index])})
        if len(starts) >= settings.interface_md_max_structures:
            break
    return starts


def _fingerprint(settings, name: str, start_index: int, temperature_K: float, start_file) -> str:
    return fingerprint({**settings_values(settings, _SETTINGS), "interface": name, "index": int(start_index),
                        "T": float(temperature_K)}, files=[start_file])


def interface_md_job(calc, name: str, phase: str, start_file: str, start_index: int, n_atoms: int,
                     temperature_K: float, settings, out_dir: str) -> dict:
    """Run (or resume) one interface-MD job and write its frames; returns a small summary."""
    out = interface_md_path(Path(out_dir), name, temperature_K)
    return md_job(calc, kind=KIND, name=name, phase=phase, start_file=start_file, start_index=start_index,
                  temperature_K=temperature_K, steps=settings.interface_md_steps, stride=settings.interface_md_stride,
                  settings=settings, settings_rec=settings_values(settings, _SETTINGS), out=out,
                  fp=_fingerprint(settings, name, start_index, temperature_K, start_file),
                  keep_arrays=_KEEP_ARRAYS, keep_info=_KEEP_INFO,
                  summary_extra={"interface": name, "start_index": int(start_index), "n_atoms": int(n_atoms)})


def interface_md_outputs(starts: list[dict], settings, out_dir: Path) -> list[Path]:
    """Output files of the selected runs (finished or not), in manifest order."""
    return [interface_md_path(out_dir, s["name"], t) for s in starts for t in settings.interface_md_temperatures_K]


def interface_md_jobs(starts: list[dict], settings, out_dir: Path) -> list[tuple]:
    """Jobs (for :func:`seilab.sampling.common.run_jobs`) of the runs not finished yet."""
    jobs = []
    for s in starts:
        for temperature in settings.interface_md_temperatures_K:
            fp = _fingerprint(settings, s["name"], s["start_index"], temperature, s["start_file"])
            if up_to_date(interface_md_path(out_dir, s["name"], temperature), fp):
                continue
            jobs.append((interface_md_job, {**s, "temperature_K": temperature, "settings": settings,
                                            "out_dir": str(out_dir)}))
    return jobs
