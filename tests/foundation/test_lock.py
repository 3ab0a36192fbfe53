"""One writer per campaign: the output folder's lock (pid + host), stale locks, the holder named."""

import json
import socket
import subprocess
import sys
import time

import pytest

from seilab.errors import SeilabError
from seilab.lock import campaign_lock, holder, lock_path

HOLD = """
import sys, time
from seilab.lock import campaign_lock
with campaign_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_second_writer_is_refused_naming_the_holder(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(SeilabError) as exc:
            with campaign_lock(tmp_path):
                pass
        msg = str(exc.value)
        assert f"another seilab run holds this campaign: pid {proc.pid} on {socket.gethostname()}" in msg
        assert str(lock_path(tmp_path)) in msg and "\n" not in msg
        assert holder(tmp_path)["pid"] == proc.pid  # the refused run did not touch the holder's lock
    finally:
        proc.kill()
        proc.wait()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_path(tmp_path).parent.mkdir(parents=True)
    lock_path(tmp_path).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": 1.0}))
    with campaign_lock(tmp_path):
        import os

        assert holder(tmp_path)["pid"] == os.getpid()
        with campaign_lock(tmp_path):  # re-entrant in one process
            pass
        assert lock_path(tmp_path).is_file()
    assert holder(tmp_path) is None  # released


def test_reused_pid_is_stale_and_other_hosts_are_respected(tmp_path):
    import os

    lock_path(tmp_path).parent.mkdir(parents=True)
    # our own pid, but a process start time that is not ours: the pid was reused, the writer is gone
    lock_path(tmp_path).write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(),
                                               "started": time.time() + 1e6}))
    with campaign_lock(tmp_path):
        pass
    lock_path(tmp_path).write_text(json.dumps({"pid": 1, "host": "elsewhere.example", "started": 0.0,
                                               "command": "seilab run c.yaml"}))
    with pytest.raises(SeilabError, match="pid 1 on elsewhere.example \\(seilab run c.yaml\\)"):
        with campaign_lock(tmp_path):
            pass


PROBED = []


class _Nothing(dict):
    def summary(self) -> dict:
        return {}


def probe(campaign, *, progress=None):
    """A stage (the stage contract: a result with a summary) that records who holds the campaign's lock
    while it runs."""
    PROBED.append(holder(campaign.output))
    return _Nothing()


def test_seilab_run_holds_the_lock(tmp_path, monkeypatch):
    import os

    from seilab.config import load_config
    from seilab.workflows import stages as st

    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: t\noutput: out\nreactants: {anode: Li_bcc, electrolyte: Li2S}\n"
                   "phases: [{name: Li_bcc}, {name: Li2S}]\n")
    campaign = load_config(cfg)
    monkeypatch.setattr(st, "STAGES", (st.Stage("probe", f"{__name__}:probe", ()),))
    PROBED.clear()
    st.run_campaign(campaign)
    assert PROBED and PROBED[0]["pid"] == os.getpid()
    assert holder(campaign.output) is None


def test_stage_commands_hold_the_lock_too(tmp_path, capsys):
    from seilab.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: t\noutput: out\nreactants: {anode: Li_bcc, electrolyte: Li2S}\n"
                   "phases: [{name: Li_bcc}, {name: Li2S}]\n")
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "out")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        for command in ("chemistry", "train", "simulate"):
            assert main([command, str(cfg)]) == 2
            err = capsys.readouterr().err
            assert f"another seilab run holds this campaign: pid {proc.pid}" in err and err.count("\n") == 1
    finally:
        proc.kill()
        proc.wait()
    assert not (tmp_path / "out" / "chemistry").exists()  # refused before any work


def test_the_lock_never_holds_the_mp_api_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "sekrit-key-123")
    monkeypatch.setattr(sys, "argv", ["seilab", "run", "c.yaml", "--key=sekrit-key-123"])
    with campaign_lock(tmp_path):
        text = lock_path(tmp_path).read_text()
    assert "sekrit-key-123" not in text and "***" in text
