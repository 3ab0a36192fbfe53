"""The sampling stage end to end: crystalline, interfaces, perturbations, amorphous, hot MD and
interface MD.

Every generator writes its own files under ``<output>/sampling/`` and skips them on rerun while
they are valid artefacts whose provenance fingerprint (the settings they depend on and the hashes
of their inputs) is unchanged, so a changed setting redoes exactly what it affects. MD runs
checkpoint their frames (keyed by the same fingerprint), so a killed stage resumes. The stage
ends by writing ``sampling/manifest.json``: every output file with its kind and frame count, the
interfaces each plane pair gave, the interfaces that got reference MD, the amorphous densities,
and the wall time of this run. The labelling step (:mod:`seilab.reference.labelling`) reads that
manifest.
"""

from __future__ import annotations

import time
from pathlib import Path

from seilab import provenance
from seilab.errors import SeilabError
from seilab.results import DictResult
from seilab.sampling.amorphous import amorphous_jobs, amorphous_path
from seilab.sampling.common import reference_factory, run_jobs, select_phases
from seilab.sampling.crystalline import generate_crystalline
from seilab.sampling.hot_md import hot_md_jobs, hot_md_path
from seilab.sampling.interface_md import interface_md_jobs, interface_md_outputs, interface_md_starts
from seilab.sampling.interfaces import generate_interfaces
from seilab.sampling.perturbations import generate_perturbations



def manifest_path(campaign) -> Path:
    return campaign.layout.sampling_manifest


def _count_frames(path: Path) -> int:
    side = provenance.sidecar_path(path)
    try:
        return int(provenance.read_json(side).get("n_frames", 0))
    except SeilabError:
        return len(provenance.read_extxyz(path))


class SamplingResult(DictResult):
    """``sampling/manifest.json``: every sampled file, frames per kind, interface pairs, amorphous EOS fits."""

    def summary(self) -> dict:
        return {"files": len(self.get("files", [])), "total_frames": self.get("total_frames"),
                "frames_per_kind": self.get("frames_per_kind"), "interface_pairs": self.get("interface_pairs")}


def run_sampling(campaign, *, progress=None, phases: dict | None = None, factory=None) -> SamplingResult:
    """Run (or resume) the sampling stage of ``campaign``; returns the manifest.

    ``progress``: None (or False) for quiet, True for one line per step on stderr, a callable for one call
    per step. ``phases`` (name -> relaxed ASE Atoms) defaults to the chemistry stage's output
    (:func:`seilab.chemistry.load_relaxed_phases`); ``factory`` builds the reference calculator in
    each process (default: ``campaign.reference``).
    """
    t0 = time.perf_counter()
    settings = campaign.sampling
    out_dir = campaign.stage_dir("sampling")
    names = select_phases(campaign)
    anode, electrolyte = campaign.reactants.anode, campaign.reactants.electrolyte
    inputs: dict[str, str] = {}
    if phases is None:
        from seilab.chemistry import load_relaxed_phases, phases_dir

        phases = load_relaxed_phases(campaign, names=set(names) | {anode, electrolyte})
        inputs = {n: str(phases_dir(campaign) / f"{n}.extxyz") for n in phases}
    missing = [n for n in set(names) | {anode, electrolyte} if n not in phases]
    if missing:
        raise SeilabError(f"sampling: no relaxed structure for phase(s) {sorted(missing)}")
    factory = factory or reference_factory(campaign.reference)
    log = _Log(progress)

    log(f"crystalline supercells of {len(names)} phases")
    cryst = generate_crystalline({n: phases[n] for n in names}, settings, out_dir, inputs)

    log(f"interfaces {anode} | {electrolyte}")
    ifaces = generate_interfaces(anode, phases[anode], electrolyte, phases[electrolyte], settings, out_dir,
                                 inputs=[inputs[n] for n in (anode, electrolyte) if n in inputs])
    for label, c in ifaces["pairs"].items():
        log(f"  {label}: {c['kept']} interfaces ({c['terminations']} terminations, {c['zsl_matches']} ZSL matches)")

    log("perturbed copies")
    pert = generate_perturbations(cryst, ifaces["files"], settings, out_dir)

    istarts = interface_md_starts(ifaces["files"], settings)
    jobs = (amorphous_jobs(cryst, settings, out_dir) + interface_md_jobs(istarts, settings, out_dir)
            + hot_md_jobs(cryst, settings, out_dir))
    log(f"MD: {len(jobs)} runs to do (amorphous + interface MD of {len(istarts)} interfaces + hot MD) "
        f"on {settings.workers} worker(s)")
    run_jobs(jobs, factory, settings.workers, campaign.reference.threads, desc="sampling MD",
             progress=progress is True)  # the bar on a terminal only (a callable gets the step lines)

    files = []

    def add(kind, path):
        files.append({"kind": kind, "path": str(Path(path).relative_to(out_dir)), "frames": _count_frames(path)})

    for path in cryst.values():
        add("crystalline", path)
    for path in ifaces["files"]:
        add("interface", path)
    for path in pert["files"]:
        add("perturbed", path)
    amorphous = {}
    for n in names:
        add("amorphous", amorphous_path(out_dir, n))
        eos = provenance.read_json(amorphous_path(out_dir, n).parent / f"{n}.eos.json")
        amorphous[n] = {k: eos.get(k) for k in ("n_atoms", "packer", "v0_A3", "v_crystal_A3", "density_ratio",
                                                   "method", "frames", "energy_v0_A3", "pressure_fit",
                                                   "production_pressure_GPa")}
        for temperature in settings.md.temperatures_K:
            add("hot_md", hot_md_path(out_dir, n, temperature))
    for path in interface_md_outputs(istarts, settings, out_dir):
        add("interface_md", path)
    counts: dict[str, int] = {}
    for f in files:
        counts[f["kind"]] = counts.get(f["kind"], 0) + f["frames"]
    manifest = {"phases": names, "files": files, "frames_per_kind": counts, "total_frames": sum(counts.values()),
                "interface_pairs": ifaces["pairs"], "amorphous": amorphous,
                "interface_md": [{k: v for k, v in st.items() if k != "start_file"} for st in istarts],
                "wall_seconds": round(time.perf_counter() - t0, 2)}
    provenance.write_json(manifest_path(campaign), manifest, provenance.record(
        "sampling", inputs=list(inputs.values()), settings=settings.model_dump(mode="json"),
        reference=campaign.reference.model_dump(mode="json")))
    return SamplingResult(manifest)


