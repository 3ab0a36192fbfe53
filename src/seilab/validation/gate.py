"""The acceptance gate: which potential may drive the production stages.

The paper's rule (section 2.1): *the model is accepted only after achieving the required convergence*;
a model that fails starts another active-learning generation. Here a training generation is
**accepted** when its validation report (``validation/<generation>/report.json``)

* was written for exactly this potential (the SHA-256 of its ``.yaml`` is in the report),
* ran every check group of ``validation.checks`` (a report of a subset, e.g. a quick refit check,
  does not accept a potential), and
* passed every check that gates (``validation.advisory_checks`` are reported, not gating).

Among accepted generations the *best* one is handed on, not simply the newest: the lowest score
``E_rmse / E_max + F_rmse / F_max`` on the campaign's **fixed** held-out set (the test split of the
first training generation, ``training/gen000/data/test.pckl.gzip``, whose errors every report
records under ``results.metrics.fixed_test``); a newer generation within ``gate.newer_within_fraction``
(10 %) of that score is preferred to it, since it has learned from more configurations (the
production run's extrapolative frames among them) that the fixed set cannot reward.

The simulation and transport stages call :func:`gated_potential`: without an accepted potential they
stop with a one-line error that names the failed checks and the report, unless the campaign sets
``gate.allow_unvalidated: true`` (CLI: ``--allow-unvalidated``); then they run on the best-scoring
potential and every output they write carries ``"validated": false`` so the report marks each number.
``validation/gate.json`` lists every generation's verdict and the accepted one (rewritten by the
validation and learning stages).
"""

from __future__ import annotations

from pathlib import Path

from seilab import provenance
from seilab.errors import SeilabError
from seilab.validation.report import failed_checks, gate_passes



def report_path(campaign, generation: str) -> Path:
    return campaign.layout.validation_report(generation)


def verdict(campaign, potential) -> dict:
    """The gate's verdict on one potential: status ``passed`` / ``failed`` / ``incomplete`` /
    ``not_validated``, the failed checks, the report and the fixed-test errors."""
    path = report_path(campaign, potential.generation or "custom")
    rec = {"generation": potential.generation, "potential": str(potential.yaml), "report": str(path),
           "status": "not_validated", "failed_checks": [], "fixed_test": None}
    if not path.is_file():
        return rec
    try:
        report = provenance.read_json(path)
    except Exception:  # a torn or foreign file is no verdict
        return rec
    if report.get("potential_sha256") != provenance.sha256_file(potential.yaml):
        rec["why"] = "the report is of another potential file"
        return rec
    rec["fixed_test"] = ((report.get("results") or {}).get("metrics") or {}).get("fixed_test")
    checks = report.get("checks") or []
    # advisory by the campaign's current validation.advisory_checks, so that changing it re-rules old reports
    rec["failed_checks"] = failed_checks(checks, campaign.validation.advisory_checks)
    missing = sorted(set(campaign.validation.checks) - set(report.get("groups_run") or []))
    if missing:
        rec["status"] = "incomplete"
        rec["why"] = f"check groups not run: {', '.join(missing)}"
    else:
        rec["status"] = "passed" if gate_passes(checks, campaign.validation.advisory_checks) else "failed"
    return rec


def score(campaign, rec: dict) -> float:
    """Fixed-test score of a verdict (lower is better; inf without fixed-test errors)."""
    ft = rec.get("fixed_test") or {}
    s = campaign.validation
    try:
        return (ft["energy_rmse_meV_per_atom"] / s.max_test_energy_rmse_meV_per_atom
                + ft["force_rmse_meV_per_A"] / s.max_test_force_rmse_meV_per_A)
    except (KeyError, TypeError):
        return float("inf")


def verdicts(campaign) -> list[tuple[object, dict]]:
    """(Potential, verdict) of every finished training generation, oldest first."""
    from seilab.training.stage import finished_record, generations, potential_of

    out = []
    for _, gdir in generations(campaign):
        rec = finished_record(gdir)
        if rec is not None:
            pot = potential_of(gdir, rec)
            out.append((pot, verdict(campaign, pot)))
    return out


