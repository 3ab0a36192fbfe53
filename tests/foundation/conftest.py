import shutil
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "li-li7p3s11.yaml"


@pytest.fixture
def write_config(tmp_path):
    """Write a campaign YAML (dedented text) into tmp_path and return its path."""

    def _write(text: str, name: str = "campaign.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return _write


@pytest.fixture(scope="session")
def chgnet_settings():
    from seilab.config import ReferenceSettings

    return ReferenceSettings(name="chgnet")


@pytest.fixture(scope="session")
def chgnet(chgnet_settings):
    from seilab.reference import get_calculator

    return get_calculator(chgnet_settings)


requires_pw = pytest.mark.skipif(shutil.which("pw.x") is None,
                                 reason="Quantum ESPRESSO pw.x not installed (make system installs it)")
