"""Where things are in a campaign: the stages in pipeline order (paper Figure 1) and the hand-off files.

Import-light on purpose (no seilab imports), so any layer can read it. A *hand-off* is a file one stage
writes for others to read (a later stage, the runner, the report): its producer and every consumer name
it here, through :class:`Layout` (``campaign.layout``), instead of building the path by hand. A stage's
own working files stay the stage's business, under ``layout.stage(name)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Stage names in pipeline order; each is also the name of its folder under the campaign output.
STAGE_ORDER: tuple[str, ...] = (
    "chemistry", "sampling", "labelling", "training", "validation", "learning",
    "simulation", "analysis", "transport", "report",
)

# hand-offs, relative to the campaign output (what the runner's stage table lists as outputs / inputs)
REACTION = "chemistry/reaction.json"        # hull, products, chemical potentials (chemistry)
PHASES = "chemistry/phases"                 # relaxed phases, one extxyz each (chemistry)
SAMPLING_MANIFEST = "sampling/manifest.json"  # every sampled file (sampling)
DATASET = "dataset"                         # the labelled dataset store (labelling; learning adds to it)
DATASET_STORE = "dataset/store.json"
DATASET_SUMMARY = "dataset/summary.json"
TRAINING = "training"                       # training/<generation>/ (training, learning)
VALIDATION = "validation"                   # validation/<generation>/report.json (validation, learning)
GATE = "validation/gate.json"               # every generation's verdict and the accepted potential
LEARNING_STATE = "learning/state.json"
LEARNING_SUMMARY = "learning/learning.json"   # the per-generation table (learning; report)
FIXED_TEST = "training/gen000/data/test.pckl.gzip"  # the held-out split every generation is scored on
SIMULATION_LATEST = "simulation/latest.json"  # the production run: its trajectory, status, potential
AUDIT = "simulation/audit.json"
ANALYSIS = "analysis/analysis.json"         # growth, layers, flux, thickness (analysis)
FLUXES = "transport/fluxes.json"            # Onsager fluxes and the comparison (transport)
TRANSPORT_SUMMARY = "transport/transport_summary.json"  # every phase/temperature run (transport; report)
REPORT_HTML = "report/index.html"
REPORT_SUMMARY = "report/summary.json"
MARKERS = ".seilab/stages"                  # the runner's record of each finished stage
PREVIOUS = ".seilab/previous"               # results moved aside by --force
LOGS = "logs"                               # everything verbose (seilab run)


@dataclass(frozen=True)
class Layout:
    """Absolute paths of one campaign's hand-offs (``Layout(campaign.output)``, or ``campaign.layout``)."""

    output: Path

    def path(self, relative: str) -> Path:
        return Path(self.output) / relative

    def stage(self, name: str) -> Path:
        """A stage's folder (``dataset`` too: the store is a folder of its own)."""
        return Path(self.output) / name

    reaction = property(lambda self: self.path(REACTION))
    phases = property(lambda self: self.path(PHASES))
    sampling_manifest = property(lambda self: self.path(SAMPLING_MANIFEST))
    dataset = property(lambda self: self.path(DATASET))
    dataset_summary = property(lambda self: self.path(DATASET_SUMMARY))
    gate = property(lambda self: self.path(GATE))
    learning_state = property(lambda self: self.path(LEARNING_STATE))
    learning_summary = property(lambda self: self.path(LEARNING_SUMMARY))
    fixed_test = property(lambda self: self.path(FIXED_TEST))
    simulation_latest = property(lambda self: self.path(SIMULATION_LATEST))
    audit = property(lambda self: self.path(AUDIT))
    analysis = property(lambda self: self.path(ANALYSIS))
    fluxes = property(lambda self: self.path(FLUXES))
    transport_summary = property(lambda self: self.path(TRANSPORT_SUMMARY))
    report_html = property(lambda self: self.path(REPORT_HTML))
    report_summary = property(lambda self: self.path(REPORT_SUMMARY))
    markers = property(lambda self: self.path(MARKERS))
    previous = property(lambda self: self.path(PREVIOUS))
    logs = property(lambda self: self.path(LOGS))

    def training_generation(self, generation: str) -> Path:
        return self.path(TRAINING) / generation

    def training_generations(self) -> list[Path]:
        """Every ``training/gen*`` folder, oldest first."""
        return sorted(self.path(TRAINING).glob("gen[0-9]*"))

    def training_split(self, generation: str, split: str) -> Path:
        """The ``train`` / ``test`` split a training generation was fitted / scored on (``FIXED_TEST`` is gen000's test)."""
        return self.training_generation(generation) / "data" / f"{split}.pckl.gzip"

    def validation_reports(self) -> list[Path]:
        """Every ``validation/gen*/report.json``, oldest first."""
        return sorted(self.path(VALIDATION).glob("gen[0-9]*/report.json"))

    def validation_report(self, generation: str) -> Path:
        return self.path(VALIDATION) / generation / "report.json"

    def marker(self, stage: str) -> Path:
        return self.markers / f"{stage}.json"
