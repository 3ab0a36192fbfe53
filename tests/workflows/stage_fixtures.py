"""Tiny stages for testing the runner's bookkeeping (skip, resume, order); not science. Each follows the
stage contract: ``run(campaign, *, progress=None)`` returning a result with a ``summary()``."""

import json

CALLS = []


class Result(dict):
    def summary(self) -> dict:
        return dict(self)


def first(campaign, *, progress=None):
    CALLS.append("first")
    (campaign.output / "first.txt").parent.mkdir(parents=True, exist_ok=True)
    (campaign.output / "first.txt").write_text("1")
    return Result(n=1)


def second(campaign, *, progress=None):
    CALLS.append("second")
    flag = campaign.output / "crash-once"
    if not flag.exists():
        flag.write_text("x")
        raise RuntimeError("killed in the middle of the second stage")
    return Result(ok=json.loads("true"))


def third(campaign, *, progress=None):
    CALLS.append("third")
    return Result()


def refused(campaign, *, progress=None):
    from seilab.errors import SeilabError

    CALLS.append("refused")
    raise SeilabError("simulation: no potential passed validation")


def report(campaign, *, progress=None):
    CALLS.append("report")
    return Result()
