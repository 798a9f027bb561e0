"""``pgkd predict --engine ray``: the same predictions as the local path, spread over a Ray
cluster with Ray Data.

The pipeline is Ray Data's own: a read (:class:`RecordFiles`, a file-based datasource that
parses each file with :mod:`pgkd.serving.record_stream`, so line numbers, CSV sniffing and
error messages are the local path's), ``map_batches`` over a pool of ``--workers`` actors
(:class:`StudentWorker`: each loads the student once and labels one block of rows at a time)
and a write of one shard per block (:class:`PredictionShards`, JSONL or Parquet, each record
exactly what the local path writes). Input and output may be on any filesystem Ray reads
(local, ``s3://``, ``gs://``, ...); a local ``--out`` folder appears only when every shard is
written.

Without ``--address`` a local Ray is started for the command (and stopped after it); with one,
the job joins that cluster, whose nodes need pgkd (``pip install 'pgkd[ray]'``) and must be able
to read MODEL at the same path (a shared filesystem). ``--device cuda`` reserves one GPU per
worker. Ray is the optional extra ``pgkd[ray]``; it is imported only here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from pgkd.errors import ConfigError, DataError, PgkdError
from pgkd.serving.predict import PredictOptions

RAY_EXTRA = "pip install 'pgkd[ray]'"
#: What ``--engine ray`` writes: one shard per block, in these formats.
SHARD_FORMATS = {".jsonl": "jsonl", ".parquet": "parquet"}


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide the Ray job runs."""

    #: A running cluster (``ray://host:10001`` or ``host:6379``); None starts a local Ray.
    address: str | None = None
    workers: int = 2
    #: torch threads per worker.
    threads: int = 1
    #: CPUs Ray reserves per worker; None: 1 on a cluster, a share that leaves room for the read
    #: tasks on a local Ray (on 2 cores a whole CPU per actor starves the reads and hangs).
    worker_cpus: float | None = None
    quiet: bool = False


