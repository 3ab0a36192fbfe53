"""The one stage API: every stage of the runner's table is ``run_<stage>(campaign, *, progress=None, ...)``
returning a result with ``summary()``; the summaries are what the runner records."""

from __future__ import annotations

import inspect
import typing

import pytest

from seilab.results import DictResult, StageResult
from seilab.workflows.stages import STAGES


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_every_stage_is_run_stage_campaign_progress(stage):
    fn = stage.load()
    assert fn.__name__ == f"run_{stage.name}"
    params = list(inspect.signature(fn).parameters.values())
    assert params[0].name == "campaign" and params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    rest = params[1:]
    assert rest and rest[0].name == "progress" and rest[0].default is None
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty for p in rest)
    assert {k for k, _ in stage.options} <= {p.name for p in rest}
    result_type = typing.get_type_hints(fn)["return"]
    assert callable(getattr(result_type, "summary", None)) and result_type.summary is not DictResult.summary


def test_a_dict_result_is_its_main_file_with_a_summary():
    from seilab.chemistry.stage import ChemistryResult

    kinks = [{"x_anode": 0.0, "products": ["Li7P3S11"]}, {"x_anode": 0.4, "products": ["Li2S", "Li3P"]},
             {"x_anode": 0.9, "products": ["Li2S", "Li3P", "Li_bcc"]}, {"x_anode": 1.0, "products": ["Li_bcc"]}]
    r = ChemistryResult(kinks=kinks, products=["Li2S", "Li3P", "Li_bcc"], stable_phases=["Li_bcc", "Li2S"])
    assert isinstance(r, StageResult) and r["kinks"] is kinks
    assert r.summary() == {"products": ["Li2S", "Li3P", "Li_bcc"], "stable_phases": ["Li_bcc", "Li2S"],
                           "anode_rich_products": ["Li2S", "Li3P", "Li_bcc"], "n_kinks": 4}
