"""Configurational sampling: the first-generation structures of a campaign (paper section 2.2).

One module per generator, each writing extxyz files with provenance under ``<output>/sampling/``:

* :mod:`.crystalline` — each relaxed phase as a near-cubic supercell of ~``target_atoms``;
* :mod:`.amorphous` — MPMorph-like: packing, EOS runs at scaled volumes, Birch–Murnaghan volume,
  production MD;
* :mod:`.interfaces` — anode/electrolyte sandwiches from pymatgen's ``CoherentInterfaceBuilder``;
* :mod:`.perturbations` — rattled and strained copies;
* :mod:`.hot_md` — reference NVT MD at 300/900/1500 K;
* :mod:`.interface_md` — short reference NVT MD of the smallest interfaces (the reaction itself).

:func:`run_sampling` runs them all (resumably) and writes ``sampling/manifest.json``; labelling is
:mod:`seilab.reference.labelling`. CLI: :mod:`seilab.cli.sampling` (``seilab sample`` / ``seilab label``).
"""

from seilab.sampling.pipeline import load_manifest, run_sampling, sampled_frames
from seilab.settings.sampling import SamplingSettings

__all__ = ["SamplingSettings", "load_manifest", "run_sampling", "sampled_frames"]