def require_ray() -> Any:
    """The ``ray`` module, or a one-line :class:`ConfigError` saying how to install it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError(f"--engine ray needs Ray, which is not installed: {RAY_EXTRA}") from None
    return ray


def shard_format(output: str) -> str:
    suffix = Path(output.rstrip("/")).suffix.lower()
    fmt = SHARD_FORMATS.get(suffix)
    if fmt is None:
        raise DataError(
            f"{output}: --engine ray writes a folder of .jsonl or .parquet shards; end --out "
            "with .jsonl or .parquet"
        )
    return fmt


def is_local(path: str) -> bool:
    return "://" not in path or path.startswith("local://") or path.startswith("file://")


def local_path(path: str) -> Path:
    return Path(path.removeprefix("local://").removeprefix("file://"))


def predict_with_ray(
    model_dir: Path,
    input_path: str,
    output: str,
    options: PredictOptions,
    ray_options: RayOptions | None = None,
) -> int:
    """Label every record under ``input_path`` (a file, a folder of files, or a list Ray reads)
    with the student in ``model_dir``; writes a folder of shards at ``output`` and returns the
    number of rows written."""
    from pgkd.serving.inference import resolve_model_dir

    ray_options = ray_options or RayOptions()
    ray = require_ray()
    fmt = shard_format(output)
    if options.chunk_rows < 1 or options.batch_size < 1:
        raise DataError("--chunk-rows and --batch-size must be at least 1")
    if ray_options.workers < 1 or ray_options.threads < 1:
        raise ConfigError("--workers and --worker-threads must be at least 1")
    model = resolve_model_dir(model_dir).resolve()
    if is_local(input_path) and not local_path(input_path).exists():
        raise DataError(f"{input_path}: no such file or folder; check the path")
    target = _prepare_output(output)
    started = _connect(ray, ray_options)
    try:
        written = _run(ray, model, input_path, target, fmt, options, ray_options)
    except Exception as exc:
        _discard(target)
        raise _user_error(exc) from None
    finally:
        if started:
            ray.shutdown()
    if written == 0:
        _discard(target)
        raise DataError(f"{input_path}: no records to label")
    _publish(target, output)
    return written


def _connect(ray: Any, options: RayOptions) -> bool:
    """Join ``options.address`` or start a local Ray; True when this call started it."""
    import logging

    if options.quiet:
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    if ray.is_initialized():
        return False
    common: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": not options.quiet}
    if options.address:
        ray.init(address=options.address, **common)
    else:
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, **common)
    return True


def _run(
    ray: Any,
    model: Path,
    input_path: str,
    target: str,
    fmt: str,
    options: PredictOptions,
    ray_options: RayOptions,
) -> int:
    from ray.data import DataContext

    from pgkd.serving.ray_parts import PredictionShards, RecordFiles, StudentWorker
    from pgkd.students.device import names_cuda

    context = DataContext.get_current()
    context.enable_progress_bars = not ray_options.quiet
    context.print_on_execution_start = not ray_options.quiet
    source = RecordFiles(input_path, options)
    worker_options = replace(options, progress=None)
    gpus = 1 if names_cuda(options.device) else 0
    io_cpus = _io_cpus(ray_options)
    dataset = ray.data.read_datasource(source, num_cpus=io_cpus).map_batches(
        StudentWorker,
        fn_constructor_kwargs={
            "model": str(model),
            "options": worker_options,
            "fmt": fmt,
            "threads": ray_options.threads,
        },
        batch_size=options.chunk_rows,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=ray_options.workers),
        num_cpus=_worker_cpus(ray, ray_options),
        num_gpus=gpus,
    )
    sink = PredictionShards(target, fmt)
    dataset.write_datasink(sink, ray_remote_args={"num_cpus": io_cpus})
    return sink.rows_written


#: CPUs a read or write task reserves on a local Ray: parsing and writing are light next to the
#: model, and a whole CPU each leaves the worker actors pending on a small machine (a hang).
LOCAL_IO_CPUS = 0.25


def _io_cpus(options: RayOptions) -> float:
    return 1.0 if options.address else LOCAL_IO_CPUS


def _worker_cpus(ray: Any, options: RayOptions) -> float:
    """CPUs each worker reserves: ``--worker-cpus``; else one on a cluster; on a local Ray an
    equal share of what a read and a write task leave (at most one)."""
    if options.worker_cpus is not None:
        if options.worker_cpus <= 0:
            raise ConfigError("--worker-cpus must be above 0 (a fraction of a CPU is fine)")
        return options.worker_cpus
    if options.address:
        return 1.0
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    return max(0.1, min(1.0, (cpus - 2 * LOCAL_IO_CPUS) / options.workers))


def _user_error(exc: Exception) -> Exception:
    """A pgkd error raised inside a Ray task, unwrapped so it prints as one line."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # A RayTaskError (which Ray also makes an instance of the task's exception type, with
        # the remote traceback as its text) holds what the task raised in ``cause``.
        cause = getattr(current, "cause", None)
        if isinstance(cause, BaseException):
            current = cause
            continue
        if isinstance(current, PgkdError):
            # Ray Data appends its retry advice to the message; pgkd's own line comes first.
            first_line = (str(current).splitlines() or [""])[0]
            return type(current)(first_line)
        current = current.__cause__
    return exc


def _prepare_output(output: str) -> str:
    """Where the shards go: for a local folder, a hidden sibling renamed when done."""
    if not is_local(output):
        return output
    final = local_path(output)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise DataError(
            f"{final}: already exists; --engine ray writes a new folder of shards, so remove it "
            "or choose another --out"
        )
    partial = final.with_name(f".{final.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    return str(partial.resolve())


def _publish(target: str, output: str) -> None:
    if is_local(output):
        final = local_path(output)
        if final.is_dir():
            final.rmdir()
        Path(target).replace(final)


def _discard(target: str) -> None:
    if is_local(target):
        shutil.rmtree(local_path(target), ignore_errors=True)


def local_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Every record in a folder of shards (tests and the benchmark compare outputs with it)."""
    import pyarrow.parquet as pq

    for shard in sorted(path.iterdir()):
        if shard.suffix == ".jsonl":
            with open(shard, encoding="utf-8") as fh:
                yield from (orjson.loads(line) for line in fh if line.strip())
        elif shard.suffix == ".parquet":
            yield from pq.read_table(shard).to_pylist()


__all__ = ["RAY_EXTRA", "RayOptions", "local_rows", "predict_with_ray", "require_ray"]
