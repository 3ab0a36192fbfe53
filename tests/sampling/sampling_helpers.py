"""Shared helpers of the sampling tests: cheap calculators, bundled phases, small campaigns."""

from __future__ import annotations

from ase.calculators.calculator import Calculator
from ase.calculators.lj import LennardJones

from seilab.config import Campaign
from seilab.settings.sampling import SamplingSettings

#: Small, fast settings: two plane pairs, a few MD steps, small cells.
SMALL = dict(
    target_atoms=48, amorphous_target_atoms=24, md={"steps": 6, "sample_every": 3}, amorphous_eos_steps=4,
    amorphous_production_steps=6, rattle_copies=1, strain_volume_fractions=[-0.08, 0.08],
    anisotropic_strain_copies=1, interface_anode_millers=[(1, 1, 0)],
    interface_electrolyte_millers=[(1, 0, 1), (1, 0, 0)], interface_rattle_copies=1,
    interface_md_steps=6, interface_md_stride=3,
)


def lj() -> Calculator:
    """A Lennard-Jones stand-in for the reference (any element, energy/forces/stress)."""
    return LennardJones(sigma=2.0, epsilon=0.02, rc=5.0, smooth=True)


class CountingLJ(LennardJones):
    """Lennard-Jones that counts its evaluations and can crash after ``fail_after`` of them."""

    def __init__(self, fail_after=None):
        super().__init__(sigma=2.0, epsilon=0.02, rc=5.0, smooth=True)
        self.calls = 0
        self.fail_after = fail_after

    def calculate(self, *args, **kwargs):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("simulated crash")
        self.calls += 1
        super().calculate(*args, **kwargs)


class Exploding(Calculator):
    """Fails on any use: proves that nothing is recomputed."""

    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        raise AssertionError("the calculator was used although everything was done")


def exploding() -> Calculator:
    return Exploding()


def bundled_atoms(name: str):
    from pymatgen.io.ase import AseAtomsAdaptor

    from seilab.chemistry.library import build_bundled

    return AseAtomsAdaptor.get_atoms(build_bundled(name))


def _merged(kw: dict) -> dict:
    """SMALL updated with ``kw``; an ``md`` block updates SMALL's MD block (it does not replace it)."""
    return {**SMALL, **kw, "md": {**SMALL["md"], **kw.get("md", {})}}


def small_settings(**kw) -> SamplingSettings:
    return SamplingSettings(**_merged(kw))


def small_campaign(output, phases=("Li_bcc", "Li7P3S11", "Li2S"), **sampling) -> Campaign:
    return Campaign(name="test", output=output, reactants={"anode": "Li_bcc", "electrolyte": "Li7P3S11"},
                    phases=[{"name": n} for n in phases], sampling=_merged(sampling))
