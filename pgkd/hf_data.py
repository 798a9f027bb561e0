"""Labelled rows from Hugging Face ``datasets``: a hub reference, a ``save_to_disk`` folder, or a
``Dataset`` / ``DatasetDict`` in memory.

The library is optional (``pip install 'pgkd[datasets]'``) and imported only here. Loading goes
through ``datasets`` itself, so its offline mode (``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE``)
and its cache (``HF_HOME`` / ``HF_DATASETS_CACHE``) apply unchanged. A ``ClassLabel`` column is
read as its label names, not the integers it stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from pgkd.errors import DataError

INSTALL = "pip install 'pgkd[datasets]'"
#: Files ``save_to_disk`` writes: a DatasetDict's index, or a single Dataset's state.
DICT_MARKER = "dataset_dict.json"
DATASET_MARKER = "state.json"


def require_datasets(where: str) -> ModuleType:
    try:
        import datasets
    except ImportError:
        raise DataError(f"{where}: reading it needs the datasets library; {INSTALL}") from None
    module: ModuleType = datasets
    return module


def parse_hub_ref(ref: str) -> tuple[str, str | None, str | None]:
    """``"hf:NAME[:CONFIG][@SPLIT]"`` -> (NAME, CONFIG or None, SPLIT or None)."""
    body = ref.split(":", 1)[1]
    body, mark, split = body.rpartition("@") if "@" in body else (body, "", "")
    name, _, config = body.partition(":")
    return name.strip(), (config.strip() or None), (split.strip() or None) if mark else None


def load_hub(ref: str, split: str) -> tuple[Any, str]:
    """(the ``datasets.Dataset``, a name for messages) of the hub reference ``ref``; its split
    ``@SPLIT``, else ``split`` (the ``[data]`` key)."""
    datasets = require_datasets(ref)
    name, config, chosen = parse_hub_ref(ref)
    wanted = chosen or split
    where = ref if chosen else f"{ref} (split {wanted})"
    try:
        dataset = datasets.load_dataset(name, config, split=wanted)
    except ValueError as exc:
        if "split" in str(exc).lower():
            raise DataError(
                f"{where}: {_first_line(exc)}; name the split with {ref.split('@')[0]}@SPLIT"
            ) from None
        raise DataError(
            f"{where}: the datasets library could not load it ({_first_line(exc)})"
        ) from None
    except Exception as exc:  # the library raises many types (network, cache, builder errors)
        raise DataError(f"{where}: {_cannot_load(datasets, exc)}") from None
    return dataset, where


def _cannot_load(datasets: ModuleType, exc: Exception) -> str:
    problem = f"the datasets library could not load it ({type(exc).__name__}: {_first_line(exc)})"
    if getattr(datasets.config, "HF_HUB_OFFLINE", False):
        return (
            f"{problem}; offline mode is on (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE, which the "
            "pgkd command sets unless you do): load it once online into the datasets cache "
            "(HF_HUB_OFFLINE=0), or point at a folder saved with save_to_disk"
        )
    return f"{problem}; check the name and config, or point at a folder saved with save_to_disk"


def is_saved_dataset(folder: Path) -> bool:
    return (folder / DICT_MARKER).is_file() or (folder / DATASET_MARKER).is_file()


def load_disk(folder: Path, split: str, *, named: bool) -> tuple[Any, str]:
    """(the ``datasets.Dataset``, a name for messages) saved in ``folder`` by ``save_to_disk``;
    of a ``DatasetDict``, its split ``split`` (``named`` when the user wrote ``FOLDER@SPLIT``)."""
    if not is_saved_dataset(folder):
        raise DataError(
            f"{folder}: is a folder, not one saved with datasets' save_to_disk (no {DICT_MARKER} "
            f"or {DATASET_MARKER}); point at a data file or such a folder"
        )
    datasets = require_datasets(str(folder))
    try:
        loaded = datasets.load_from_disk(str(folder))
    except Exception as exc:  # arrow, json and file errors of a damaged folder
        raise DataError(
            f"{folder}: cannot read the saved data set ({_first_line(exc)}); save it again"
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        where = f"{folder}@{split}" if named else f"{folder} (split {split})"
        fix = f"name one with {folder}@SPLIT"
        return pick_split(loaded, split, where=str(folder), fix=fix), where
    if named:
        raise DataError(
            f"{folder}@{split}: the folder holds one Dataset, not splits; drop @{split}"
        )
    return loaded, str(folder)


def pick_split(value: Any, split: str, *, where: str, fix: str) -> Any:
    """``value`` itself, or its split ``split`` when it is a ``DatasetDict``; a missing split is
    a DataError naming the splits there are and ``fix``."""
    import datasets

    if not isinstance(value, datasets.DatasetDict):
        return value
    if split not in value:
        found = ", ".join(value) or "none"
        raise DataError(f"{where}: no split {split!r} (splits: {found}); {fix}")
    return value[split]


def dataset_records(dataset: Any) -> Iterator[dict[str, Any]]:
    """The rows of a ``datasets.Dataset`` as dicts, ``ClassLabel`` columns as label names."""
    import datasets

    named = {
        column: feature
        for column, feature in (getattr(dataset, "features", None) or {}).items()
        if isinstance(feature, datasets.ClassLabel)
    }
    for row in dataset:
        record = dict(row)
        for column, feature in named.items():
            value = record.get(column)
            if isinstance(value, int) and 0 <= value < feature.num_classes:
                record[column] = feature.int2str(value)
        yield record


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].rstrip(".") if text else type(exc).__name__
