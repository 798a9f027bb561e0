"""A run's config from Python: a TOML file's path, a dict shaped like the TOML, a
:class:`~pgkd.config.Config`, or nothing, with keyword settings on top. Whatever the form, it is
validated by the same :class:`~pgkd.config.Config` model as a config file, with the same
one-line errors.

Keyword settings:

- ``train=``, ``validation=``, ``test=`` and the other ``[data]`` keys (``text_field=``,
  ``limit=``, ...): the data, of any kind :mod:`pgkd.sources` reads (a path, ``"hf:NAME"``, a
  DataFrame, a list of dicts, a ``datasets`` data set);
- ``data=``: a ``DatasetDict`` (its ``train``, ``validation`` and ``test`` splits, those it
  has), or a dict of ``[data]`` keys;
- a section as a dict: ``task=``, ``teacher=``, ``student=``, ``kd=``, ``plugins=`` (merged into
  what ``config`` holds, key by key);
- a string for the section's main key: ``teacher="openai:gpt-4o-mini"`` (its model),
  ``student="transformer"`` (its kind), ``task="ner"`` (its name).

Relative data paths given in Python resolve against the working directory; those in a TOML file
against the file's folder, as on the command line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pgkd.config import Config, DataConfig, config_from_mapping, read_config_file, resolve_paths
from pgkd.errors import ConfigError

#: What ``config`` may be.
ConfigInput = Config | str | os.PathLike[str] | Mapping[str, Any] | None
SECTIONS = ("task", "data", "teacher", "student", "kd", "plugins")
#: A string given for one of these sections sets this key of it.
MAIN_KEYS = {"task": "name", "teacher": "model", "student": "kind"}
SPLITS = ("train", "validation", "test")


def build_config(config: ConfigInput, settings: Mapping[str, Any], *, caller: str) -> Config:
    """``config`` with ``settings`` on top, validated; errors start with ``caller`` (or the
    TOML file's path)."""
    if isinstance(config, Config) and not settings:
        return config
    raw, source = _starting_point(config, caller)
    for key, value in settings.items():
        _apply(raw, key, value, caller)
    resolve_paths(raw, Path.cwd())
    return config_from_mapping(raw, source=source)


def _starting_point(config: ConfigInput, caller: str) -> tuple[dict[str, Any], str]:
    if config is None:
        return {}, caller
    if isinstance(config, Config):
        # Only what was given: keys left to defaults or filled by a preset stay open, so a
        # preset given on top (kd={"preset": "paper"}) fills them.
        return config.explicit_settings(), caller
    if isinstance(config, str | os.PathLike):
        return read_config_file(Path(config)), str(config)
    if isinstance(config, Mapping):
        raw: dict[str, Any] = {}
        for key, value in config.items():
            _apply(raw, str(key), value, caller)
        return raw, caller
    raise ConfigError(
        f"{caller}: config must be a TOML file's path, a dict or a pgkd.Config, not "
        f"{type(config).__name__}; or leave it out and pass keyword settings"
    )


def _apply(raw: dict[str, Any], key: str, value: Any, caller: str) -> None:
    """Put one setting into ``raw``."""
    if key == "data":
        _merge(raw.setdefault("data", {}), _data_section(value, caller))
    elif key in DataConfig.model_fields:
        raw.setdefault("data", {})[key] = value
    elif key in MAIN_KEYS and isinstance(value, str):
        _merge(raw.setdefault(key, {}), {MAIN_KEYS[key]: value})
    elif key in SECTIONS and isinstance(value, Mapping):
        _merge(raw.setdefault(key, {}), value)
    elif key in SECTIONS:
        shape = f"a string (its {MAIN_KEYS[key]}) or a dict" if key in MAIN_KEYS else "a dict"
        raise ConfigError(
            f"{caller}: {key}= takes {shape}, not {type(value).__name__}; e.g. {_example(key)}"
        )
    else:
        raise ConfigError(
            f"{caller}: unknown setting {key!r}; use train=, validation=, test= (and the other "
            f"[data] keys), data=, or a section: {', '.join(SECTIONS[:1] + SECTIONS[2:])} "
            "(e.g. kd={'steps': 3})"
        )


def _data_section(value: Any, caller: str) -> Mapping[str, Any]:
    if _is_dataset_dict(value):
        return {split: value for split in SPLITS if split in value}
    if isinstance(value, Mapping):
        return value
    raise ConfigError(
        f"{caller}: data= takes a datasets.DatasetDict or a dict of [data] keys, not "
        f"{type(value).__name__}; pass one split's rows as train="
    )


def _is_dataset_dict(value: Any) -> bool:
    datasets = sys.modules.get("datasets")
    return datasets is not None and isinstance(value, datasets.DatasetDict)


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """Set ``patch``'s keys in ``target``; plain dicts in both (e.g. ``options``) merge key by
    key, anything else (a DataFrame, a DatasetDict) replaces."""
    for key, value in patch.items():
        current = target.get(key)
        if type(value) is dict and type(current) is dict:
            merged = dict(current)
            _merge(merged, value)
            target[key] = merged
        else:
            target[key] = value


def _example(key: str) -> str:
    examples = {
        "task": "task='classification'",
        "teacher": "teacher='openai:gpt-4o-mini' or teacher={'model': ..., 'concurrency': 8}",
        "student": "student='transformer' or student={'kind': 'frozen', 'max_length': 128}",
        "kd": "kd={'steps': 3, 'batch_size': 16}",
        "plugins": "plugins={'disable': ['hard_negatives']}",
    }
    return examples.get(key, f"{key}={{...}}")
