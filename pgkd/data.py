"""Reading labelled data (files, Hugging Face data sets, rows in memory) and splitting it, with
one-line errors that name the file, the line or row, and the fix."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgkd.errors import DataError
from pgkd.sources import HUB_PREFIX, DataSource, describe, open_source
from pgkd.tasks.base import Task
from pgkd.types import Sample


@dataclass(frozen=True, slots=True)
class Splits:
    train: list[Sample]
    validation: list[Sample]
    test: list[Sample]
    loop_test: list[Sample]
    labels: tuple[str, ...]


def iter_records(
    path: Path, *, csv_delimiter: str | None = None
) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(line number, record) pairs of a data file; the line number is 1-based (the header is
    line 1 in CSV). An empty file is an error here: labelled data must hold samples."""
    yield from open_source(Path(path), "train", csv_delimiter=csv_delimiter).records


def load_samples(
    source: DataSource,
    task: Task,
    *,
    text_field: str = "text",
    label_field: str = "label",
    csv_delimiter: str | None = None,
    split: str = "train",
) -> list[Sample]:
    """Every record of ``source`` (a file path, a hub reference, a ``save_to_disk`` folder or
    in-memory :class:`~pgkd.sources.Rows`; see :mod:`pgkd.sources`) as a sample of ``task``;
    the first bad record is a DataError naming its line or row. ``split`` picks the split of a
    source that holds several."""
    if isinstance(source, str) and not source.startswith(HUB_PREFIX):
        source = Path(source)
    opened = open_source(source, split, csv_delimiter=csv_delimiter)
    samples: list[Sample] = []
    for number, record in opened.records:
        renamed = _rename_fields(record, text_field, label_field)
        try:
            samples.append(task.parse_record(renamed, origin="seed", step=0))
        except ValueError as exc:
            raise DataError(f"{opened.locate(number)}: {exc}") from None
    if not samples:
        raise DataError(
            f"{opened.where}: no samples found; it needs one labelled sample per line or row"
        )
    return samples


def _rename_fields(record: Mapping[str, Any], text_field: str, label_field: str) -> dict[str, Any]:
    out = dict(record)
    if text_field != "text" and text_field in out:
        out["text"] = out.pop(text_field)
    if label_field != "label" and label_field in out:
        out["label"] = out.pop(label_field)
    return out


def stratified_split(
    samples: Sequence[Sample], fraction: float, task: Task, seed: int
) -> tuple[list[Sample], list[Sample]]:
    """Split off ``fraction`` of ``samples`` per stratum (at least one per stratum of two or
    more), seeded; returns (rest, held_out)."""
    rng = random.Random(seed)
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[task.stratum(sample)].append(sample)
    rest: list[Sample] = []
    held: list[Sample] = []
    for key in sorted(groups):
        group = groups[key][:]
        rng.shuffle(group)
        take = round(len(group) * fraction)
        take = min(max(take, 1), len(group) - 1) if len(group) >= 2 else 0
        held.extend(group[:take])
        rest.extend(group[take:])
    rng.shuffle(rest)
    rng.shuffle(held)
    return rest, held


def stratified_sample(
    samples: Sequence[Sample], size: int, task: Task, seed: int
) -> tuple[list[Sample], list[Sample]]:
    """Draw exactly ``size`` of ``samples``, seeded; returns (drawn, rest), each shuffled
    (all of ``samples`` in their order, and no rest, when ``size`` is not smaller).

    Each stratum gets its share ``size * len(stratum) / len(samples)`` rounded by largest
    remainder, and at least one row, so the draw keeps every stratum; ties go to a seeded
    order. ``size`` below the number of strata cannot keep them all and is a ValueError.
    """
    if size >= len(samples):
        return list(samples), []
    rng = random.Random(seed)
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[task.stratum(sample)].append(sample)
    keys = sorted(groups)
    if size < len(keys):
        raise ValueError(
            f"{size} rows cannot keep all {len(keys)} classes (one row each); "
            f"draw at least {len(keys)}"
        )
    counts = [len(groups[key]) for key in keys]
    tie_order = list(range(len(keys)))
    rng.shuffle(tie_order)
    drawn: list[Sample] = []
    rest: list[Sample] = []
    for key, take in zip(keys, allocate(counts, size, tie_order), strict=True):
        group = groups[key][:]
        rng.shuffle(group)
        drawn.extend(group[:take])
        rest.extend(group[take:])
    rng.shuffle(drawn)
    rng.shuffle(rest)
    return drawn, rest


