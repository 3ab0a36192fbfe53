import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def fitted_campaign(tmp_path_factory):
    """A tiny Li/Li2S campaign with LJ labels and a fitted gen000 (with active set); returns its folder."""
    import helpers

    from seilab.config import load_config
    from seilab.training.stage import run_training

    root = tmp_path_factory.mktemp("learn-base")
    cfg = helpers.make_campaign(root)
    run_training(load_config(cfg))
    return root


@pytest.fixture
def campaign_copy(fitted_campaign, tmp_path):
    """A private copy of the fitted campaign folder; returns the path of its campaign.yaml."""
    dst = tmp_path / "campaign"
    shutil.copytree(fitted_campaign, dst)
    return dst / "campaign.yaml"
