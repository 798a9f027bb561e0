"""Logs a pgkd run through MLflow's tracking client: live, step by step, and at its end.

Live (:func:`log_step`, from the ``on_step_end`` hook): the first completed KD step opens the
MLflow run (params from ``config.toml``, model_0's metrics from ``metrics.jsonl``) and every
step logs its student's numbers with the step's index and its own timestamp as it completes. A
resumed run continues the MLflow run it left RUNNING. At the end (:func:`log_run`, from
``on_run_end``) the live run gets what only the finished run knows (teacher accounting and
timings per step, the best student's numbers, the artifacts, the model) and is closed; a run
that was not logged live (no steps, or logged later by hand with ``python -m pgkd_mlflow``) is
logged whole from its files.

The best student is logged as an MLflow pyfunc model (:mod:`pgkd_mlflow.pyfunc_model`), which
``mlflow.pyfunc.load_model(uri).predict(df)`` runs; its URI is the run's tag
``pgkd.model_uri``.
"""

from __future__ import annotations

import json
import os
import time
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pgkd import PluginError, RunDirError

TRACKING_ENV = "MLFLOW_TRACKING_URI"
EXPERIMENT_ENV = "PGKD_MLFLOW_EXPERIMENT"
LOG_MODEL_ENV = "PGKD_MLFLOW_LOG_MODEL"
ALLOW_FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"
DEFAULT_EXPERIMENT = "pgkd"
#: MLflow's limits per log_batch call and per param value.
MAX_PARAMS, MAX_METRICS, MAX_PARAM_CHARS = 100, 1000, 6000
SPLITS = ("val", "test", "loop_test")
SCORES = ("accuracy", "macro_f1", "weighted_f1", "loss")
TEACHER = (
    "calls",
    "failed_calls",
    "retries",
    "reasks",
    "input_tokens",
    "output_tokens",
    "cost_usd",
)
ARTIFACT_FILES = ("report.html", "summary.json", "config.toml", "metrics.jsonl")
#: Metric names logged live at each step (from the hook's StepRecord); the rest of a
#: metrics.jsonl line is logged when the run ends.
LIVE_PREFIXES = ("val_", "test_", "samples_", "history_size")
MODEL_NAME = "best_model"
RUN_DIR_TAG = "pgkd.run_dir"
MODEL_URI_TAG = "pgkd.model_uri"

#: MLflow run ids of the runs being logged live in this process, by resolved run directory.
_live: dict[Path, str] = {}
#: Run directories whose live logging failed: no more tries until the run ends.
_live_failed: set[Path] = set()


def tracking_uri(run_dir: Path) -> str:
    """``MLFLOW_TRACKING_URI``, else a file store inside the run directory."""
    return os.environ.get(TRACKING_ENV) or default_store(run_dir)


def default_store(run_dir: Path) -> str:
    return (run_dir.resolve() / "mlruns").as_uri()


@contextmanager
def file_store_allowed(uri: str, run_dir: Path) -> Iterator[None]:
    """MLflow 3 refuses its file store unless ``MLFLOW_ALLOW_FILE_STORE`` is set; allow it
    while logging to the plugin's own default store, and only then."""
    if uri != default_store(run_dir) or ALLOW_FILE_STORE_ENV in os.environ:
        yield
        return
    os.environ[ALLOW_FILE_STORE_ENV] = "true"
    try:
        yield
    finally:
        os.environ.pop(ALLOW_FILE_STORE_ENV, None)


def flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """``("teacher.model", "openai:gpt-4o-mini")`` pairs of a nested TOML table."""
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from flatten(value, f"{name}.")
        else:
            text = value if isinstance(value, str) else json.dumps(value)
            yield name, text[:MAX_PARAM_CHARS]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def step_metrics(line: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of one metrics.jsonl line, by MLflow metric name."""
    out: dict[str, float] = {}
    for split in SPLITS:
        block = line.get(split)
        if isinstance(block, Mapping):
            for key in SCORES:
                value = _number(block.get(key))
                if value is not None:
                    out[f"{split}_{key}"] = value
    for key, name in (("accepted", "samples_accepted"), ("rejected", "samples_rejected")):
        value = _number(line.get(key))
        if value is not None:
            out[name] = value
    generation = line.get("generation") or {}
    for key in TEACHER:
        value = _number(generation.get(key))
        if value is not None:
            out[f"teacher_{key}"] = value
    for phase, seconds in (line.get("seconds") or {}).items():
        value = _number(seconds)
        if value is not None:
            out[f"seconds_{phase}"] = value
    return out


def read_run(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """(config, metrics lines by step, summary) of a run directory."""
    if not (run_dir / "metrics.jsonl").is_file():
        raise RunDirError(f"{run_dir}: no metrics.jsonl; point at a pgkd run directory")
    config_path = run_dir / "config.toml"
    config = tomllib.loads(config_path.read_text("utf-8")) if config_path.is_file() else {}
    by_step: dict[int, dict[str, Any]] = {}
    with open(run_dir / "metrics.jsonl", encoding="utf-8") as fh:
        for raw in fh:
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                continue  # a torn last line
            if isinstance(line, dict) and isinstance(line.get("step"), int):
                by_step[line["step"]] = line
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text("utf-8")) if summary_path.is_file() else {}
    return config, [by_step[s] for s in sorted(by_step)], summary


def log_run(
    run_dir: Path,
    summary: Mapping[str, Any] | None = None,
    *,
    uri: str | None = None,
    experiment: str | None = None,
    log_model: bool | None = None,
) -> str:
    """Log ``run_dir`` as one MLflow run; returns the MLflow run id."""
    mlflow_error = _require_mlflow()

    run_dir = Path(run_dir)
    config, lines, on_disk = read_run(run_dir)
    summary = dict(summary or on_disk)
    uri = uri or tracking_uri(run_dir)
    live = _live.pop(run_dir.resolve(), None)
    _live_failed.discard(run_dir.resolve())
    try:
        with file_store_allowed(uri, run_dir):
            return _log(run_dir, uri, experiment, log_model, config, lines, summary, live)
    except (mlflow_error, OSError) as exc:
        raise _failed(run_dir, uri, exc, "the run itself is complete") from exc


def _failed(run_dir: Path, uri: str, exc: BaseException, state: str) -> PluginError:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return PluginError(
        f"pgkd-mlflow: could not log {run_dir} to {uri} ({message}); {state}: retry with "
        f"`python -m pgkd_mlflow {run_dir}`"
    )


def _require_mlflow() -> type[Exception]:
    try:
        from mlflow.exceptions import MlflowException
    except ImportError:
        raise PluginError(
            "pgkd-mlflow: mlflow is not installed; `pip install mlflow-skinny`, or uninstall "
            "pgkd-mlflow (or leave it out of PGKD_PLUGINS) to stop logging runs"
        ) from None
    error: type[Exception] = MlflowException
    return error


def record_metrics(record: Any) -> dict[str, float]:
    """The numbers of one step's StepRecord (what ``on_step_end`` sees), by metric name."""
    out: dict[str, float] = {}
    for split, evaluation in (("val", record.validation), ("test", record.test)):
        if evaluation is None:
            continue
        scores = {"loss": evaluation.loss, **dict(evaluation.metrics)}
        for key in SCORES:
            value = _number(scores.get(key))
            if value is not None:
                out[f"{split}_{key}"] = value
    out["samples_accepted"] = float(record.accepted)
    out["samples_rejected"] = float(record.rejected)
    out["history_size"] = float(record.history_size)
    return out


def log_step(run_dir: Path, record: Any, *, uri: str | None = None) -> str | None:
    """Log one completed KD step to the run's live MLflow run (opened on the first step);
    returns the MLflow run id. After a failure (raised once, as a PluginError) the run's
    later steps are not tried again: the whole run is logged when it ends."""
    mlflow_error = _require_mlflow()
    run_dir = Path(run_dir)
    if run_dir.resolve() in _live_failed:
        return None
    uri = uri or tracking_uri(run_dir)
    try:
        with file_store_allowed(uri, run_dir):
            return _log_step(run_dir, uri, record)
    except (mlflow_error, OSError) as exc:
        _live_failed.add(run_dir.resolve())
        raise _failed(run_dir, uri, exc, "the run goes on, logged whole when it ends") from exc


def _log_step(run_dir: Path, uri: str, record: Any) -> str:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    key = run_dir.resolve()
    run_id = _live.get(key)
    if run_id is None:
        run_id = _open_live_run(client, run_dir)
        _live[key] = run_id
    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, int(record.step)) for k, v in record_metrics(record).items()]
    client.log_batch(run_id, metrics=metrics)
    return run_id


