"""A tiny Li / Li2S campaign for the learning tests: phases, an interface, LJ labels, a tiny ACE fit."""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path

import numpy as np

CONFIG = """\
name: learn-test
output: out
reactants: {anode: Li_bcc, electrolyte: Li2S}
phases: [{name: Li_bcc}, {name: Li2S}]
training:
  functions_per_element: 6
  cutoff_A: 4.5
  ladder: false
  kappa_stages: [0.9]
  maxiter: [12]
  evaluator: pyace
  reference_energies: zero
  test_fraction: 0.25
validation:
  checks: [metrics]
learning:
  max_generations: 1
  engine: ase    # the loop tests patch the ASE runner (explore.run_md_gamma); LAMMPS: test_explore_lammps.py
  batches: [bulk, interface]
  bulk_temperatures_K: [900]
  bulk_lattice_scales: [0.96]
  bulk_target_atoms: 40
  interface_atoms: 450
  interface_max_structures: 1
  md: {steps: 30, sample_every: 10}
  subcell_atoms: 50
  subcells_per_frame: 3
  min_distance_A: 1.7
  budget_per_generation: 4
  loss_threshold: null
"""


def lj_calculator():
    from ase.calculators.lj import LennardJones

    return LennardJones(sigma=2.2, epsilon=0.05, rc=4.5, smooth=True)


LJ_FACTORY = functools.partial(lj_calculator)


def li_bcc():
    from ase.build import bulk

    return bulk("Li", "bcc", a=3.44, cubic=True)


def li2s():
    from ase.build import bulk

    return bulk("SLi2", "fluorite", a=5.70, cubic=True)


def sandwich():
    """Li2S (1x1x2 conventional) | 1.5 Å | strained bcc Li (2x2x4) | 1.5 Å, stacked along c."""
    from ase import Atoms

    e = li2s().repeat((1, 1, 2))
    a = 5.70
    li = Atoms("Li", positions=[[0, 0, 0]], cell=[a / 2, a / 2, 2.85], pbc=True)
    li = li.repeat((2, 2, 1))
    li.extend(Atoms("Li4", positions=li.positions + [a / 4, a / 4, 1.425], cell=li.cell))
    li = li.repeat((1, 1, 4))
    gap = 1.5
    ez = e.cell[2, 2]
    lz = li.cell[2, 2]
    pos = np.vstack([e.positions, li.positions + [0, 0, ez + gap]])
    out = Atoms(list(e.symbols) + list(li.symbols), positions=pos,
                cell=[a, a, ez + gap + lz + gap], pbc=True)
    out.arrays["interface_side"] = np.array([0] * len(e) + [1] * len(li))
    out.wrap()
    return out


def initial_structures(rng_seed: int = 0) -> list:
    rng = np.random.default_rng(rng_seed)
    frames = []
    for base, reps in ((li_bcc(), (2, 2, 2)), (li2s(), (1, 1, 1))):
        for i in range(7):
            a = base.repeat(reps)
            a.set_cell(a.cell.array * (0.96 + 0.015 * i), scale_atoms=True)
            a.rattle(0.04 + 0.02 * i, seed=int(rng.integers(1 << 30)))
            frames.append(a)
    s = sandwich()
    for i in range(2):
        b = s.copy()
        b.rattle(0.05, seed=100 + i)
        frames.append(b)
    return frames


def make_campaign(root: Path, extra: str = ""):
    """Write the campaign, its phases and interface, label the initial set with LJ, fit gen000."""
    from seilab import provenance
    from seilab.config import load_config
    from seilab.reference.calculators import single_point
    from seilab.reference.labelling import store_for

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / "campaign.yaml"
    cfg.write_text(CONFIG + textwrap.dedent(extra))
    campaign = load_config(cfg)
    phases = campaign.stage_dir("chemistry") / "phases"
    for name, atoms in (("Li_bcc", li_bcc()), ("Li2S", li2s())):
        a = atoms.copy()
        a.info.update(phase=name)
        provenance.write_extxyz(phases / f"{name}.extxyz", [a], provenance.record("test-chemistry"))
    s = sandwich()
    s.info.update(kind="interface", phase="Li_bcc|Li2S")
    provenance.write_extxyz(campaign.stage_dir("sampling") / "interfaces" / "Li_bcc_100__Li2S_100.extxyz", [s],
                            provenance.record("test-interface"))
    store = store_for(campaign)
    calc = lj_calculator()
    for a in initial_structures():
        store.add(single_point(a, calc, stress=True), kind="crystalline", phase=a.get_chemical_formula())
    return cfg
