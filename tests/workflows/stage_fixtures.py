"""Tiny stages for testing the runner's bookkeeping (skip, resume, order); not science."""

import json

CALLS = []


def first(campaign):
    CALLS.append("first")
    (campaign.output / "first.txt").parent.mkdir(parents=True, exist_ok=True)
    (campaign.output / "first.txt").write_text("1")
    return {"n": 1}


def second(campaign):
    CALLS.append("second")
    flag = campaign.output / "crash-once"
    if not flag.exists():
        flag.write_text("x")
        raise RuntimeError("killed in the middle of the second stage")
    return {"ok": json.loads("true")}


def third(campaign):
    CALLS.append("third")
    return {}


def refused(campaign):
    from seilab.errors import SeilabError

    CALLS.append("refused")
    raise SeilabError("simulation: no potential passed validation")


def report(campaign):
    CALLS.append("report")
    return {}
