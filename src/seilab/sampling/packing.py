"""Random packing of atoms in a periodic cubic box with a minimum distance.

Two packers:

* ``packmol`` — what MPMorph uses (paper section 2.3). The PyPI ``packmol`` wheel (21.2.3 checked)
  ships a compiled Fortran binary with its own libgfortran, so it runs offline; single atoms are
  packed as one-atom "molecules" with packmol's ``pbc`` box so the tolerance holds across the
  periodic boundary.
* ``random`` — built-in random sequential insertion with minimum-image distances. It is kept
  because packmol is an optional dependency (and a compiled binary that may be missing on some
  platform); for single atoms at crystal-like densities (packing fraction of ``tolerance``-spheres
  ≈ 0.2–0.4) sequential insertion is as good as packmol's optimisation. When insertion jams, the
  tolerance is lowered in 5 % steps, never below ``floor_A``.

``auto`` tries packmol and falls back to ``random`` when the binary is absent or fails.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from seilab.errors import SeilabError
from seilab.geometry import min_distance


def packmol_binary() -> str | None:
    """Path of a packmol executable (the PyPI wheel's, else one on PATH), or None."""
    try:
        from packmol.cli import get_binary_path

        path = get_binary_path()
        if Path(path).is_file():
            return str(path)
    except Exception:  # not installed, or a wheel without its binary
        pass
    return shutil.which("packmol")


def _box_atoms(symbols, positions, box_A):
    from ase import Atoms

    atoms = Atoms(symbols, positions=positions, cell=[box_A] * 3, pbc=True)
    atoms.wrap()
    return atoms


def pack_packmol(counts: dict[str, int], box_A: float, tolerance_A: float, seed: int, timeout_s: float = 300):
    """Pack ``counts`` atoms in a cubic periodic box with packmol; returns ASE Atoms."""
    exe = packmol_binary()
    if exe is None:
        raise SeilabError("sampling.amorphous_packer: packmol not found (pip install packmol==21.2.3)")
    with tempfile.TemporaryDirectory(prefix="seilab-packmol-") as tmp:
        tmp = Path(tmp)
        lines = [f"tolerance {tolerance_A}", "filetype xyz", "output packed.xyz", f"seed {int(seed) % 2**31 + 1}",
                 f"pbc 0. 0. 0. {box_A:.6f} {box_A:.6f} {box_A:.6f}", "nloop 200"]
        for el, n in counts.items():
            (tmp / f"{el}.xyz").write_text(f"1\n{el}\n{el} 0.0 0.0 0.0\n")
            lines += [f"structure {el}.xyz", f"  number {n}", "end structure"]
        (tmp / "pack.inp").write_text("\n".join(lines) + "\n")
        try:
            with open(tmp / "pack.inp") as fin:
                proc = subprocess.run([exe], stdin=fin, cwd=tmp, capture_output=True, text=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SeilabError(f"packmol failed to run ({type(exc).__name__}: {exc})") from None
        out = tmp / "packed.xyz"
        if proc.returncode != 0 or not out.is_file() or "Success!" not in proc.stdout:
            tail = " ".join(proc.stdout.split()[-20:])
            raise SeilabError(f"packmol did not find a packing (exit {proc.returncode}): {tail}")
        from ase.io import read

        packed = read(out, format="xyz")
    return _box_atoms(packed.get_chemical_symbols(), packed.positions, box_A)


def pack_random(counts: dict[str, int], box_A: float, tolerance_A: float, seed: int, floor_A: float,
                attempts_per_atom: int = 2000):
    """Random sequential insertion with minimum-image distances >= tolerance (lowered if jammed)."""
    rng = np.random.default_rng(seed)
    symbols = [el for el, n in counts.items() for _ in range(n)]
    rng.shuffle(symbols)
    pos = np.empty((len(symbols), 3))
    tol = tolerance_A
    placed = 0
    while placed < len(symbols):
        for _ in range(attempts_per_atom):
            trial = rng.random(3) * box_A
            if placed == 0:
                break
            d = pos[:placed] - trial
            d -= box_A * np.round(d / box_A)
            if np.einsum("ij,ij->i", d, d).min() >= tol * tol:
                break
        else:
            tol *= 0.95
            if tol < floor_A:
                raise SeilabError(f"random packing jammed: cannot place {len(symbols)} atoms in a {box_A:.2f} Å box "
                                  f"with atoms >= {floor_A} Å apart")
            continue
        pos[placed] = trial
        placed += 1
    atoms = _box_atoms(symbols, pos, box_A)
    atoms.info["pack_tolerance_A"] = float(tol)
    return atoms


def pack(counts: dict[str, int], box_A: float, tolerance_A: float, seed: int, floor_A: float,
         packer: str = "auto") -> tuple[object, str]:
    """Packed Atoms and the name of the packer that made them (see the module docstring)."""
    if packer in ("auto", "packmol"):
        try:
            atoms = pack_packmol(counts, box_A, tolerance_A, seed)
            # packmol's tolerance is a target of its optimiser: check the result.
            if min_distance(atoms) >= floor_A:
                return atoms, "packmol"
            if packer == "packmol":
                raise SeilabError(f"packmol packing has atoms closer than {floor_A} Å")
        except SeilabError:
            if packer == "packmol":
                raise
    return pack_random(counts, box_A, tolerance_A, seed, floor_A), "random"
