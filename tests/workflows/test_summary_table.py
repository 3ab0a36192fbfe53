"""`seilab run` ends with the campaign at a glance: one row per stage that ran, its time and one-line result."""

import json

from fixtures.campaigns import minimal_campaign

from seilab.cli.workflows import print_campaign_table, result_line


def _campaign(tmp_path):
    return minimal_campaign(tmp_path, phases=["Li2S"])


def test_the_table_lists_each_stage_once_in_pipeline_order(tmp_path, capsys):
    c = _campaign(tmp_path)
    markers = c.output / ".seilab" / "stages"
    markers.mkdir(parents=True)
    summaries = {
        "analysis": {"growth_verdict": "one regime", "final_thickness_A": 8.54, "single_exponent": 0.72,
                     "single_exponent_err": 0.06},
        "chemistry": {"products": ["Li2S", "Li3P"]},
        "simulation": {"engine": "lammps", "n_atoms": 3012, "status": "halted", "steps_done": 1680},
        "learning": {"generations": 3, "stop_reason": "max_generations", "accepted_potential": "gen003"},
    }
    for name, s in summaries.items():
        (markers / f"{name}.json").write_text(json.dumps({"stage": name, "seconds": 12.0, "summary": s}))
    print_campaign_table(c)
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "│" in line and "stage" not in line]
    assert [r.split("│")[1].strip() for r in rows] == ["chemistry", "learning", "simulation", "analysis"]
    assert "halted at step 1680" in out and "accepted: gen003" in out and "n = 0.72 ± 0.06" in out


def test_result_lines_say_what_a_scientist_asks():
    assert result_line("validation", {"passed": False}) == "first fit (gen000): failed"
    assert result_line("transport", {"runs": 5, "failed": ["Li3P@900K"], "validated": False}) == \
        "5 runs, 1 failed, UNVALIDATED"
    assert "no growth detected" in result_line("analysis", {"growth_verdict": "no growth detected",
                                                            "final_thickness_A": 5.3, "single_exponent": -0.5})
    assert "-0.5" not in result_line("analysis", {"growth_verdict": "no growth detected", "single_exponent": -0.5})
    # a production run halted after 6 frames has no growth fit: the line says so instead of "None"
    assert result_line("analysis", {"growth_verdict": None, "n_frames": 6, "final_thickness_A": 4.08}) == \
        "no growth fit (6 frames: too few), thickness 4.08 Å"


def test_stage_logs_go_to_the_campaign_log_file_not_the_screen(tmp_path, capfd):
    import logging

    from seilab.cli.workflows import log_to_file

    c = _campaign(tmp_path)
    log_to_file(c)
    log_to_file(c)  # twice: still one handler
    logging.getLogger("seilab.test_campaign_log").info("Li3P 900 K: 50/301 frames")
    handlers = [h for h in logging.getLogger("seilab").handlers if getattr(h, "seilab_campaign_log", False)]
    assert len(handlers) == 1
    handlers[0].flush()
    assert "50/301 frames" in (c.output / "logs" / "seilab.log").read_text()
    out, err = capfd.readouterr()
    assert "50/301" not in out and "50/301" not in err
    logging.getLogger("seilab").removeHandler(handlers[0])
    handlers[0].close()
