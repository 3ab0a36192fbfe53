"""Campaign YAML: the worked example loads; nonsense is a one-line error naming the field."""

import subprocess
import sys

import pytest

from seilab.config import load_config, parse_formula
from seilab.errors import SeilabError

from conftest import EXAMPLE

MINIMAL = """
name: tiny
output: out
reactants: {anode: Li_bcc, electrolyte: Li2S}
phases: [{name: Li_bcc}, {name: Li2S}, {name: S_alpha}]
"""


def test_worked_example_loads():
    c = load_config(EXAMPLE)
    assert c.reactants.anode == "Li_bcc" and c.reactants.electrolyte == "Li7P3S11"
    assert c.elements == ["Li", "P", "S"]
    assert c.output.is_absolute()
    assert c.reference.name == "chgnet"


def test_relative_output_resolved_against_config_folder(write_config, tmp_path):
    c = load_config(write_config(MINIMAL))
    assert c.output == (tmp_path / "out").resolve()


@pytest.mark.parametrize("patch, field", [
    ("surprise: 1\n", "surprise: unknown key"),
    ("chemistry: {relax_max_steps: -3}\n", "chemistry.relax_max_steps"),
    ("chemistry: {min_distance_A: -1.0}\n", "chemistry.min_distance_A"),
    ("reference: {name: dftb}\n", "reference.name"),
    ("reference: {kpoint_density_per_A3: 0}\n", "reference.kpoint_density_per_A3"),
    ("learning: {refit: {maxiter: [0]}}\n", "learning.refit: maxiter"),
    ("learning: {refit: {maxiter: [10, 5, 2]}}\n", "learning.refit: maxiter needs 1 or 2 values"),
    ("learning: {refit: {maxiters: [10]}}\n", "learning.refit: maxiters: unknown key"),
])
def test_bad_fields_named(write_config, patch, field):
    with pytest.raises(SeilabError) as exc:
        load_config(write_config(MINIMAL + patch))
    msg = str(exc.value)
    assert field in msg and "\n" not in msg


def test_refit_settings_lay_over_training(write_config):
    c = load_config(write_config(MINIMAL + "training: {maxiter: [300, 100], functions_per_element: 30}\n"
                                 "learning: {refit: {maxiter: [40], kappa_stages: [0.9]}}\n"))
    r = c.refit_training()
    assert r.maxiter == [40] and r.kappa_stages == [0.9] and r.functions_per_element == 30
    assert c.training.maxiter == [300, 100]  # the first fit keeps its own settings
    plain = load_config(write_config(MINIMAL))
    assert plain.refit_training() is plain.training


def test_unknown_element(write_config):
    text = MINIMAL.replace("{name: S_alpha}", "{name: Xq, formula: XqS2}")
    with pytest.raises(SeilabError, match=r"phases\.2\.formula: unknown element 'Xq'"):
        load_config(write_config(text))


def test_reactant_must_be_a_phase(write_config):
    with pytest.raises(SeilabError, match="reactants.electrolyte 'Li7P3S11' is not in phases"):
        load_config(write_config(MINIMAL.replace("electrolyte: Li2S", "electrolyte: Li7P3S11")))


def test_missing_files_named(write_config):
    with pytest.raises(SeilabError, match=r"phases\.1\.cif: file not found"):
        load_config(write_config(MINIMAL.replace("{name: Li2S}", "{name: Li2S, cif: nowhere.cif}")))
    with pytest.raises(SeilabError, match="chemistry.cif_dir: folder not found"):
        load_config(write_config(MINIMAL + "chemistry: {cif_dir: no_such_dir}\n"))
    with pytest.raises(SeilabError, match="config file not found"):
        load_config("/nonexistent/campaign.yaml")


def test_bad_yaml_is_one_line(write_config):
    with pytest.raises(SeilabError, match="not valid YAML at line"):
        load_config(write_config("name: [unclosed\n"))


def test_parse_formula():
    assert parse_formula("Li7P3S11") == {"Li": 7, "P": 3, "S": 11}
    with pytest.raises(ValueError):
        parse_formula("li2s")


def test_cli_prints_one_line_error(write_config):
    path = write_config(MINIMAL + "bogus_section: {}\n")
    proc = subprocess.run([sys.executable, "-m", "seilab.cli", "chemistry", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "bogus_section: unknown key" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_duplicate_key_is_refused_with_both_lines(write_config):
    text = MINIMAL + "sampling: {target_atoms: 64}\nchemistry: {relax_max_steps: 5}\nsampling: {seed: 3}\n"
    with pytest.raises(SeilabError) as exc:
        load_config(write_config(text))
    msg = str(exc.value)
    assert "key 'sampling' appears twice (lines 6 and 8)" in msg and "\n" not in msg
    nested = MINIMAL + "chemistry:\n  relax_max_steps: 5\n  relax_max_steps: 7\n"
    with pytest.raises(SeilabError, match=r"key 'relax_max_steps' appears twice \(lines 7 and 8\)"):
        load_config(write_config(nested))


def test_output_that_is_a_file_is_refused_before_any_work(write_config, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(SeilabError, match=r"output: .*afile is a file, not a folder"):
        load_config(write_config(MINIMAL.replace("output: out", "output: afile")))
    with pytest.raises(SeilabError, match=r"output: .*afile/run lies under .*afile, which is a file"):
        load_config(write_config(MINIMAL.replace("output: out", "output: afile/run")))
    assert (tmp_path / "afile").read_text() == "not a folder"


def test_one_formatter_for_every_settings_error():
    """The campaign loader, `seilab simulate` overrides and analysis settings files share one message form."""
    from pydantic import ValidationError

    from seilab.settings.base import format_validation_error
    from seilab.settings.simulation import SimulationSettings

    with pytest.raises(ValidationError) as bad:
        SimulationSettings(n_atoms=-5, bogus=1)
    assert format_validation_error(bad.value, "c.yaml").startswith("c.yaml: n_atoms: ")
    assert format_validation_error(bad.value, "c.yaml").endswith("(+1 more)")
    assert format_validation_error(bad.value, section="simulation").startswith("simulation.n_atoms: ")
    with pytest.raises(ValidationError) as unknown:
        SimulationSettings(bogus=1)
    assert format_validation_error(unknown.value, "c.yaml", "simulation") == "c.yaml: simulation.bogus: unknown key"
