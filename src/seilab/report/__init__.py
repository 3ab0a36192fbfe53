"""The campaign report: one self-contained HTML page and a ``summary.json``.

The report reads only what the stages wrote (figures and JSON under ``<output>/<stage>/``); a stage
that has not run is listed as such. Figures are embedded as data URIs and the 3-D viewer
(3Dmol.js, ``vendor/``) is inlined, so ``index.html`` can be mailed or archived on its own and opened
without network. The page opens with a verdict panel (``build._verdict``); the paper's figures carry
captions (``captions.FIGURES``) and a figure that is missing is listed with the reason.
"""

from seilab.report.build import build_report, collect_summary, run_report

__all__ = ["build_report", "collect_summary", "run_report"]
