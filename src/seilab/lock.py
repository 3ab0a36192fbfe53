"""One writer per campaign: a lock file in the output folder.

``<output>/.seilab/lock`` holds the pid, host, process start time and command of the run that writes
the campaign. It is created atomically (``O_CREAT | O_EXCL``), so of two ``seilab run`` started together
exactly one gets it; the other stops with a one-line error naming the holder. A lock whose process is
gone (same host, pid not running, or running with another start time after a pid was reused) is stale:
it is taken over with a note. A lock written on another host cannot be checked from here and is
respected; the error says which file to delete once that run is known to be dead.

Re-entrant within one process (the runner calling itself, jobflow running stages in one worker).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
from pathlib import Path

import psutil

from seilab.errors import SeilabError
from seilab.provenance import scrub

log = logging.getLogger(__name__)
LOCK = Path(".seilab") / "lock"
_held: dict[Path, int] = {}  # lock file -> depth, for this process


def lock_path(output: Path) -> Path:
    return Path(output) / LOCK


def _start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def _me() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": _start_time(os.getpid()),
            "command": " ".join(sys.argv)[:300]}


def holder(output: Path) -> dict | None:
    """The lock record, or None when there is no lock; a torn record reads as ``{}``."""
    path = lock_path(output)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError):
        return {}


def is_stale(rec: dict) -> bool:
    """True when the lock's process is known to be gone (only decidable on the host that wrote it)."""
    if rec.get("host") != socket.gethostname():
        return False
    pid = rec.get("pid")
    if not isinstance(pid, int):
        return True
    started = _start_time(pid)
    if started is None:
        return True
    want = rec.get("started")
    return want is not None and abs(started - float(want)) > 1.0  # the pid was reused by another process


def _describe(rec: dict, path: Path) -> str:
    return (f"pid {rec.get('pid')} on {rec.get('host')} ({rec.get('command') or 'unknown command'}); "
            f"wait for it, or delete {path} if that run is dead")


def acquire(output: Path) -> Path:
    path = lock_path(output).resolve()
    if path in _held:
        _held[path] += 1
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            rec = holder(output)
            if rec is None:
                continue  # released between our two calls
            if rec == {} or is_stale(rec):
                log.warning("%s: taking over a stale lock (%s)", path, rec or "unreadable")
                path.unlink(missing_ok=True)
                continue
            raise SeilabError(f"{Path(output)}: another seilab run holds this campaign: {_describe(rec, path)}")
        with os.fdopen(fd, "w") as fh:
            json.dump(scrub(_me()), fh)  # the command line may hold a secret: never written
        _held[path] = 1
        return path
    raise SeilabError(f"{path}: could not take the campaign lock (it keeps changing hands)")


def release(path: Path) -> None:
    _held[path] -= 1
    if _held[path] > 0:
        return
    del _held[path]
    try:
        rec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return
    if rec.get("pid") == os.getpid() and rec.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def campaign_lock(output: Path):
    """Hold the campaign's lock for the ``with`` block (re-entrant in one process)."""
    path = acquire(output)
    try:
        yield path
    finally:
        release(path)
