"""Every settings model of a campaign, in one import-light place (pydantic, no stage code).

One module per section of the campaign YAML, named like the stage it configures
(:mod:`.chemistry`, :mod:`.reference`, :mod:`.sampling`, :mod:`.training`, :mod:`.validation` (with the
gate), :mod:`.learning`, :mod:`.simulation`, :mod:`.analysis`, :mod:`.transport`, :mod:`.cluster`), and
:mod:`.md` (the one MD vocabulary every stage that runs MD embeds) and :mod:`.base` (the strict base class, the YAML
reader and the one pydantic error formatter). The campaign model that
holds them all is :class:`seilab.config.Campaign`.

Nothing here imports a stage, so reading and checking a campaign never loads TensorFlow, LAMMPS or
pymatgen, and a stage imports its own settings without pulling in the others (``.importlinter`` checks it).
"""

from seilab.settings.base import Settings, format_validation_error, read_yaml

__all__ = ["Settings", "format_validation_error", "read_yaml"]
