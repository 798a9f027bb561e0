"""The Ray Data parts of ``pgkd predict --engine ray`` (:mod:`pgkd.serving.ray_predict` runs
them): a file reader that parses like the local path, the worker actor that holds the student,
and the shard writer. Importing this module imports Ray; only the Ray engine does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from ray.data.datasource import BlockBasedFileDatasink, FileBasedDatasource

from pgkd.errors import DataError
from pgkd.serving.predict import PredictOptions, chunk_columns, chunk_predictor
from pgkd.serving.prediction_writer import ChunkRows
from pgkd.serving.record_stream import chunks, input_format, stream_open_records

if TYPE_CHECKING:
    import pyarrow as pa


class RecordFiles(FileBasedDatasource):
    """Ray Data reads JSONL/CSV/Parquet files (optionally ``.gz``) the way ``pgkd predict``
    does: one block per ``--chunk-rows`` rows, holding ``row`` (the line number), the ``--keep``
    fields and the text, plus ``file`` when more than one file is read."""

    def __init__(self, paths: str | list[str], options: PredictOptions) -> None:
        super().__init__(paths, file_extensions=None)
        self.options = replace(options, progress=None)
        self.several = len(self._paths()) > 1

    def _open_input_source(self, filesystem: Any, path: str, **open_args: Any) -> Any:
        if input_format(Path(path)) == "parquet":
            return filesystem.open_input_file(path)  # Parquet needs random access
        return super()._open_input_source(filesystem, path, **open_args)

    def _read_stream(self, f: Any, path: str) -> Iterator[pa.Table]:
        import pyarrow as pa

        options = self.options
        columns = [options.text_field, *options.keep]
        records = stream_open_records(path, f, columns=columns)
        for rows in chunks(records, options.chunk_rows):
            base = chunk_columns(Path(path), rows, options)
            table = base.table(include_text=True)
            if self.several:
                table = {"file": [path] * len(rows), **table}
            try:
                yield pa.table(table)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise DataError(
                    f"{path}: a --keep field mixes types within rows {rows[0][0]}-"
                    f"{rows[-1][0]} ({exc}); --keep only fields of one type"
                ) from None


#: Set in each worker before torch loads (unless already set): no busy-waiting OpenMP threads
#: (they made 2-thread torch many times slower on a shared machine), no tokenizer thread pool,
#: no hub downloads. Set here rather than in a Ray runtime_env, so Ray's pre-started worker
#: processes are used instead of new ones.
WORKER_ENV = {
    "OMP_WAIT_POLICY": "PASSIVE",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


class StudentWorker:
    """One Ray actor: loads the student once, then labels blocks of rows."""

    def __init__(self, model: str, options: PredictOptions, fmt: str, threads: int) -> None:
        for name, value in {**WORKER_ENV, "OMP_NUM_THREADS": str(threads)}.items():
            os.environ.setdefault(name, value)
        import torch

        from pgkd.serving.inference import load_predictor

        torch.set_num_threads(threads)
        predictor = load_predictor(
            Path(model),
            quantize=options.quantize,
            batch_size=options.batch_size,
            device=options.device,
        )
        self.predict_chunk = chunk_predictor(predictor, options)
        self.options = options
        self.fmt = fmt

    def __call__(self, block: pa.Table) -> pa.Table:
        import pyarrow as pa

        options = self.options
        kept = {name: block.column(name).to_pylist() for name in options.keep}
        base = ChunkRows(
            block.column("row").to_pylist(), kept, block.column(options.text_field).to_pylist()
        )
        chunk = self.predict_chunk(base)
        files = block.column("file").to_pylist() if "file" in block.column_names else None
        if self.fmt == "jsonl":
            lines = [orjson.dumps(r).decode() for r in chunk.records(options.include_text)]
            table: dict[str, Any] = {"line": lines}
            if files is not None:
                table = {"file": files, **table}
            return pa.table(table)
        columns = chunk.table(options.include_text)
        types = chunk.arrow_types()
        arrays = {name: pa.array(values, type=types.get(name)) for name, values in columns.items()}
        if files is not None:
            arrays = {"file": pa.array(files, type=pa.string()), **arrays}
        return pa.table(arrays)


class PredictionShards(BlockBasedFileDatasink):
    """One shard per block: JSONL lines as the local path writes them (the worker serialised
    them), or a Parquet file of the block's columns. Counts the rows written."""

    def __init__(self, path: str, fmt: str) -> None:
        super().__init__(path, file_format=fmt)
        self.fmt = fmt
        self.rows_written = 0

    def write_block_to_file(self, block: Any, file: Any) -> None:
        table = block.to_arrow()
        if self.fmt == "jsonl":
            lines = table.column("line").to_pylist()
            if "file" in table.column_names:
                lines = [
                    _with_file(line, name)
                    for line, name in zip(lines, table.column("file").to_pylist(), strict=True)
                ]
            file.write("".join(f"{line}\n" for line in lines).encode())
            return
        import pyarrow.parquet as pq

        pq.write_table(table, file)

    def on_write_complete(self, write_result: Any) -> None:
        self.rows_written = int(write_result.num_rows)
        parent = getattr(super(), "on_write_complete", None)
        if callable(parent):
            parent(write_result)


def _with_file(line: str, name: str) -> str:
    """A JSONL record with ``file`` in front (only when several files were read)."""
    return orjson.dumps({"file": name, **orjson.loads(line)}).decode()
