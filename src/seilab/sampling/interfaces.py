"""Explicit anode/electrolyte interfaces with pymatgen's ``CoherentInterfaceBuilder`` (paper 2.2).

For each pair of planes (anode = film, electrolyte = substrate), every unique termination pair
(``label_index=True`` keeps inequivalent terminations that share a label) is built as a periodic
"sandwich": substrate slab, ``gap``, film slab, ``gap`` again (``vacuum_over_film = gap``), so both
interfaces of the cell are 1.5 Å wide and no vacuum is left. ZSL matches are tried smallest area
first; per termination the first ``interfaces_per_termination`` cells with
``interface_min_atoms``–``max_atoms`` atoms and no two atoms closer than ``min_distance_A`` are
kept. Cells with closer atoms are **rejected**, not pushed apart: moving atoms would change the
gap the paper prescribes, and the next ZSL match usually gives a clean cell of similar size.

Bulk cells: the conventional standard cell is used for non-triclinic phases (so Miller indices
mean the usual thing for bcc Li whatever cell the chemistry stage wrote); a triclinic cell is used
as given, since its "conventional" cell is only a convention (Li7P3S11's indices refer to it).

Each frame carries a per-atom array ``interface_side`` (0: electrolyte, 1: anode).

Outputs: ``interfaces/<anode>_<hkl>__<electrolyte>_<hkl>.extxyz`` (frames, when any) and
``interfaces/<same>.json`` (counts; always written, so a rerun skips finished pairs), plus
``interfaces/summary.json`` with the number of interfaces each plane pair gave.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from seilab import provenance
from seilab.geometry import min_distance
from seilab.sampling.common import fingerprint, plain, tag, up_to_date

KIND = "interface"


def _hkl(h) -> str:
    return "".join(str(i) if i >= 0 else f"m{-i}" for i in h)


def pair_name(anode: str, film_miller, electrolyte: str, substrate_miller) -> str:
    return f"{anode}_{_hkl(film_miller)}__{electrolyte}_{_hkl(substrate_miller)}"


def pair_label(anode: str, film_miller, electrolyte: str, substrate_miller) -> str:
    """The 'phase' of an interface frame, e.g. ``Li_bcc(110)|Li7P3S11(010)``."""
    return f"{anode}({_hkl(film_miller)})|{electrolyte}({_hkl(substrate_miller)})"


def bulk_structure(atoms):
    """pymatgen Structure for the builder: conventional standard cell unless triclinic."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    structure = AseAtomsAdaptor.get_structure(plain(atoms))
    try:
        sga = SpacegroupAnalyzer(structure, symprec=0.05)
        if sga.get_crystal_system() != "triclinic":
            return sga.get_conventional_standard_structure()
    except Exception:  # symmetry search failed: use the cell as given
        pass
    return structure


