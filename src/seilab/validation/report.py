"""Check records, the reference-result cache and the report of the validation stage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from seilab import provenance


def check(name: str, group: str, value, threshold, op: str = "<=", what: str = "") -> dict:
    """One pass/fail line: ``value op threshold`` (non-finite values fail)."""
    v = float(value) if value is not None else float("nan")
    if not math.isfinite(v):
        ok = False
    elif op == "<=":
        ok = v <= threshold
    elif op == ">=":
        ok = v >= threshold
    else:  # pragma: no cover
        raise ValueError(op)
    msg = f"{what + ': ' if what else ''}{v:.4g} {op} {threshold:g}" if math.isfinite(v) else f"{what}: not finite"
    return {"name": name, "group": group, "passed": bool(ok), "value": v if math.isfinite(v) else None,
            "threshold": threshold, "op": op, "message": msg}


def fail(name: str, group: str, message: str, value=None) -> dict:
    return {"name": name, "group": group, "passed": False, "value": value, "threshold": None, "message": message}


class ReferenceCache:
    """Reference results that do not depend on the model (dimer curves, EOS scans, reference MD RDFs).

    One JSON file per key under ``folder``; the key includes the reference's description, so a
    different reference never reuses them. Validation of later generations skips the reference work.
    """

    def __init__(self, folder: Path, reference: dict):
        self.folder = Path(folder)
        self.reference = reference

    def _path(self, key: dict) -> Path:
        return self.folder / f"{provenance.digest({'ref': self.reference, 'key': key}, 24)}.json"

    def get(self, key: dict):
        p = self._path(key)
        if not p.is_file():
            return None
        try:
            return _decode(json.loads(p.read_text())["value"])
        except (OSError, json.JSONDecodeError, KeyError):
            return None

    def put(self, key: dict, value) -> None:
        provenance.atomic_write_text(self._path(key), json.dumps({"key": key, "value": _encode(value)}, default=str))


def _encode(v):
    if isinstance(v, np.ndarray):
        return {"__array__": [None if not np.isfinite(x) else float(x) for x in v.ravel()], "shape": list(v.shape)}
    if isinstance(v, dict):
        return {k: _encode(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_encode(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _decode(v):
    if isinstance(v, dict) and "__array__" in v:
        return np.array([np.nan if x is None else x for x in v["__array__"]], dtype=float).reshape(v["shape"])
    if isinstance(v, dict):
        return {k: _decode(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v


def is_advisory(check: dict, advisory: list[str] | None = None) -> bool:
    """Whether a check is advisory (reported, not gating): by the name before its ':' being in ``advisory``
    (the campaign's current setting) or, without ``advisory``, by the flag stored in the check."""
    if advisory is None:
        return bool(check.get("advisory"))
    return check["name"].split(":", 1)[0] in advisory


def mark_advisory(checks: list[dict], advisory: list[str]) -> None:
    """Flag (in place) the checks whose name before the ':' is in ``advisory``."""
    for c in checks:
        c["advisory"] = is_advisory(c, advisory)


def failed_checks(checks: list[dict], advisory: list[str] | None = None) -> list[str]:
    """Names of the failed checks that decide the gate (see :func:`is_advisory`)."""
    return [c["name"] for c in checks if not c.get("passed") and not is_advisory(c, advisory)]


def gate_passes(checks: list[dict], advisory: list[str] | None = None) -> bool:
    """Some check gates and none of those failed (nothing checked is not a pass)."""
    return any(not is_advisory(c, advisory) for c in checks) and not failed_checks(checks, advisory)


def summarize(checks: list[dict], skipped: list[dict]) -> dict:
    groups: dict = {}
    for c in checks:
        g = groups.setdefault(c["group"], {"passed": 0, "failed": 0})
        g["passed" if c["passed"] else "failed"] += 1
    failed = failed_checks(checks)
    return {"passed": gate_passes(checks), "n_checks": len(checks),
            "n_gating": sum(not is_advisory(c) for c in checks),
            "n_failed": len(failed), "failed": failed,
            "advisory_failed": [c["name"] for c in checks if is_advisory(c) and not c["passed"]],
            "groups": groups, "skipped": [s["what"] for s in skipped]}
