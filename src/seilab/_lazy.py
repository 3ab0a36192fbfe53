"""Lazy package exports: ``from seilab.training import run_training`` without importing TensorFlow,
LAMMPS or numpy-heavy modules until a name is used."""

from __future__ import annotations

import importlib


def lazy_getattr(package: str, exports: dict[str, str], namespace: dict, prefix: str = ""):
    """A module ``__getattr__`` that imports ``exports[name]`` (``prefix`` + module path) on first use
    and caches the value in the package's ``namespace``."""

    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(prefix + module), name)
        namespace[name] = value
        return value

    return __getattr__
