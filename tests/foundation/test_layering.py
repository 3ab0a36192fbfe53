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
    assert "2 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize("module, line, broken", [
    ("chemistry/_probe.py", "import seilab.simulation.stage\n", "seilab.chemistry is not allowed to import seilab.simulation"),
    ("simulation/_probe.py", "import seilab.simulation.lammps\n", None),  # allowed: inside one stage, no cycle
    ("simulation/engine_probe.py", "import seilab.simulation.engines\n", "No cycles are allowed in seilab.simulation"),
])
def test_a_violation_breaks_the_contract(tmp_path, module, line, broken):
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "seilab", src / "seilab", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    (src / "seilab" / module).write_text(line)
    if module == "simulation/engine_probe.py":  # engine imports the probe, which imports engines -> engine: a cycle
        (src / "seilab" / "simulation" / "engine.py").open("a").write("\nfrom seilab.simulation import engine_probe  # noqa\n")
    proc = _lint(src, tmp_path)
    if broken is None:
        assert proc.returncode == 0, proc.stdout[-3000:]
    else:
        assert proc.returncode != 0 and broken in proc.stdout, proc.stdout[-3000:]
