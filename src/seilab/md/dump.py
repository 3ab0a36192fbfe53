"""LAMMPS text dumps: the one index and the one frame reader (both engines write them, every stage reads them).

A frame of a ``dump custom`` text file is a run of ``ITEM:`` header blocks followed by the atom rows::

    [ITEM: UNITS / 1 line]   only on the first frame a dump command writes (``dump_modify units yes``)
    [ITEM: TIME / 1 line]    ``dump_modify time yes``: LAMMPS writes it *before* ITEM: TIMESTEP
    ITEM: TIMESTEP / 1 line
    ITEM: NUMBER OF ATOMS / 1 line
    ITEM: BOX BOUNDS ... / 3 lines
    ITEM: ATOMS <columns> / one row per atom

A frame therefore begins at its *first* header line, which is ITEM: TIME (not ITEM: TIMESTEP) in
our dumps. Cutting a dump at the TIMESTEP line of a frame would leave that frame's TIME block
behind as a stray header glued to the next appended frame.

* :func:`scan_dump` walks the frames by their structure over the memory-mapped file: the few header
  lines of a frame are read one by one, its atom rows are skipped by counting newlines (C speed,
  nothing loops over atoms in Python), so indexing a dump costs about one pass over its bytes.
* :func:`dump_frame_index` / :func:`dump_frame_spans` / :func:`dump_steps` list the frames (with the
  partial last frame a killed writer leaves, when its timestep was written);
  :func:`truncate_dump` cuts a dump for a resume.
* :func:`read_dump_frame` parses one frame with numpy (``loadtxt`` of its atom block; elements from
  the ``element`` column, else the ``type`` column and ``specorder``): ASE ``Atoms`` as ASE's own
  ``lammps-dump-text`` reader returns them (cell from the box bounds, ``celldisp`` = the box origin,
  positions as written), every other column as a per-atom array (``f_pace_gamma`` ...), info
  ``timestep`` and ``time``.
* :func:`write_dump_frame` appends a frame in LAMMPS' own layout: the one writer (the ASE engine's
  dump, and :func:`seilab.analysis.trajectory.write_lammps_dump` for any column set).

Users: the engines (resume), the simulation stage's audit (:class:`seilab.simulation.audit.Trajectory`),
the harvest of the production run (:mod:`seilab.learning.harvest`), the LAMMPS exploration
(:mod:`seilab.learning.explore`) and the report's 3-D viewer (:mod:`seilab.report.viewer`).
"""

from __future__ import annotations

import io
import mmap
from pathlib import Path
from typing import Sequence

import numpy as np

from seilab.errors import SeilabError

_POSITION_COLUMNS = (("x", "y", "z"), ("xu", "yu", "zu"), ("xs", "ys", "zs"), ("xsu", "ysu", "zsu"))


# ----------------------------------------------------------------------------------------------- index
def _nth_line_end(mm, pos: int, n: int) -> int | None:
    """Offset just past the ``n``-th newline from ``pos`` (the end of ``n`` atom rows), or None when
    fewer than ``n`` complete lines follow. Atom rows never start with ``ITEM:``, so the rows of a
    frame end at the next ``ITEM:`` (or at the end of the file); counting the newlines before it is
    one C-level pass."""
    if n == 0:
        return pos
    nxt = mm.find(b"ITEM:", pos)
    stop = nxt if nxt >= 0 else len(mm)
    count = mm[pos:stop].count(b"\n")
    if count < n:
        return None
    if count == n:
        return mm.rfind(b"\n", pos, stop) + 1
    nl = np.flatnonzero(np.frombuffer(mm, dtype=np.uint8, count=stop - pos, offset=pos) == 10)
    return pos + int(nl[n - 1]) + 1


