"""Stage entry points for the campaign runner and the jobflow jobs: ``function(campaign) -> summary``.

Each imports its stage lazily, so a campaign that stops early never imports TensorFlow or LAMMPS.
"""

from __future__ import annotations


def chemistry(campaign) -> dict:
    from seilab.chemistry.stage import run_chemistry

    result = run_chemistry(campaign)
    li_rich = [k for k in result["kinks"] if 0 < k["x_anode"] < 1]
    return {"products": result["products"], "stable_phases": result["stable_phases"],
            "anode_rich_products": li_rich[-1]["products"] if li_rich else [],
            "n_kinks": len(result["kinks"])}


def report(campaign) -> dict:
    from seilab.report import build_report

    return build_report(campaign)
