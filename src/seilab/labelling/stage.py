"""``run_labelling``: the sampled structures of a campaign into its dataset store; and the two halves of
its fan-out on a cluster (:func:`unlabelled_indices`, :func:`label_batch`: one jobflow job per batch)."""

from __future__ import annotations

import functools
from typing import Callable

from seilab.reference.labelling import LabelReport, label_structures, store_for


def _label(campaign, frames, *, workers: int, bar: bool = False, factory: Callable[[], object] | None = None,
           store=None) -> LabelReport:
    """``frames`` into the campaign's dataset store (or ``store``) with the campaign's reference (or
    ``factory``); then the store's ``summary.json`` and ``composition.png``."""
    from seilab.reference.calculators import get_calculator

    store = store if store is not None else store_for(campaign)
    factory = factory or functools.partial(get_calculator, campaign.reference)
    report = label_structures(frames, store, factory, workers=workers, threads=campaign.reference.threads,
                              progress=bar)
    store.write_summary()
    return report


def run_labelling(campaign, *, progress=None, factory: Callable[[], object] | None = None, store=None) -> LabelReport:
    """Label every structure of the campaign's sampling manifest into its dataset store; then write
    the store's ``summary.json`` and ``composition.png``. ``progress``: True for the labeller's progress
    bar, a callable for one line per finished stage step, None for quiet."""
    from seilab.sampling.pipeline import sampled_frames

    report = _label(campaign, sampled_frames(campaign), workers=campaign.sampling.workers, bar=progress is True,
                    factory=factory, store=store)
    if callable(progress):
        progress(f"{report.labelled} labelled, {report.already_in_store} already in the store, "
                 f"{len(report.failed)} failed")
    return report


def unlabelled_indices(campaign) -> list[int]:
    """Indices (into the sampling manifest's frames) of structures the dataset store lacks."""
    from seilab.sampling.pipeline import sampled_frames

    store = store_for(campaign)
    return [i for i, atoms in enumerate(sampled_frames(campaign)) if atoms not in store]


def label_batch(campaign, indices: list[int]) -> LabelReport:
    """Label one batch of sampled structures (a jobflow fan-out job; serial); resumable like the stage."""
    from seilab.sampling.pipeline import sampled_frames

    frames = sampled_frames(campaign)
    return _label(campaign, [frames[i] for i in indices], workers=1)
