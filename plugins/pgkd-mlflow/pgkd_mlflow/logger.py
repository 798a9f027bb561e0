"""Reads a run directory and logs it through MLflow's tracking client.

Only files a run writes are read (``config.toml``, ``metrics.jsonl``, ``summary.json``,
``best/``), so a run can be logged at its end by the hook or later by hand.
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
    try:
        from mlflow.exceptions import MlflowException
    except ImportError:
        raise PluginError(
            "pgkd-mlflow: mlflow is not installed; `pip install mlflow-skinny`, or uninstall "
            "pgkd-mlflow (or leave it out of PGKD_PLUGINS) to stop logging runs"
        ) from None

    run_dir = Path(run_dir)
    config, lines, on_disk = read_run(run_dir)
    summary = dict(summary or on_disk)
    uri = uri or tracking_uri(run_dir)
    try:
        with file_store_allowed(uri, run_dir):
            return _log(run_dir, uri, experiment, log_model, config, lines, summary)
    except (MlflowException, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PluginError(
            f"pgkd-mlflow: could not log {run_dir} to {uri} ({message}); the run itself is "
            f"complete: retry with `python -m pgkd_mlflow {run_dir}`"
        ) from exc


def _log(
    run_dir: Path,
    uri: str,
    experiment: str | None,
    log_model: bool | None,
    config: dict[str, Any],
    lines: list[dict[str, Any]],
    summary: dict[str, Any],
) -> str:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    name = experiment or os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT
    found = client.get_experiment_by_name(name)
    experiment_id = found.experiment_id if found else client.create_experiment(name)
    tags = {
        "pgkd.run_dir": str(run_dir.resolve()),
        "pgkd.best_step": str(summary.get("best_step", "")),
        "pgkd.steps_run": str(summary.get("steps_run", "")),
        "pgkd.stop_reason": str(summary.get("stop_reason") or "ran all steps"),
    }
    run = client.create_run(experiment_id, run_name=run_dir.name, tags=tags)
    run_id: str = run.info.run_id
    try:
        params = [Param(k, v) for k, v in flatten(config)]
        for start in range(0, len(params), MAX_PARAMS):
            client.log_batch(run_id, params=params[start : start + MAX_PARAMS])
        now = int(time.time() * 1000)
        metrics = [
            Metric(key, value, now, int(line["step"]))
            for line in lines
            for key, value in step_metrics(line).items()
        ]
        best = summary.get("best") or {}
        metrics += [
            Metric(f"best_{key}", value, now, 0) for key, value in step_metrics(best).items()
        ]
        for start in range(0, len(metrics), MAX_METRICS):
            client.log_batch(run_id, metrics=metrics[start : start + MAX_METRICS])
        _log_artifacts(client, run_id, run_dir, log_model)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _log_artifacts(client: Any, run_id: str, run_dir: Path, log_model: bool | None) -> None:
    if not (run_dir / "report.html").is_file():
        from pgkd import write_report

        write_report(run_dir)
    for name in ARTIFACT_FILES:
        if (run_dir / name).is_file():
            client.log_artifact(run_id, str(run_dir / name))
    if log_model is None:
        log_model = os.environ.get(LOG_MODEL_ENV, "1").strip().lower() not in ("0", "false", "no")
    if log_model and (run_dir / "best").is_dir():
        client.log_artifacts(run_id, str(run_dir / "best"), artifact_path="best_model")
