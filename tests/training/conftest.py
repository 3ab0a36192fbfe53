"""Session fixtures: one labelled demo store (CHGNet) and one small real pacemaker fit, shared through
the session's base temp folder with tests/validation (a second request only reloads the result)."""

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def shared_base(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "seilab-shared"
    base.mkdir(exist_ok=True)
    return base


@pytest.fixture(scope="session")
def good_fit(shared_base):
    from seilab.training.stage import run_training
    from fixtures.training import GOOD_TRAINING, shared_campaign

    campaign = shared_campaign(shared_base, "good", GOOD_TRAINING)
    return campaign, run_training(campaign)
