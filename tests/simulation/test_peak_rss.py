"""PeakRSS (psutil): the peak resident memory of a session's processes, against the kernel's VmHWM."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seilab.md.engine import PeakRSS

# allocates (and touches) 300 MB, holds it 1 s, prints its kernel high-water mark (kB) and exits
CHILD = """
import sys, time
block = bytearray(b"\\x01") * (300 << 20)
time.sleep(1.0)
print([l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1], flush=True)
"""


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc for the reference VmHWM")
def test_peak_rss_of_a_session_matches_the_high_water_mark():
    proc = subprocess.Popen([sys.executable, "-c", CHILD, "peak-rss-probe"], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    with PeakRSS(proc.pid, name="peak-rss-probe", interval=0.05) as mon:
        out, _ = proc.communicate(timeout=60)
    hwm_MB = float(out.split()[-1]) / 1024.0
    assert list(mon.peak) == [proc.pid]          # the session's one matching process, nothing else
    assert 300.0 < mon.total_MB <= hwm_MB + 1.0
    assert mon.total_MB == pytest.approx(hwm_MB, abs=5.0)


def test_peak_rss_ignores_other_sessions():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)", "peak-rss-probe"])
    with PeakRSS(proc.pid, name="peak-rss-probe", interval=0.05) as mon:   # not a session leader
        proc.wait(timeout=30)
    assert mon.total_MB is None
