"""``run_labelling``: the sampled structures of a campaign into its dataset store; and the two halves of
its fan-out on a cluster (:func:`unlabelled_indices`, :func:`label_batch`: one jobflow job per batch)."""

from __future__ import annotations

import functools
from typing import Callable

from seilab.reference.labelling import LabelReport, label_structures, store_for


def run_labelling(campaign, *, progress=None, factory: Callable[[], object] | None = None, store=None) -> LabelReport:
    """Label every structure of the campaign's sampling manifest into its dataset store; then write
    the store's ``summary.json`` and ``composition.png``. ``progress``: True for the labeller's progress
    bar, a callable for one line per finished stage step, None for quiet."""
    from seilab.reference.calculators import get_calculator
    from seilab.sampling.pipeline import sampled_frames

    frames = sampled_frames(campaign)
    store = store if store is not None else store_for(campaign)
    factory = factory or functools.partial(get_calculator, campaign.reference)
    report = label_structures(frames, store, factory, workers=campaign.sampling.workers,
                              threads=campaign.reference.threads, progress=progress is True)
    store.write_summary()
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
    from seilab.reference.calculators import get_calculator
    from seilab.sampling.pipeline import sampled_frames

    frames = sampled_frames(campaign)
    store = store_for(campaign)
    report = label_structures([frames[i] for i in indices], store, functools.partial(get_calculator, campaign.reference),
                              workers=1, threads=campaign.reference.threads, progress=False)
    store.write_summary()
    return report