def build_pair(film, substrate, film_miller, substrate_miller, settings):
    """Interfaces of one plane pair: (list of ASE Atoms, counts dict)."""
    from pymatgen.analysis.interfaces.coherent_interfaces import CoherentInterfaceBuilder
    from pymatgen.analysis.interfaces.zsl import ZSLGenerator
    from pymatgen.io.ase import AseAtomsAdaptor

    zsl = ZSLGenerator(max_area=settings.interface_max_area_A2, max_length_tol=settings.interface_max_length_tol,
                       max_angle_tol=settings.interface_max_angle_tol,
                       max_area_ratio_tol=settings.interface_max_area_ratio_tol)
    counts = {"terminations": 0, "zsl_matches": 0, "tried": 0, "kept": 0, "rejected_close_contacts": 0,
              "rejected_size": 0, "terminations_without_interface": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        builder = CoherentInterfaceBuilder(substrate_structure=substrate, film_structure=film,
                                           film_miller=tuple(film_miller), substrate_miller=tuple(substrate_miller),
                                           zslgen=zsl, label_index=True)
    counts["terminations"] = len(builder.terminations)
    counts["zsl_matches"] = len(builder.zsl_matches)
    if not builder.zsl_matches:
        return [], counts
    builder.zsl_matches.sort(key=lambda m: m.match_area)  # smallest cells first
    frames = []
    for term in builder.terminations:
        found = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            candidates = builder.get_interfaces(
                term, gap=settings.interface_gap_A, vacuum_over_film=settings.interface_gap_A,
                film_thickness=settings.interface_film_layers, substrate_thickness=settings.interface_substrate_layers,
                in_layers=True)
            for iface in candidates:
                counts["tried"] += 1
                if not settings.interface_min_atoms <= len(iface) <= settings.max_atoms:
                    counts["rejected_size"] += 1
                    if len(iface) > settings.max_atoms:
                        break  # matches are sorted by area: the rest are larger still
                    continue
                atoms = plain(AseAtomsAdaptor.get_atoms(iface))
                # 0: electrolyte (substrate) atom, 1: anode (film) atom
                atoms.arrays["interface_side"] = np.array(
                    [int(lab == "film") for lab in iface.site_properties["interface_label"]], dtype=int)
                dmin = min_distance(atoms)
                if dmin < settings.min_distance_A:
                    counts["rejected_close_contacts"] += 1
                    continue
                props = iface.interface_properties
                atoms.info.update(termination=f"{term[0]}|{term[1]}",
                                  von_mises_strain=float(props.get("von_mises_strain", np.nan)),
                                  match_area_A2=float(props.get("match_area", np.nan)),
                                  min_distance_A=round(dmin, 4))
                frames.append(atoms)
                found += 1
                if found >= settings.interfaces_per_termination:
                    break
        if not found:
            counts["terminations_without_interface"] += 1
    counts["kept"] = len(frames)
    return frames, counts


_SETTINGS = ("interface_max_area_A2", "interface_max_length_tol", "interface_max_angle_tol",
             "interface_max_area_ratio_tol", "interface_gap_A", "interface_film_layers", "interface_substrate_layers",
             "interface_min_atoms", "max_atoms", "interfaces_per_termination", "min_distance_A")


def generate_interfaces(anode_name: str, anode, electrolyte_name: str, electrolyte, settings, out_dir: Path,
                        inputs: list | None = None) -> dict:
    """Build every plane pair; returns {'pairs': {pair_label: counts}, 'files': [extxyz paths]}."""
    out_dir = Path(out_dir) / "interfaces"
    film = substrate = None  # built only when a pair has to be (re)computed
    settings_rec = {k: getattr(settings, k) for k in _SETTINGS}
    pairs, files = {}, []
    for fm in settings.interface_anode_millers:
        for sm in settings.interface_electrolyte_millers:
            name = pair_name(anode_name, fm, electrolyte_name, sm)
            label = pair_label(anode_name, fm, electrolyte_name, sm)
            xyz, js = out_dir / f"{name}.extxyz", out_dir / f"{name}.json"
            fp = fingerprint({**settings_rec, "film_miller": list(fm), "substrate_miller": list(sm)},
                             structures=[anode, electrolyte])
            if up_to_date(js, fp):
                done = provenance.read_json(js)
                if done.get("kept", 0) == 0 or up_to_date(xyz, fp):
                    pairs[label] = {k: v for k, v in done.items() if k != "provenance"}
                    if done.get("kept", 0):
                        files.append(xyz)
                    continue
            if film is None:
                film, substrate = bulk_structure(anode), bulk_structure(electrolyte)
            frames, counts = build_pair(film, substrate, fm, sm, settings)
            tagged = [tag(f, KIND, label, f"{KIND}:{label}:{f.info['termination']}",
                          film_miller=_hkl(fm), substrate_miller=_hkl(sm), n_atoms=len(f)) for f in frames]
            rec = provenance.record(
                "sampling.interfaces", inputs=inputs or [], settings=settings_rec,
                film=anode_name, film_miller=list(fm), substrate=electrolyte_name, substrate_miller=list(sm),
                summary=counts, fingerprint=fp)
            if tagged:
                provenance.write_extxyz(xyz, tagged, rec)
                files.append(xyz)
            elif xyz.is_file():  # a stale file from other settings must not be labelled
                xyz.unlink()
            provenance.write_json(js, counts, rec)
            pairs[label] = counts
    provenance.write_json(out_dir / "summary.json", {"pairs": pairs, "total": sum(c["kept"] for c in pairs.values())},
                          provenance.record("sampling.interfaces.summary", inputs=inputs or []))
    return {"pairs": pairs, "files": files}
