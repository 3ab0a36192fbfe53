"""Tiny labelled Li–P–S datasets and settings for tests and demos (not for production fits).

:func:`demo_structures` builds small rattled / strained / compressed cells of bundled crystal phases
(bcc Li, Li2S, Li3P, Li7P3S11 by default); :func:`label_demo_dataset` labels them with any ASE
calculator (CHGNet in practice) into a :class:`~seilab.reference.store.DatasetStore`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DEMO_PHASES = ("Li_bcc", "Li2S", "Li3P", "Li7P3S11")


def bundled_atoms(name: str):
    """A bundled library phase as ASE Atoms (conventional cell, not relaxed)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    from seilab.chemistry.library import build_bundled

    atoms = AseAtomsAdaptor.get_atoms(build_bundled(name))
    atoms.info = {"phase": name}
    return atoms


def demo_structures(phases=DEMO_PHASES, per_phase: int = 8, seed: int = 0, max_atoms: int = 48,
                    bases: dict | None = None, volume_range=(0.88, 1.12)) -> list:
    """Small perturbed cells of ``phases``: ``per_phase`` each, with ``info['kind']`` and ``info['phase']``.

    Variants cycle through: rattled (σ 0.03–0.07 Å), isotropically strained (``volume_range``),
    sheared, and a hot "hot_md"-like strong rattle. ``bases`` (name → Atoms, e.g. relaxed phases)
    replaces the bundled structures. Cells smaller than 8 atoms are repeated.
    """
    rng = np.random.default_rng(seed)
    out = []
    for name in phases:
        base = (bases or {}).get(name)
        base = bundled_atoms(name) if base is None else base.copy()
        base.calc = None
        while len(base) < 8:
            lengths = base.cell.lengths()
            reps = [1, 1, 1]
            reps[int(np.argmin(lengths))] = 2
            base = base.repeat(reps)
        for i in range(per_phase):
            a = base.copy()
            mode = i % 4
            if mode == 0:  # rattle
                kind, sigma, vol = "crystalline", 0.03 + 0.04 * rng.random(), 1.0
            elif mode == 1:  # strain
                kind, sigma, vol = "crystalline", 0.05, float(rng.uniform(*volume_range))
            elif mode == 2:  # shear
                kind, sigma, vol = "perturbed", 0.06, 1.0
                eps = rng.uniform(-0.04, 0.04, size=(3, 3))
                a.set_cell(a.cell.array @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
            else:  # hot
                kind, sigma, vol = "hot_md", 0.10, float(rng.uniform(0.95, 1.05))
            a.set_cell(a.cell.array * vol ** (1 / 3), scale_atoms=True)
            a.positions += rng.normal(0.0, sigma, size=a.positions.shape)
            a.info = {"phase": name, "kind": kind}
            out.append(a)
    return out


def label_demo_dataset(store, calc, structures) -> list[str]:
    """Label ``structures`` with ``calc`` (skipping ones already stored); returns their hashes."""
    import time

    from seilab.reference import single_point

    hashes = []
    for atoms in structures:
        if atoms in store:
            from seilab.reference.store import structure_hash

            hashes.append(structure_hash(atoms))
            continue
        t0 = time.perf_counter()
        lab = single_point(atoms, calc)
        hashes.append(store.add(lab, kind=atoms.info.get("kind", "other"), phase=atoms.info.get("phase", ""),
                                source="seilab.training.testing", seconds=time.perf_counter() - t0))
    return hashes


def tiny_training_settings(**overrides):
    """Training settings small enough for CI: ~12 functions per element, short stages."""
    from seilab.training.settings import TrainingSettings

    values = dict(functions_per_element=12, ladder_step=[4, 0.3], maxiter=[25, 15], threads=1,
                  display_step=10)
    values.update(overrides)
    return TrainingSettings(**values)


def write_demo_store(root: str | Path, reference_settings=None, per_phase: int = 8, seed: int = 0):
    """A labelled demo :class:`DatasetStore` under ``root`` (CHGNet by default); returns the store."""
    from seilab.config import ReferenceSettings
    from seilab.reference import describe, get_calculator
    from seilab.reference.store import DatasetStore

    ref = reference_settings or ReferenceSettings(name="chgnet")
    store = DatasetStore(root, reference=describe(ref))
    label_demo_dataset(store, get_calculator(ref), demo_structures(per_phase=per_phase, seed=seed,
                                                                  volume_range=(0.75, 1.25)))
    return store


def demo_campaign(output: str | Path, phases=DEMO_PHASES, **sections):
    """A :class:`~seilab.config.Campaign` for Li_bcc / Li7P3S11 with ``phases`` and the given sections."""
    from seilab.config import Campaign

    data = {"name": "demo", "output": str(output),
            "reactants": {"anode": "Li_bcc", "electrolyte": "Li7P3S11"},
            "phases": [{"name": p} for p in phases], "reference": {"name": "chgnet"}}
    for key, value in sections.items():
        data[key] = value.model_dump() if hasattr(value, "model_dump") else value
    return Campaign.model_validate(data)


def random_packing(phase: str = "Li2S", repeat=(2, 1, 1), min_distance_A: float = 1.9, seed: int = 0,
                   density_factor: float = 1.0, max_tries: int = 20000):
    """Atoms of ``phase`` (repeated) placed at random in a cube of the same density: a crude amorphous
    starting point (relax it before use). ``info['kind'] = 'amorphous'``."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    base = bundled_atoms(phase).repeat(repeat)
    vol = base.get_volume() / density_factor
    L = vol ** (1 / 3)
    syms = base.get_chemical_symbols()
    rng.shuffle(syms)
    pos = []
    tries = 0
    while len(pos) < len(syms):
        tries += 1
        if tries > max_tries:
            raise RuntimeError("random_packing: could not place atoms; lower min_distance_A")
        p = rng.random(3) * L
        if pos:
            d = np.array(pos) - p
            d -= L * np.round(d / L)
            if np.min(np.linalg.norm(d, axis=1)) < min_distance_A:
                continue
        pos.append(p)
    atoms = Atoms(syms, positions=pos, cell=[L, L, L], pbc=True)
    atoms.info = {"kind": "amorphous", "phase": phase}
    return atoms


def relax_positions(atoms, calc, steps: int = 40, fmax: float = 0.1):
    """Positions-only FIRE relaxation (quiet); returns a copy without calculator."""
    from ase.optimize import FIRE

    a = atoms.copy()
    a.calc = calc
    FIRE(a, logfile=None).run(fmax=fmax, steps=steps)
    out = a.copy()
    out.calc = None
    out.info = dict(atoms.info)
    return out


def stacked_interface(li_lateral: int = 2, li2s_lateral: int = 1, li_layers: int = 2, li2s_layers: int = 1,
                      gap_A: float = 1.8):
    """Li bcc (100) slab on Li2S (100) slab along z, both strained to their mean lateral size, periodic.

    A crude stand-in for the sampling stage's coherent interfaces (``info['kind'] = 'interface'``).
    (5, 3) lateral cells match within 1 %; (2, 1) is small but strained by ~10 %.
    """
    li = bundled_atoms("Li_bcc").repeat((li_lateral, li_lateral, li_layers))
    s = bundled_atoms("Li2S").repeat((li2s_lateral, li2s_lateral, li2s_layers))
    lat = 0.5 * (li.cell[0, 0] + s.cell[0, 0])
    for slab in (li, s):
        c = slab.cell.array.copy()
        slab.set_cell([lat, lat, c[2, 2]], scale_atoms=True)
    top = s.copy()
    top.positions[:, 2] += li.cell[2, 2] + gap_A
    atoms = li + top
    atoms.set_cell([lat, lat, li.cell[2, 2] + s.cell[2, 2] + 2 * gap_A])
    atoms.pbc = True
    atoms.wrap()
    atoms.info = {"kind": "interface", "phase": "Li_bcc|Li2S"}
    return atoms


def md_snapshots(atoms, calc, temperature_K: float, steps: int, every: int, kind: str, seed: int = 0) -> list:
    """Snapshots of a short reference Langevin MD (the sampling stage's job, in miniature)."""
    from seilab.validation.md import run_md

    res = run_md(atoms, calc, ensemble="nvt", temperature_K=temperature_K, steps=steps, sample_every=every,
                 seed=seed, max_temperature_factor=None, min_distance_A=None)
    out = []
    for fr in res.frames:
        fr.info = {"kind": kind, "phase": atoms.info.get("phase", "")}
        out.append(fr)
    return out


def build_demo_dataset(store, calc, bases: dict | None = None, phases=DEMO_PHASES, per_phase: int = 12,
                       amorphous=(("Li2S", (2, 1, 1)), ("Li3P", (1, 1, 2))), interface: bool = True,
                       md_steps: int = 150, seed: int = 0, progress=None) -> dict:
    """A demo training set: perturbed crystals (volumes 0.75-1.25), reference-MD snapshots of
    random-packed amorphous cells (600 K) and of a small stacked Li|Li2S interface (300 K).

    Returns the starting amorphous / interface structures ({'amorphous': {...}, 'interface': {...}}),
    relaxed with the reference, for the validation stage.
    """
    say = progress or (lambda m: None)
    frames = demo_structures(phases, per_phase=per_phase, seed=seed, bases=bases, volume_range=(0.75, 1.25))
    starts: dict = {"amorphous": {}, "interface": {}}
    for i, (phase, rep) in enumerate(amorphous):
        a = relax_positions(random_packing(phase, rep, seed=seed + i), calc, steps=60)
        starts["amorphous"][phase] = a
        say(f"demo: amorphous {phase} ({len(a)} atoms), reference MD {md_steps} steps")
        frames += [a] + md_snapshots(a, calc, 600.0, md_steps, max(1, md_steps // 6), "amorphous", seed)
    if interface:
        itf = relax_positions(stacked_interface(), calc, steps=60)
        starts["interface"]["Li_bcc|Li2S"] = itf
        say(f"demo: interface ({len(itf)} atoms), reference MD {md_steps} steps")
        frames += [itf] + md_snapshots(itf, calc, 300.0, md_steps, max(1, md_steps // 5), "interface", seed)
    say(f"demo: labelling {len(frames)} structures")
    label_demo_dataset(store, calc, frames)
    return starts


#: A small but real fit for tests: tensorpotential, one force-weighted stage (~1-2 min on 2 cores; the
#: TensorFlow graph compilation dominates).
GOOD_TRAINING = dict(functions_per_element=12, ladder_step=[4, 0.3], kappa_stages=[0.9], maxiter=[60],
                     threads=1, display_step=10)
#: A deliberately broken fit: 12 functions per element grown one per block per ladder step, one
#: iteration per step, two kappa stages (pyace evaluator: no TensorFlow compile, seconds).
BROKEN_TRAINING = dict(functions_per_element=12, ladder_step=[1], kappa_stages=[0.99, 0.90], maxiter=[1, 1],
                       evaluator="pyace", threads=1, display_step=1)


def shared_store(base: str | Path, per_phase: int = 8) -> Path:
    """A labelled demo store under ``base`` (labelled once per test session, CHGNet)."""
    import json

    root = Path(base) / "labelled-store"
    marker = root / "complete.json"
    if not marker.is_file():
        store = write_demo_store(root, per_phase=per_phase)
        marker.write_text(json.dumps({"n": len(store)}))
    return root


def shared_campaign(base: str | Path, name: str, training: dict, validation: dict | None = None,
                    phases=DEMO_PHASES):
    """A demo campaign in ``base/name`` whose dataset is a copy of :func:`shared_store`."""
    import shutil

    src = shared_store(base)
    out = Path(base) / name
    if not (out / "dataset" / "labels").is_dir():
        out.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, out / "dataset", dirs_exist_ok=True)
    sections = {"training": training}
    if validation is not None:
        sections["validation"] = validation
    return demo_campaign(out, phases=phases, **sections)
