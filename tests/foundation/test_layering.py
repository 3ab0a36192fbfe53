"""The layering contract (.importlinter): it holds on the package, and it catches a stage that imports a later one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.is_file(), reason="import-linter not installed (make setup installs it)")


def _lint(src: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_layers():
    proc = _lint(ROOT / "src", ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "3 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize("module, line, broken", [
    ("chemistry/_probe.py", "import seilab.simulation.stage\n", "seilab.chemistry is not allowed to import seilab.simulation"),
    ("simulation/_probe.py", "import seilab.simulation.audit\n", None),  # allowed: inside one stage, no cycle
    # the MD layer (seilab.md) is below every stage: learning and simulation may use it, it uses no stage
    ("learning/_probe.py", "import seilab.md.lammps\n", None),
    ("md/_probe.py", "import seilab.learning.stage\n", "seilab.md is not allowed to import seilab.learning"),
    ("md/_probe.py", "import seilab.reference.store\n", "seilab.md is not allowed to import seilab.reference"),
    ("md/_probe.py", "import seilab.dynamics\n", None),
    ("md/engine_probe.py", "import seilab.md.engines\n", "No cycles are allowed in seilab.md"),
    # the settings models are a leaf: a stage imports its settings, never the other way round
    ("settings/_probe.py", "import seilab.training.stage\n", "seilab.settings is not allowed to import seilab.training"),
    ("settings/_probe.py", "import seilab.md.dump\n", "seilab.settings is not allowed to import seilab.md"),
    ("training/_probe.py", "import seilab.settings.learning\n", None),
])
def test_a_violation_breaks_the_contract(tmp_path, module, line, broken):
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "seilab", src / "seilab", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    (src / "seilab" / module).write_text(line)
    if module == "md/engine_probe.py":  # engine imports the probe, which imports engines -> engine: a cycle
        (src / "seilab" / "md" / "engine.py").open("a").write("\nfrom seilab.md import engine_probe  # noqa\n")
    proc = _lint(src, tmp_path)
    if broken is None:
        assert proc.returncode == 0, proc.stdout[-3000:]
    else:
        assert proc.returncode != 0 and broken in proc.stdout, proc.stdout[-3000:]


def test_the_md_layer_is_its_own_package():
    """The engines live in seilab.md only: no copy or re-export is left in seilab.simulation."""
    sim = ROOT / "src" / "seilab" / "simulation"
    for name in ("engine.py", "engines.py", "lammps.py", "ase_engine.py"):
        assert not (sim / name).exists(), name
    import seilab.simulation

    for name in ("MDSpec", "run_md", "LammpsEngine", "find_lmp", "AseEngine"):
        assert not hasattr(seilab.simulation, name), name
    import seilab.md

    assert {"MDSpec", "run_md", "get_engine", "LammpsEngine", "AseEngine", "find_lmp"} <= set(seilab.md.__all__)


def test_reading_a_campaign_loads_no_stage_code():
    """load_config builds every stage's settings from seilab.settings alone: no stage package, no TensorFlow,
    torch, LAMMPS or pymatgen is imported (so `seilab --help` and a config check stay fast)."""
    code = ("import sys; from seilab.config import load_config; load_config(sys.argv[1]); "
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'torch', 'lammps', "
            "'pymatgen', 'chgnet', 'pyace') or (m.startswith('seilab.') and m.split('.')[1] not in "
            "('config', 'settings', 'errors')))))")
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT / "examples" / "li-li7p3s11.yaml")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [], proc.stdout