def scan_dump(path: Path) -> tuple[list[tuple[int, int]], int, int | None]:
    """Walk the frames of a text dump by their structure.

    Returns ``(frames, good_end, tail_step)``: ``frames`` is (timestep, byte offset of the frame's first
    header line) of each *complete* frame, ``good_end`` the byte offset just past the last complete
    frame (everything after it is a partial or malformed tail), and ``tail_step`` the timestep of
    that tail when it got as far as its ITEM: TIMESTEP value (else None). The walk stops at the first
    thing that is not a well-formed frame (end of file, a line without its newline, a missing header
    or value, too few atom rows): a writer killed in mid-frame can only leave that at the end.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        return [], 0, None
    frames: list[tuple[int, int]] = []
    good_end = 0
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        size = len(mm)
        pos = 0

        def line() -> bytes | None:
            """The next line, or None at the end of the file or on a line without its newline."""
            nonlocal pos
            if pos >= size:
                return None
            nl = mm.find(b"\n", pos)
            if nl < 0:
                pos = size
                return None
            s = mm[pos:nl + 1]
            pos = nl + 1
            return s

        while True:
            start, step, natoms = pos, None, None
            while True:  # header blocks of one frame, up to and including its atom rows
                head = line()
                if head is None or not head.startswith(b"ITEM:"):
                    return frames, good_end, step  # EOF, partial line or garbage: the tail
                item = head[5:].strip()
                if item.startswith(b"ATOMS"):
                    if step is None or natoms is None:
                        return frames, good_end, step
                    end = _nth_line_end(mm, pos, natoms)
                    if end is None:
                        return frames, good_end, step
                    pos = end
                    frames.append((step, start))
                    good_end = pos
                    break
                # BOX BOUNDS has 3 value lines; TIME, TIMESTEP, NUMBER OF ATOMS, UNITS have one
                n_values = 3 if item.startswith(b"BOX BOUNDS") else 1
                values = [line() for _ in range(n_values)]
                if None in values:
                    return frames, good_end, step
                try:
                    if item == b"TIMESTEP":
                        step = int(values[0].split()[0])
                    elif item == b"NUMBER OF ATOMS":
                        natoms = int(values[0].split()[0])
                except (ValueError, IndexError):
                    return frames, good_end, step


def dump_frame_index(path: Path) -> list[tuple[int, int]]:
    """(timestep, byte offset of its first header line) for each frame of a text dump.

    The offset is that of ``ITEM: TIME`` when the dump has times (LAMMPS writes it before
    ``ITEM: TIMESTEP``), so ``[offset_i, offset_i+1)`` is exactly frame ``i``. A partial last frame
    (a killed writer) is listed too when its timestep was written.
    """
    path = Path(path)
    if not path.is_file():
        return []
    frames, good_end, tail_step = scan_dump(path)
    if tail_step is not None:
        frames.append((tail_step, good_end))
    return frames


def dump_frame_spans(path: Path) -> list[tuple[int, int, int]]:
    """(start byte, end byte, timestep) of each frame of :func:`dump_frame_index`; a frame ends where the
    next one starts (the last at the end of the file)."""
    path = Path(path)
    index = dump_frame_index(path)
    if not index:
        return []
    size = path.stat().st_size
    ends = [off for _, off in index[1:]] + [size]
    return [(off, end, step) for (step, off), end in zip(index, ends)]


def dump_steps(path: Path) -> list[int]:
    return [s for s, _ in dump_frame_index(path)]


def truncate_dump(path: Path, first_step_to_drop: int) -> int:
    """Cut frames with timestep >= ``first_step_to_drop`` and any partial tail; returns frames kept.

    Each frame is cut at its first header line (``ITEM: TIME`` if present), so frames appended
    afterwards follow a well-formed file with no stray header of a dropped frame.
    """
    path = Path(path)
    if not path.is_file():
        return 0
    frames, cut, _ = scan_dump(path)  # cut: end of the last complete frame (drops a partial tail)
    keep = 0
    for step, off in frames:
        if step >= first_step_to_drop:
            cut = off
            break
        keep += 1
    if cut < path.stat().st_size:
        with open(path, "r+b") as fh:
            fh.truncate(cut)
    return keep


# ----------------------------------------------------------------------------------------------- reader
def _box(lines: list[str], header: str):
    """Cell (rows a, b, c), origin and pbc of ``ITEM: BOX BOUNDS`` (orthogonal or restricted triclinic)."""
    flags = header.split()[3:]
    if "abc" in flags:
        raise SeilabError("dump: general triclinic boxes (BOX BOUNDS abc origin) are not supported")
    tri = flags[:3] == ["xy", "xz", "yz"]
    bounds = np.array([[float(v) for v in ln.split()] for ln in lines], dtype=float)
    pbc = [f == "pp" for f in (flags[3:] if tri else flags)] or [True, True, True]
    if tri:
        (xlo_b, xhi_b, xy), (ylo_b, yhi_b, xz), (zlo, zhi, yz) = bounds[:, :3]
        xlo = xlo_b - min(0.0, xy, xz, xy + xz)
        xhi = xhi_b - max(0.0, xy, xz, xy + xz)
        ylo = ylo_b - min(0.0, yz)
        yhi = yhi_b - max(0.0, yz)
    else:
        (xlo, xhi), (ylo, yhi), (zlo, zhi) = bounds[:, :2]
        xy = xz = yz = 0.0
    cell = np.array([[xhi - xlo, 0.0, 0.0], [xy, yhi - ylo, 0.0], [xz, yz, zhi - zlo]])
    return cell, np.array([xlo, ylo, zlo]), pbc


def read_dump_frame(path: Path, span: tuple[int, int] | tuple[int, int, int] | None = None,
                    specorder: Sequence[str] | None = None):
    """One frame of a LAMMPS text dump as ASE ``Atoms`` (``span``: its (start, end[, step]) bytes from
    :func:`dump_frame_spans`; default: the whole file, i.e. its first frame).

    Elements come from the ``element`` column, else from ``type`` with ``specorder`` (element of type 1,
    2, ...). Atoms are in the file's order (our dumps are sorted by id). The cell is the box (rows a, b,
    c; ``celldisp`` its origin), positions are as written (``x y z``, ``xu yu zu``, or scaled ``xs ys zs``
    converted), every other numeric column is a per-atom array under its name, and info holds
    ``timestep`` and ``time`` (ps, when written). A partial or malformed frame raises :class:`SeilabError`.
    """
    from ase import Atoms

    path = Path(path)
    with open(path, "rb") as fh:
        if span is None:
            data = fh.read()
        else:
            fh.seek(span[0])
            data = fh.read(span[1] - span[0])
    pos, head = 0, {}
    natoms = cols = box_header = None
    box_lines: list[str] = []
    while True:  # headers: a handful of lines
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise SeilabError(f"{path}: partial dump frame at byte {span[0] if span else 0} (no ITEM: ATOMS)")
        ln = data[pos:nl].decode().strip()
        pos = nl + 1
        if not ln.startswith("ITEM:"):
            raise SeilabError(f"{path}: malformed dump frame at byte {span[0] if span else 0} ({ln[:40]!r})")
        item = ln[5:].strip()
        if item.startswith("ATOMS"):
            cols = item.split()[1:]
            break
        n_values = 3 if item.startswith("BOX BOUNDS") else 1
        values = []
        for _ in range(n_values):
            nl = data.find(b"\n", pos)
            if nl < 0:
                raise SeilabError(f"{path}: partial dump frame at byte {span[0] if span else 0}")
            values.append(data[pos:nl].decode())
            pos = nl + 1
        if item.startswith("BOX BOUNDS"):
            box_header, box_lines = ln, values
        else:
            head[item] = values[0].strip()
    try:
        natoms = int(head["NUMBER OF ATOMS"])
        step = int(head["TIMESTEP"])
    except (KeyError, ValueError):
        raise SeilabError(f"{path}: dump frame without TIMESTEP / NUMBER OF ATOMS") from None
    if box_header is None:
        raise SeilabError(f"{path}: dump frame at step {step} without BOX BOUNDS")
    body = np.frombuffer(data, dtype=np.uint8, offset=pos)
    newlines = np.flatnonzero(body == 10)
    if len(newlines) < natoms:
        raise SeilabError(f"{path}: dump frame at step {step}: {natoms} atom rows declared, {len(newlines)} complete")
    block = data[pos:pos + (int(newlines[natoms - 1]) + 1 if natoms else 0)]
    cell, origin, pbc = _box(box_lines, box_header)
    names = [c for c in cols if c != "element"]
    use = [cols.index(c) for c in names]
    if natoms:
        try:
            table = np.loadtxt(io.BytesIO(block), dtype=float, usecols=use, ndmin=2)
        except ValueError as exc:
            raise SeilabError(f"{path}: dump frame at step {step}: unreadable atom rows ({exc})") from None
        if table.shape != (natoms, len(use)):
            raise SeilabError(f"{path}: dump frame at step {step}: atom rows do not match the columns {cols}")
    else:
        table = np.zeros((0, len(use)))
    col = {c: table[:, k] for k, c in enumerate(names)}
    symbols = _symbols(block, cols, col, natoms, newlines, specorder, path, step)
    for trio in _POSITION_COLUMNS:
        if all(c in col for c in trio):
            positions = np.column_stack([col.pop(c) for c in trio])
            if trio[0].startswith("xs"):
                positions = positions @ cell + origin
            break
    else:
        raise SeilabError(f"{path}: dump frame at step {step} has no positions (x y z, xu yu zu or xs ys zs)")
    atoms = Atoms(symbols=symbols, positions=positions, cell=cell, pbc=pbc, celldisp=origin)
    for name, values in col.items():
        integer = name in ("id", "type", "ix", "iy", "iz")
        atoms.arrays[name] = values.astype(np.int64) if integer else values.copy()
    atoms.info["timestep"] = step
    if "TIME" in head:
        try:
            atoms.info["time"] = float(head["TIME"])
        except ValueError:
            pass
    return atoms


def _symbols(block: bytes, cols, col, natoms, newlines, specorder, path, step) -> list[str]:
    """Element of every atom: from the ``element`` column (read per type: one row of each type is parsed),
    else from ``type`` and ``specorder``."""
    if natoms == 0:
        return []
    types = col.get("type")
    if "element" in cols:
        k = cols.index("element")
        if types is None:  # no type column: parse the element column itself
            return np.loadtxt(io.BytesIO(block), dtype=str, usecols=[k], ndmin=1).tolist()
        t = types.astype(np.int64)
        uniq, first = np.unique(t, return_index=True)
        starts = np.concatenate([[0], newlines[:natoms - 1] + 1])
        table = {}
        for ty, row in zip(uniq, first):
            ln = block[starts[row]:int(newlines[row])].split()
            table[int(ty)] = ln[k].decode()
        names = np.array([table[int(u)] for u in uniq])
        return names[np.searchsorted(uniq, t)].tolist()
    if types is None:
        raise SeilabError(f"{path}: dump frame at step {step} has neither an element nor a type column")
    if not specorder:
        raise SeilabError(f"{path}: dump frame at step {step} has no element column; give the element of each "
                          "atom type (specorder)")
    t = types.astype(np.int64)
    if t.min() < 1 or t.max() > len(specorder):
        raise SeilabError(f"{path}: atom types {int(t.min())}..{int(t.max())} but {len(specorder)} elements "
                          f"{list(specorder)}")
    return np.asarray(list(specorder))[t - 1].tolist()


# ----------------------------------------------------------------------------------------------- writer
#: The engines' dump layout (LAMMPS ``dump custom ... id type element x y z ix iy iz``).
ENGINE_COLUMNS = ("id", "type", "element", "x", "y", "z", "ix", "iy", "iz")
WRITABLE_COLUMNS = ("id", "type", "element", "x", "y", "z", "xu", "yu", "zu", "xs", "ys", "zs", "ix", "iy", "iz")


def _lo(v: float) -> str:
    return "0.0" if v == 0 else f"{v:.10f}"


def write_dump_frame(fh, atoms, step: int, time_ps: float | None, elements: Sequence[str] | None, unwrapped=None,
                     extra: dict | None = None, *, columns: Sequence[str] = ENGINE_COLUMNS, origin=None,
                     ids=None) -> None:
    """Append one LAMMPS ``dump custom`` frame of ``atoms`` to the text stream ``fh``.

    The cell is written as LAMMPS' restricted triclinic box (rotated like ``ase.calculators.lammps.Prism``)
    with its lower corner at ``origin`` (default 0); ``unwrapped`` Cartesian positions (default:
    ``atoms.positions``) give the image flags along periodic axes (the wrapped ``x y z`` lie in the box).
    ``columns``: any of :data:`WRITABLE_COLUMNS` (``type`` needs ``elements``: type = index + 1); ``extra``
    adds named per-atom columns (``f_pace_gamma`` ...). ``ids`` default 1..N. ``time_ps`` None writes no
    ``ITEM: TIME`` block (LAMMPS without ``dump_modify time yes``).
    """
    from ase.calculators.lammps import Prism

    bad = [c for c in columns if c not in WRITABLE_COLUMNS]
    if bad:
        raise SeilabError(f"write_dump_frame: unsupported columns {bad} (writable: {' '.join(WRITABLE_COLUMNS)})")
    cell = atoms.cell.array
    pos = atoms.positions if unwrapped is None else np.asarray(unwrapped, dtype=float)
    xhi, yhi, zhi, xy, xz, yz = Prism(cell).get_lammps_prism()
    lcell = np.array([[xhi, 0, 0], [xy, yhi, 0], [xz, yz, zhi]])
    o = np.zeros(3) if origin is None else np.asarray(origin, dtype=float).reshape(3)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    frac = np.linalg.solve(cell.T, pos.T).T
    img = np.where(pbc[None, :], np.floor(frac + 1e-12), 0.0)
    scaled = frac - img
    syms = atoms.get_chemical_symbols()
    if "type" in columns:
        if elements is None:
            raise SeilabError("write_dump_frame: the 'type' column needs elements (type = index + 1)")
        types = {el: i + 1 for i, el in enumerate(elements)}
        missing = sorted(set(syms) - set(types))
        if missing:
            raise SeilabError(f"write_dump_frame: elements {list(elements)} lack {missing}")
    tri = any(abs(v) > 1e-10 for v in (xy, xz, yz))
    names = list(extra or {})
    # same header order as LAMMPS' ``dump_modify time yes``: ITEM: TIME comes before ITEM: TIMESTEP
    lines = [f"ITEM: TIME\n{time_ps:.10g}\n" if time_ps is not None else "",
             f"ITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n{len(atoms)}\n"]
    flags = " ".join("pp" if p else "ff" for p in pbc)
    if tri:
        xlo_b = o[0] + min(0.0, xy, xz, xy + xz)
        xhi_b = o[0] + xhi + max(0.0, xy, xz, xy + xz)
        ylo_b = o[1] + min(0.0, yz)
        yhi_b = o[1] + yhi + max(0.0, yz)
        lines.append(f"ITEM: BOX BOUNDS xy xz yz {flags}\n{xlo_b:.10f} {xhi_b:.10f} {xy:.10f}\n"
                     f"{ylo_b:.10f} {yhi_b:.10f} {xz:.10f}\n{_lo(o[2])} {o[2] + zhi:.10f} {yz:.10f}\n")
    else:
        lines.append(f"ITEM: BOX BOUNDS {flags}\n{_lo(o[0])} {o[0] + xhi:.10f}\n{_lo(o[1])} {o[1] + yhi:.10f}\n"
                     f"{_lo(o[2])} {o[2] + zhi:.10f}\n")
    lines.append("ITEM: ATOMS " + " ".join(columns) + "".join(" " + n for n in names) + "\n")
    wrapped = o + scaled @ lcell
    unwrapped_l = o + frac @ lcell
    ids = np.arange(1, len(atoms) + 1) if ids is None else np.asarray(ids, dtype=np.int64)
    per: list = []  # one formatted column (a list of strings) per dump column
    for c in columns:
        if c == "id":
            per.append([str(int(v)) for v in ids])
        elif c == "type":
            per.append([str(types[x]) for x in syms])
        elif c == "element":
            per.append(syms)
        elif c in ("x", "y", "z", "xu", "yu", "zu"):
            src = wrapped if len(c) == 1 else unwrapped_l
            per.append([f"{v:.8f}" for v in src[:, "xyz".index(c[0])]])
        elif c in ("xs", "ys", "zs"):
            per.append([f"{v:.8f}" for v in scaled[:, "xyz".index(c[0])]])
        else:  # ix iy iz
            per.append([str(int(v)) for v in img[:, "xyz".index(c[1])]])
    per += [[f"{float(v):.6g}" for v in extra[n]] for n in names]
    fh.write("".join(lines) + "".join(" ".join(row) + "\n" for row in zip(*per)))


__all__ = ["scan_dump", "dump_frame_index", "dump_frame_spans", "dump_steps", "truncate_dump", "read_dump_frame",
           "write_dump_frame", "ENGINE_COLUMNS", "WRITABLE_COLUMNS"]
