"""Child processes the stages start (pacemaker, LAMMPS / mpirun): one way to tie them to us and to stop them.

A shared leaf (no seilab imports). Each child runs in its own session (``start_new_session=True``), so
a stop signal reaches the whole group (mpirun and its ranks, pacemaker and TensorFlow's threads) and
only it; :func:`die_with_parent` as ``preexec_fn`` makes Linux send the child SIGTERM when the Python
process driving it dies, even by SIGKILL, so no orphan fit or MD keeps running and writing.
"""

from __future__ import annotations

import os
import signal
import subprocess


def die_with_parent() -> None:  # pragma: no cover (runs in the child)
    """``preexec_fn``: PR_SET_PDEATHSIG = SIGTERM (Linux; elsewhere nothing)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux / no libc: the child just is not tied to us
        pass


def stop_group(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Stop the process group of ``proc`` (started with ``start_new_session=True``): SIGTERM, then SIGKILL
    after ``grace_s`` seconds; reaps the child. A group that is already gone is not an error."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
        return
    except (ProcessLookupError, subprocess.TimeoutExpired, ChildProcessError):
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=grace_s)
    except (subprocess.TimeoutExpired, ChildProcessError):
        pass
