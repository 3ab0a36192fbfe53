"""The shipped campaign files: all load (the paper-scale one with the paper's values), and the second chemistry (Na / Na3PS4, no Na phase in the
bundled library) runs its chemistry stage through the same code as the worked example."""

import json
from pathlib import Path

import pytest

from seilab.config import load_config
from seilab.workflows import stages as st

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name, elements", [("li-li7p3s11.yaml", ["Li", "P", "S"]),
                                            ("li-li7p3s11-paper.yaml", ["Li", "P", "S"]),
                                            ("na-na3ps4.yaml", ["Na", "P", "S"])])
def test_examples_load(name, elements):
    c = load_config(EXAMPLES / name)
    assert c.elements == elements
    assert c.refit_training() is not None


def test_paper_scale_campaign_loads(tmp_path):
    """examples/li-li7p3s11-paper.yaml: the paper's values (3 generations, > 100,000-atom interfaces explored in
    LAMMPS, 350 functions per element at 6 Å, 500,000-atom 10 ns production), and cluster resources that agree
    with the MPI ranks the stages start."""
    from seilab.errors import SeilabError
    from seilab.workflows.flows import stage_resources

    c = load_config(EXAMPLES / "li-li7p3s11-paper.yaml")
    assert c.elements == ["Li", "P", "S"] and c.reference.name in ("espresso", "gpaw", "vasp")
    assert c.learning.max_generations == 3 and c.learning.gamma_window == (1.0, 2.5)
    assert c.learning.engine == "lammps" and c.learning.interface_atoms >= 100_000
    assert c.learning.subcell_atoms == 100 and c.learning.subcell_vacuum_A == 0.5
    assert c.training.backend == "pacemaker" and c.training.functions_per_element == 350 and c.training.cutoff_A == 6.0
    assert c.sampling.md.temperatures_K == [300.0, 900.0, 1500.0] and c.sampling.md.sample_every == 50
    assert c.simulation.n_atoms == 500_000 and c.simulation.steps == 10_000_000
    assert c.transport.md.temperatures_K == [900.0, 1200.0]
    assert stage_resources(c, "learning")["mpi_ranks"] == c.learning.mpi_ranks == 64
    assert stage_resources(c, "simulation")["mpi_ranks"] == c.simulation.mpi_ranks
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "li-li7p3s11-paper.yaml").read_text().replace(
        "learning: {mpi_ranks: 64,", "learning: {mpi_ranks: 32,"))
    with pytest.raises(SeilabError, match=r"cluster.stages.learning.mpi_ranks: 32 differs from learning.mpi_ranks \(64\)"):
        stage_resources(load_config(bad, overrides={"output": str(tmp_path / "o")}), "learning")


@pytest.mark.slow
def test_second_chemistry_runs_without_li(tmp_path):
    c = load_config(EXAMPLES / "na-na3ps4.yaml", overrides={"output": str(tmp_path / "na")})
    rec = st.run_campaign(c, until="chemistry")[-1]
    assert rec["stage"] == "chemistry" and not rec["skipped"]
    # Na + Na3PS4 -> Na2S + Na3P at the Na-rich end, the analogue of Li2S + Li3P
    assert sorted(rec["summary"]["anode_rich_products"]) == ["Na2S", "Na3P"]
    reaction = json.loads((c.output / "chemistry" / "reaction.json").read_text())
    origin = {row["phase"]: row["origin"] for row in reaction["hull"]}
    assert {p for p, o in origin.items() if o == "predicted"} == {"Na_bcc", "Na2S", "Na3P", "Na3PS4"}
    assert "Li" not in json.dumps(reaction["hull"])
