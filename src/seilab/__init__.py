"""seilab: simulate how a metal / solid-electrolyte interface turns into an interphase (SEI).

Stages (one subpackage each, in pipeline order): chemistry, sampling, reference, training,
validation, learning, simulation, analysis, report; plus workflows, cli and config.
Stages exchange files with provenance (extxyz + JSON sidecar, see :mod:`seilab.provenance`).
"""

__version__ = "0.1.0"