def allocate(counts: Sequence[int], size: int, tie_order: Sequence[int]) -> list[int]:
    """Split ``size`` (at least ``len(counts)``, below ``sum(counts)``) over groups of
    ``counts`` rows in proportion, each group getting at least one: floors of the exact quotas,
    then one more for the groups furthest below their quota, or one less for the groups
    furthest above it, until the total is ``size``. ``tie_order[i]`` ranks group ``i`` among
    equally deserving groups (lower first). Integer arithmetic only."""
    total = sum(counts)
    takes = [max(1, size * count // total) for count in counts]
    rank = {group: position for position, group in enumerate(tie_order)}

    def shortfall(i: int) -> int:  # (quota - take) * total: exact, no floats
        return size * counts[i] - takes[i] * total

    while (missing := size - sum(takes)) != 0:
        if missing > 0:
            growable = [i for i, take in enumerate(takes) if take < counts[i]]
            takes[max(growable, key=lambda i: (shortfall(i), -rank[i]))] += 1
        else:
            shrinkable = [i for i, take in enumerate(takes) if take > 1]
            takes[min(shrinkable, key=lambda i: (shortfall(i), rank[i]))] -= 1
    return takes


def check_labels(
    task: Task, labels: Sequence[str], samples: Sequence[Sample], where: object, split: str
) -> None:
    for number, sample in enumerate(samples, start=1):
        problem = task.label_errors(sample, labels)
        if problem:
            place = str(where) if where else split
            raise DataError(
                f"{place}: {split} sample {number}: {problem}, which train does not have; "
                "add training samples of it or drop it from the split"
            )


def prepare_splits(data: Any, task: Task, seed: int) -> Splits:
    """Load ``[data]`` (a :class:`pgkd.config.DataConfig`) into train/validation/test/loop-test."""
    fields = {"text_field": data.text_field, "label_field": data.label_field}
    fields["csv_delimiter"] = data.csv_delimiter
    where = describe(data.train)
    train = load_samples(data.train, task, **fields, split="train")
    if data.limit and data.limit < len(train):
        classes = len({task.stratum(sample) for sample in train})
        if data.limit < classes:
            raise DataError(
                f"{where}: [data] limit = {data.limit} is below the {classes} classes of "
                f"train, and the draw keeps one row of each; set it to at least {classes}"
            )
        train, _ = stratified_sample(train, data.limit, task, seed)
    labels = task.labels_of(train)
    needed = int(getattr(task, "min_labels", 2))
    if len(labels) < needed:
        found = ", ".join(repr(label) for label in labels) or "none"
        raise DataError(
            f"{where}: the {task.name} task needs at least {needed} labels, found {found}; "
            "add samples of the missing labels"
        )
    if data.validation is not None:
        validation = load_samples(data.validation, task, **fields, split="validation")
        check_labels(task, labels, validation, describe(data.validation), "validation")
    else:
        if len(train) < 2 * len(labels):
            raise DataError(
                f"{where}: {len(train)} samples are too few to split off validation for "
                f"{len(labels)} classes; add samples or give [data] validation"
            )
        train, validation = stratified_split(train, data.validation_fraction, task, seed)
    loop_test: list[Sample] = []
    if data.loop_test_fraction:
        train, loop_test = stratified_split(train, data.loop_test_fraction, task, seed + 1)
    test: list[Sample] = []
    if data.test is not None:
        test = load_samples(data.test, task, **fields, split="test")
        check_labels(task, labels, test, describe(data.test), "test")
    if not validation:
        raise DataError(f"{where}: the validation split came out empty; add samples")
    return Splits(train, validation, test, loop_test, labels)