#: each kind's folder under sampling/ (read when there is no manifest: a campaign sampled before it existed)
KIND_FOLDERS = {"amorphous": "amorphous", "interface": "interfaces", "crystalline": "crystalline"}


def sampled_files(campaign, kind: str) -> list[Path]:
    """The sampling stage's files of one ``kind`` (``crystalline``, ``amorphous``, ``interface``, ...) in manifest
    order, unmodified ones only (:func:`seilab.provenance.is_valid_artifact`): how later stages find them."""
    root = campaign.stage_dir("sampling")
    out = []
    if manifest_path(campaign).is_file():
        out = [root / e["path"] for e in provenance.read_json(manifest_path(campaign)).get("files", [])
               if e.get("kind") == kind]
    elif kind in KIND_FOLDERS and (root / KIND_FOLDERS[kind]).is_dir():
        out = sorted((root / KIND_FOLDERS[kind]).glob("*.extxyz"))
    return [p for p in out if provenance.is_valid_artifact(p)]


def load_manifest(campaign) -> dict:
    path = manifest_path(campaign)
    if not path.is_file():
        raise SeilabError(f"{path}: missing; run `seilab sample CONFIG` first")
    return provenance.read_json(path)


def sampled_frames(campaign) -> list:
    """Every frame listed in the sampling manifest (ASE Atoms with kind/phase/source in info)."""
    out_dir = campaign.stage_dir("sampling")
    frames = []
    for entry in load_manifest(campaign)["files"]:
        path = out_dir / entry["path"]
        if not provenance.is_valid_artifact(path):
            raise SeilabError(f"{path}: missing or modified since sampling; rerun `seilab sample CONFIG`")
        for atoms in provenance.read_extxyz(path):
            atoms.info.setdefault("kind", entry["kind"])
            frames.append(atoms)
    return frames


class _Log:
    def __init__(self, progress):
        self.progress = progress

    def __call__(self, msg: str) -> None:
        if callable(self.progress):
            self.progress(msg)
        elif self.progress:
            from rich.console import Console

            Console(stderr=True).print(f"[sample] {msg}", highlight=False)