def _open_live_run(client: Any, run_dir: Path) -> str:
    """The RUNNING MLflow run this run directory left (a resumed run), or a new one with the
    params and model_0's metrics."""
    from mlflow.entities import Metric

    experiment_id = _experiment(client, None)
    resolved = str(run_dir.resolve())
    found = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{RUN_DIR_TAG}` = '{_quoted(resolved)}' and attributes.status = 'RUNNING'"
        ),
        max_results=1,
    )
    if found:
        run_id: str = found[0].info.run_id
        return run_id
    config, lines, _ = read_run(run_dir)
    run_id = _create_run(client, experiment_id, run_dir, config, {})
    first = [line for line in lines if line["step"] == 0]
    if first:
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in step_metrics(first[0]).items()]
        client.log_batch(run_id, metrics=metrics)
    return run_id


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _experiment(client: Any, experiment: str | None) -> str:
    name = experiment or os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT
    found = client.get_experiment_by_name(name)
    experiment_id: str = found.experiment_id if found else client.create_experiment(name)
    return experiment_id


def _create_run(
    client: Any,
    experiment_id: str,
    run_dir: Path,
    config: dict[str, Any],
    summary: dict[str, Any],
) -> str:
    from mlflow.entities import Param

    run = client.create_run(
        experiment_id,
        run_name=run_dir.name,
        tags={RUN_DIR_TAG: str(run_dir.resolve()), **_summary_tags(summary)},
    )
    run_id: str = run.info.run_id
    params = [Param(k, v) for k, v in flatten(config)]
    for start in range(0, len(params), MAX_PARAMS):
        client.log_batch(run_id, params=params[start : start + MAX_PARAMS])
    return run_id


def _summary_tags(summary: Mapping[str, Any]) -> dict[str, str]:
    if not summary:
        return {}
    return {
        "pgkd.best_step": str(summary.get("best_step", "")),
        "pgkd.steps_run": str(summary.get("steps_run", "")),
        "pgkd.stop_reason": str(summary.get("stop_reason") or "ran all steps"),
    }


def _log(
    run_dir: Path,
    uri: str,
    experiment: str | None,
    log_model: bool | None,
    config: dict[str, Any],
    lines: list[dict[str, Any]],
    summary: dict[str, Any],
    live: str | None,
) -> str:
    """Log the finished run: complete the live MLflow run ``live``, or log it whole."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    if live is None:
        run_id = _create_run(client, _experiment(client, experiment), run_dir, config, summary)
    else:
        run_id = live
        for name, value in _summary_tags(summary).items():
            client.set_tag(run_id, name, value)
    try:
        now = int(time.time() * 1000)
        metrics = [
            Metric(key, value, now, int(line["step"]))
            for line in lines
            for key, value in step_metrics(line).items()
            # A live run has every step's student numbers already, each with its own time.
            if live is None or line["step"] == 0 or not key.startswith(LIVE_PREFIXES)
        ]
        if live is not None:
            metrics = [m for m in metrics if m.step != 0]  # model_0 was logged when it opened
        best = summary.get("best") or {}
        metrics += [
            Metric(f"best_{key}", value, now, 0) for key, value in step_metrics(best).items()
        ]
        for start in range(0, len(metrics), MAX_METRICS):
            client.log_batch(run_id, metrics=metrics[start : start + MAX_METRICS])
        _log_artifacts(client, run_id, run_dir, log_model, uri, summary)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _log_artifacts(
    client: Any,
    run_id: str,
    run_dir: Path,
    log_model: bool | None,
    uri: str,
    summary: Mapping[str, Any],
) -> None:
    if not (run_dir / "report.html").is_file():
        from pgkd import write_report

        write_report(run_dir)
    for name in ARTIFACT_FILES:
        if (run_dir / name).is_file():
            client.log_artifact(run_id, str(run_dir / name))
    if log_model is None:
        log_model = os.environ.get(LOG_MODEL_ENV, "1").strip().lower() not in ("0", "false", "no")
    if log_model and (run_dir / "best").is_dir():
        best_step = int(summary.get("best_step") or 0)
        model_uri = log_student_model(uri, run_id, run_dir / "best", step=best_step)
        client.set_tag(run_id, MODEL_URI_TAG, model_uri)


def log_student_model(uri: str, run_id: str, best: Path, *, step: int = 0) -> str:
    """Log ``best`` as a pyfunc model of the MLflow run ``run_id``; returns the model's URI.
    MLflow links the run's metrics of ``step`` (the best student's KD step) to the model."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from pgkd_mlflow import pyfunc_model

    signature = ModelSignature(inputs=Schema([ColSpec("string", pyfunc_model.TEXT_COLUMN)]))
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name=MODEL_NAME,
                python_model=pyfunc_model.__file__,
                artifacts={"student": str(best)},
                pip_requirements=["pgkd"],
                signature=signature,
                input_example={pyfunc_model.TEXT_COLUMN: ["An example text to label."]},
                step=step,
            )
    finally:
        mlflow.set_tracking_uri(previous)
    model_uri: str = info.model_uri
    return model_uri
