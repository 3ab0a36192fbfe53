"""The campaign report: one self-contained HTML page and a ``summary.json``.

The report reads only what the stages wrote (figures and JSON under ``<output>/<stage>/``); a stage
that has not run is listed as such. Figures are embedded as data URIs, so ``index.html`` can be mailed
or archived on its own.
"""

from seilab.report.build import build_report, collect_summary

__all__ = ["build_report", "collect_summary"]
