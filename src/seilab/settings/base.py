"""Base class for every settings model (the campaign YAML is made of these), and the YAML reader."""

from operator import attrgetter
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from seilab.errors import SeilabError


class Settings(BaseModel):
    """Strict settings: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def settings_values(settings: BaseModel, keys) -> dict:
    """``{key: value}`` of ``settings`` for dotted keys (``md.timestep_fs`` reads ``settings.md.timestep_fs``):
    what a stage's fingerprints and provenance record of the settings an output depends on."""
    return {k: attrgetter(k)(settings) for k in keys}


def distinct_names(v):
    """Validator body for an optional list of phase names: non-empty and without repeats."""
    if v is not None and (not v or len(set(v)) != len(v)):
        raise ValueError("give a non-empty list of distinct phase names (or leave it out)")
    return v


def distinct_temperatures(v):
    """Validator body for a list of MD temperatures (K): each in (0, 10000), no repeats; as floats."""
    if any(not (0 < t < 1e4) for t in v):
        raise ValueError(f"temperatures must be in (0, 10000) K, got {v}")
    if len(set(v)) != len(v):
        raise ValueError("repeated temperature")
    return [float(t) for t in v]


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (PyYAML keeps the last one silently,
    so a second ``sampling:`` section would drop the first without a word)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: let PyYAML report it
                continue
            if first is not None:
                raise _DuplicateKey(key, first + 1, key_node.start_mark.line + 1)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, key, first_line: int, second_line: int):
        super().__init__(key)
        self.key, self.first_line, self.second_line = key, first_line, second_line


def read_yaml(path: Path):
    """Parse a YAML file like ``yaml.safe_load``, but refuse duplicate keys; errors are one line."""
    try:
        return yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except _DuplicateKey as exc:
        raise SeilabError(f"{path}: key {exc.key!r} appears twice (lines {exc.first_line} and "
                          f"{exc.second_line}); keep one") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SeilabError(f"{path}: not valid YAML{where}") from None


def format_validation_error(exc, source: str = "", section: str = "") -> str:
    """A pydantic ``ValidationError`` as the one line every seilab settings error is:
    ``<source>: <section>.<field>: <message>`` (+N more), the parts that are empty left out.

    ``source`` names the file or option the values came from, ``section`` the settings section
    (``simulation``). An unknown key says "unknown key"; a whole-model check (no field) gives its own
    message, which names the fields itself.
    """
    errors = exc.errors()
    err = errors[0]
    loc = ".".join(str(x) for x in err["loc"])
    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    field = ".".join(p for p in (section, loc) if p)
    return ": ".join([p for p in (source, field) if p] + [msg + more])
