"""``pgkd predict``: run a saved student over a file of texts, one chunk at a time, so memory stays
flat however big the file is.

Input: JSONL, CSV/TSV or Parquet (optionally ``.gz`` for the text formats). Output, chosen by the
``--out`` suffix: JSONL, CSV or Parquet (:mod:`pgkd.serving.prediction_writer` says how each holds
nested fields). A classifier writes ``label``, ``confidence`` and its top-k labels (a ``top_k``
list in JSONL, flat ``topN_label``/``topN_prob`` columns otherwise). A student of another task
writes the records its ``prediction_records`` makes
(:class:`pgkd.serving.inference.RecordPredictor`; for NER an ``entities`` list). Each output
row also carries ``row`` (the input's line number), the ``--keep`` fields and the text unless
``--no-text``. The output is written to a hidden partial file and renamed at the end, so a crash
never leaves a half file under the final name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pgkd.errors import ConfigError, DataError
from pgkd.serving.prediction_writer import (
    Chunk,
    ChunkRows,
    LabelColumns,
    RecordColumns,
    Writer,
    output_format,
)
from pgkd.serving.record_stream import Record, chunks, estimate_rows, stream_records

if TYPE_CHECKING:
    from pgkd.serving.inference import Predictor, RecordPredictor

#: Rows held in memory at once; each chunk is tokenized, length-sorted and batched.
DEFAULT_CHUNK_ROWS = 2048
#: Labels per row a classifier writes when ``--top-k`` is not given.
DEFAULT_TOP_K = 3


@dataclass(frozen=True)
class PredictOptions:
    text_field: str = "text"
    #: Classifiers only; ``None`` means :data:`DEFAULT_TOP_K`. Other students refuse it.
    top_k: int | None = None
    batch_size: int = 64
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    keep: Sequence[str] = ()
    include_text: bool = True
    quantize: str | None = None
    #: Where a torch student runs: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    device: str = "auto"
    #: Called with (rows done, estimated total or None) after every chunk.
    progress: Callable[[int, int | None], None] | None = field(default=None, compare=False)


def chunk_columns(path: Path, rows: list[tuple[int, Record]], options: PredictOptions) -> ChunkRows:
    numbers, texts = [], []
    kept: dict[str, list[Any]] = {name: [] for name in options.keep}
    for number, record in rows:
        text = record.get(options.text_field)
        if not isinstance(text, str):
            found = ", ".join(sorted(map(str, record))) or "none"
            raise DataError(
                f"{path}:{number}: no text in field {options.text_field!r} (fields found: "
                f"{found}); pass --text-field"
            )
        numbers.append(number)
        texts.append(text)
        for name in options.keep:
            kept[name].append(record.get(name))
    return ChunkRows(numbers, kept, texts)


def top_labels(
    probs: npt.NDArray[np.float32], labels: Sequence[str], k: int
) -> list[list[tuple[str, float]]]:
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [
        [(labels[int(c)], float(row[int(c)])) for c in cols]
        for row, cols in zip(probs, order, strict=True)
    ]


def predict_file(
    model_dir: Path, input_path: Path, output_path: Path, options: PredictOptions | None = None
) -> int:
    """Label every record of ``input_path`` with the model in ``model_dir`` (a run directory,
    its ``best/``, or a ``pgkd export`` folder); returns the number of rows written."""
    from pgkd.serving.inference import load_predictor

    options = options or PredictOptions()
    output_format(output_path)  # refuse a bad --out before loading a model
    predictor = load_predictor(
        model_dir, quantize=options.quantize, batch_size=options.batch_size, device=options.device
    )
    return predict_records(predictor, input_path, output_path, options)


def predict_records(
    predictor: Predictor | RecordPredictor,
    input_path: Path,
    output_path: Path,
    options: PredictOptions,
) -> int:
    """Stream ``input_path`` through a loaded predictor into ``output_path``."""
    if options.chunk_rows < 1 or options.batch_size < 1:
        raise DataError("--chunk-rows and --batch-size must be at least 1")
    fmt = output_format(output_path)
    predict_chunk = chunk_predictor(predictor, options)
    columns = [options.text_field, *options.keep]
    output_path.parent.mkdir(parents=True, exist_ok=True)
    partial = output_path.with_name(f".{output_path.name}.partial")
    writer = Writer(partial, fmt, options.include_text)
    total = estimate_rows(input_path) if options.progress is not None else None
    count = 0
    try:
        for rows in chunks(stream_records(input_path, columns=columns), options.chunk_rows):
            writer.write(predict_chunk(chunk_columns(input_path, rows, options)))
            count += len(rows)
            if options.progress is not None:
                options.progress(count, total)
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    writer.close()
    if count == 0:
        partial.unlink(missing_ok=True)
        raise DataError(f"{input_path}: no records to label")
    partial.replace(output_path)
    return count


def chunk_predictor(
    predictor: Predictor | RecordPredictor, options: PredictOptions
) -> Callable[[ChunkRows], Chunk]:
    """What turns one chunk of input rows into output: a record predictor's own records, or
    a classifier's top-k labels."""
    from pgkd.serving.inference import RecordPredictor, prediction_schema

    if isinstance(predictor, RecordPredictor):
        if options.top_k is not None:
            raise ConfigError(
                "--top-k ranks a classifier's labels; this student writes its own records "
                "(no ranked labels): drop --top-k"
            )
        records, schema = predictor.prediction_records, prediction_schema(predictor)
        return lambda base: RecordColumns(base, records(base.texts), schema)
    labels = predictor.labels
    top_k = max(1, min(DEFAULT_TOP_K if options.top_k is None else options.top_k, len(labels)))
    return lambda base: LabelColumns(
        base, top_labels(predictor.predict_proba(base.texts), labels, top_k), top_k
    )