def _best(campaign, items):
    """The generation to hand on: among ``items`` (oldest first) those failing the fewest checks (for the
    accepted ones: none), then the lowest fixed-test score; a newer generation whose score is within
    ``gate.newer_within_fraction`` of that lowest one wins over it (ties, too, go to the newer one)."""
    if not items:
        return None

    def n_failed(v):
        failed = v.get("failed_checks")
        return len(failed) if isinstance(failed, list) else 0

    fewest = min(n_failed(v) for _, v in items)
    pool = [(i, score(campaign, item[1])) for i, item in enumerate(items) if n_failed(item[1]) == fewest]
    limit = min(sc for _, sc in pool) * (1.0 + campaign.gate.newer_within_fraction)  # inf stays inf
    return items[max(i for i, sc in pool if sc <= limit)]


def _ranked(campaign) -> tuple:
    """(every (Potential, verdict), best accepted, best of all) from one pass over the verdicts; the two
    best are (Potential, verdict) pairs or None."""
    items = verdicts(campaign)
    return items, _best(campaign, [(p, v) for p, v in items if v["status"] == "passed"]), _best(campaign, items)


def accepted_potential(campaign):
    """(Potential, verdict) of the best accepted generation, or None."""
    return _ranked(campaign)[1]


def write_gate(campaign) -> dict:
    """Write ``validation/gate.json`` (every verdict, the accepted generation, the best one) and return it."""
    items, accepted, best = _ranked(campaign)
    data = {"accepted": accepted[1] if accepted else None, "best": best[1] if best else None,
            "generations": [dict(v, score=score(campaign, v)) for _, v in items],
            "rule": "accepted = validation report of this exact potential, every group of validation.checks run, "
                    "every check passed; best = fewest failed checks, then lowest E_rmse/E_max + F_rmse/F_max on the "
                    f"fixed test set, a newer generation within {campaign.gate.newer_within_fraction:.0%} of it "
                    "preferred"}
    provenance.write_json(campaign.layout.gate, data, provenance.record("validation.gate"))
    return data


def allowing_unvalidated(campaign):
    """The campaign with ``gate.allow_unvalidated`` set (what ``--allow-unvalidated`` does)."""
    return campaign.model_copy(update={"gate": campaign.gate.model_copy(update={"allow_unvalidated": True})})


def gated_potential(campaign, stage: str):
    """(Potential, gate record) for a production stage; SeilabError when nothing passed the gate and the
    campaign does not allow an unvalidated potential."""
    _, accepted, best = _ranked(campaign)
    if accepted is not None:
        pot, v = accepted
        return pot, {"validated": True, "generation": pot.generation, "report": v["report"]}
    if best is None:
        raise SeilabError(f"{campaign.stage_dir('training')}: no finished potential; run `seilab train CONFIG` first")
    pot, v = best
    if not campaign.gate.allow_unvalidated:
        raise SeilabError(f"{stage}: no potential passed validation; {describe(v)}; improve the potential "
                          "(more active learning, see the report) or pass --allow-unvalidated "
                          "(gate.allow_unvalidated: true) to run on it anyway, marked as unvalidated")
    return pot, {"validated": False, "generation": pot.generation, "report": v["report"], "status": v["status"],
                 "failed_checks": v["failed_checks"]}


def describe(v: dict) -> str:
    """One line on a verdict, naming the failed checks and the report."""
    gen = v.get("generation") or "the potential"
    if v["status"] == "failed":
        names = v["failed_checks"]
        more = f" (+{len(names) - 6} more)" if len(names) > 6 else ""
        return f"best {gen} failed {len(names)} checks: {', '.join(names[:6])}{more} (see {v['report']})"
    if v["status"] == "incomplete":
        return f"best {gen} was validated incompletely ({v.get('why')}; see {v['report']})"
    return f"best {gen} has no validation report ({v.get('why', 'run `seilab validate CONFIG`')}; expected {v['report']})"
