"""What a stage returns: every stage is ``run_<stage>(campaign, *, progress=None) -> result``, and every
result has a :meth:`~StageResult.summary`.

The summary is the handful of JSON-able numbers and names a person reads first (products of the reaction,
frames sampled, test errors of the fit, checks passed, the stop reason of active learning, steps run, the
interphase thickness, Onsager runs); the runner (``seilab run``) writes it into the stage's completion marker
and prints it, the jobflow job returns it, and the report shows it. The full result is the stage's main file
(``chemistry/reaction.json``, ``sampling/manifest.json``, ``validation/<gen>/report.json``, ...), which the
stage writes itself.

Two kinds of result:

* a dataclass of the stage (``LabelReport``, ``TrainingResult``, ``SimulationResult``, ``AnalysisResult``)
  with a ``summary()`` method;
* :class:`DictResult`, for stages whose result *is* the JSON object of their main file (chemistry, sampling,
  validation, learning, transport, report): the dict as written, with the stage's ``summary()``.

A shared leaf (no seilab imports).
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable


@runtime_checkable
class StageResult(Protocol):
    """The return value of a ``run_<stage>`` function."""

    def summary(self) -> dict[str, Any]:
        """The JSON-able headline numbers of the result (scalars, short lists and small dicts)."""
        ...


class DictResult(dict):
    """A stage result that is the JSON object of the stage's main file; subclasses say what ``summary`` keeps.

    ``result["kinks"]`` reads the file's content as before; ``result.summary()`` gives the headline."""

    def summary(self) -> dict[str, Any]:  # pragma: no cover - every subclass defines it
        raise NotImplementedError(f"{type(self).__name__}.summary")


def scalars(d: dict, keep: Callable[[Any], bool] | None = None) -> dict[str, Any]:
    """The entries of ``d`` whose values are scalars (int, float, str, bool or None), or pass ``keep``."""
    keep = keep or (lambda v: v is None or isinstance(v, (int, float, str, bool)))
    return {k: v for k, v in d.items() if keep(v)}
