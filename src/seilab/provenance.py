"""Files with provenance: how stages hand results to each other.

Every artefact a stage writes is either

* an **extxyz** file ``name.extxyz`` with a JSON sidecar ``name.extxyz.json``, or
* a **JSON** result file whose top-level ``"provenance"`` key holds the same record.

The provenance record says which stage wrote it, with which settings, from which inputs (with
SHA-256 hashes), with which package versions and when. Writes are atomic (temporary file +
rename) so a killed stage never leaves a half-written artefact behind, and secrets (anything
that looks like an API key) are never written.

**Paths inside a campaign are stored relative to it**, so a moved or copied campaign folder works
where it lies. :func:`write_json` stores every absolute path that lies inside the campaign folder
(the nearest folder above the file that holds ``.seilab/``) relative to that folder and lists where
it did so (``relative_paths``: how many folders up the campaign is, and the JSON pointers);
:func:`read_json` turns them back into absolute paths under wherever the file is now. Paths outside
the campaign (the LAMMPS binary, a user's CIF folder) stay absolute.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Sequence

from seilab.errors import SeilabError

#: Packages whose versions are recorded when installed.
TRACKED_PACKAGES = (
    "seilab", "ase", "numpy", "scipy", "pymatgen", "chgnet", "torch", "python-ace",
    "tensorpotential", "tensorflow", "pyxtal", "mp-api", "jobflow",
)

_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password)", re.IGNORECASE)


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str]:
    """Versions of the installed packages among ``names`` (missing ones are left out)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    out["python"] = platform.python_version()
    return out


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def scrub(obj: Any) -> Any:
    """Return a copy of ``obj`` with every value under a secret-looking key replaced by '***'.

    Also replaces the literal value of ``$MP_API_KEY`` wherever it appears in strings.
    """
    key = os.environ.get("MP_API_KEY")
    if isinstance(obj, dict):
        return {k: ("***" if _SECRET_KEY.search(str(k)) else scrub(v)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub(v) for v in obj]
    if isinstance(obj, str) and key and key in obj:
        return obj.replace(key, "***")
    return obj


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and obj != obj:  # NaN is not JSON
        return None
    return obj


def record(stage: str, inputs: Sequence[str | os.PathLike] = (), settings: dict | None = None,
           **extra: Any) -> dict:
    """A provenance record: stage, settings, input files with hashes, versions, time."""
    ins = []
    for p in inputs:
        p = Path(p)
        ins.append({"path": str(p), "sha256": sha256_file(p) if p.is_file() else None})
    rec = {
        "stage": stage,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "inputs": ins,
        "settings": settings or {},
        "versions": package_versions(),
        "host": platform.node(),
    }
    rec.update(extra)
    return scrub(_jsonable(rec))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


CAMPAIGN_MARK = ".seilab"  # the folder that makes its parent a campaign folder
RELATIVE = "_relative_paths"  # where write_json lists the values it stored relative to the campaign


def campaign_root(path: str | os.PathLike) -> Path | None:
    """The campaign folder a file lies in: the nearest folder above it that holds ``.seilab/``."""
    here = Path(os.path.abspath(path)).parent
    for d in (here, *here.parents):
        if (d / CAMPAIGN_MARK).is_dir():
            return d
    return None


def _relativize(obj: Any, root: str, where: list, found: list) -> Any:
    if isinstance(obj, dict):
        return {k: _relativize(v, root, where + [k], found) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_relativize(v, root, where + [i], found) for i, v in enumerate(obj)]
    if isinstance(obj, str) and obj.startswith(root) and os.path.isabs(obj):
        rest = obj[len(root):]
        if rest == "" or rest.startswith(os.sep):
            found.append(where)
            return rest.lstrip(os.sep) or "."
    return obj


def _absolutize(obj: Any, pointer: list, root: Path) -> None:
    for key in pointer[:-1]:
        obj = obj[key]
    obj[pointer[-1]] = os.path.normpath(root / obj[pointer[-1]])


def write_json(path: str | os.PathLike, data: dict, provenance: dict | None = None) -> Path:
    """Write a JSON result (atomically); ``provenance`` goes under the ``"provenance"`` key. Absolute
    paths inside the campaign folder are stored relative to it (see the module docstring)."""
    payload = dict(_jsonable(scrub(data)))
    if provenance is not None:
        payload["provenance"] = provenance
    payload.pop(RELATIVE, None)
    root = campaign_root(path)
    if root is not None:
        found: list = []
        payload = _relativize(payload, str(root), [], found)
        if found:
            up = len(Path(os.path.abspath(path)).parent.relative_to(root).parts)
            payload[RELATIVE] = {"campaign_folders_up": up, "pointers": found}
    return atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    """Read a JSON result (one-line errors); paths stored relative to the campaign come back absolute,
    under the folder the file lies in now."""
    path = Path(path)
    if not path.is_file():
        raise SeilabError(f"{path}: file not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SeilabError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    rel = data.pop(RELATIVE, None) if isinstance(data, dict) else None
    if rel:
        root = Path(os.path.abspath(path)).parent
        for _ in range(int(rel.get("campaign_folders_up", 0))):
            root = root.parent
        for pointer in rel.get("pointers") or []:
            try:
                _absolutize(data, pointer, root)
            except (KeyError, IndexError, TypeError):
                continue  # edited by hand: leave that value as it is
    return data


def load_json(path: str | os.PathLike) -> Any | None:
    """:func:`read_json`, or None when the file is missing or unreadable (a resume cache not there yet)."""
    try:
        return read_json(path)
    except (SeilabError, OSError):
        return None


def digest(parts: Any, length: int | None = None) -> str:
    """The resume key of a stage step: SHA-256 hex of ``parts`` as sorted-key JSON (values JSON cannot
    write are written as ``str``), cut to ``length`` characters. The stages' resume keys of settings and parts
    are built here (the few that hash a file's bytes or a prepared string, e.g. chemistry's phase key and the
    dataset store's reference key, hash those themselves)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def record_for(path: str | os.PathLike, key: str) -> dict | None:
    """The JSON record at ``path`` if it was written for ``key`` (its ``"key"`` field), else None (also when the
    file is missing or unreadable): the check a resumable step makes before it skips its work."""
    rec = load_json(path)
    return rec if isinstance(rec, dict) and rec.get("key") == key else None


def sidecar_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".json")


def write_extxyz(path: str | os.PathLike, frames, provenance: dict) -> Path:
    """Write frames to extxyz atomically and the provenance record beside it (``<name>.json``)."""
    from ase.io import write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = list(frames)  # a generator is consumed once
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp, frames, format="extxyz")
    os.replace(tmp, path)
    prov = dict(provenance)
    prov["sha256"] = sha256_file(path)
    prov["n_frames"] = len(frames)
    write_json(sidecar_path(path), prov)
    return path


def read_extxyz(path: str | os.PathLike, index: str | int = ":"):
    """Read frames from an extxyz file, with a one-line error naming the file when it is bad."""
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise SeilabError(f"{path}: file not found")
    try:
        return read(path, index=index, format="extxyz")
    except Exception as exc:  # ASE raises many types for malformed files
        raise SeilabError(f"{path}: not a readable extxyz file ({type(exc).__name__}: {exc})") from None


def is_valid_artifact(path: str | os.PathLike) -> bool:
    """True when ``path`` exists and (for extxyz) its sidecar's hash matches the file."""
    path = Path(path)
    if not path.is_file():
        return False
    side = sidecar_path(path)
    if path.suffix == ".extxyz":
        if not side.is_file():
            return False
        try:
            return json.loads(side.read_text()).get("sha256") == sha256_file(path)
        except (OSError, json.JSONDecodeError):
            return False
    return True
