"""One resume key and one resume check for every stage step (seilab.provenance.digest / record_for).

The keys must stay what they were before the helpers were shared: a changed key makes every finished step of
an existing campaign run again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from seilab import provenance

PARTS = {"T": 300.0, "steps": 20, "seed": 0, "structure": "abc", "list": [1, 2.5, None]}
# sha256 of json.dumps(PARTS, sort_keys=True), computed once with hashlib when the helper was introduced
PARTS_SHA256 = "6a669489b7349f1cd8a8b86ed0cef34c9e94ca6e822d3d790c6cc2b041a00df1"


def test_digest_is_the_sorted_json_sha256_cut_to_length():
    assert provenance.digest(PARTS) == PARTS_SHA256
    assert provenance.digest(PARTS, 16) == PARTS_SHA256[:16]
    assert provenance.digest(dict(reversed(list(PARTS.items()))), 24) == PARTS_SHA256[:24]  # key order is irrelevant
    assert provenance.digest({**PARTS, "T": 301.0}) != PARTS_SHA256
    # what the stages' own helpers hashed before (tuple of parts; a value JSON cannot write, as str)
    old = hashlib.sha256(json.dumps(("a", {"b": Path("x")}), sort_keys=True, default=str).encode()).hexdigest()
    assert provenance.digest(("a", {"b": Path("x")}), 24) == old[:24]


def test_stage_keys_are_unchanged():
    from seilab.learning.stage import _key as learning_key
    from seilab.simulation.audit import _key as audit_key

    assert learning_key(*PARTS.values()) == hashlib.sha256(
        json.dumps(tuple(PARTS.values()), sort_keys=True, default=str).encode()).hexdigest()[:24]
    assert audit_key(PARTS) == PARTS_SHA256[:20]


def test_record_for_returns_the_record_only_for_its_key(tmp_path):
    path = tmp_path / "step.json"
    assert provenance.record_for(path, "k1") is None  # missing
    path.write_text("{not json")
    assert provenance.record_for(path, "k1") is None  # unreadable
    path.write_text(json.dumps(["k1"]))
    assert provenance.record_for(path, "k1") is None  # not a record
    path.write_text(json.dumps({"key": "k1", "n": 3}))
    assert provenance.record_for(path, "k1") == {"key": "k1", "n": 3}
    assert provenance.record_for(path, "k2") is None  # written for other settings
