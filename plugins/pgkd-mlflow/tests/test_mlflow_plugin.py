"""The plugin against a real local MLflow tracking store, at the end of a real pgkd run."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pgkd_mlflow
import pytest
from mlflow.tracking import MlflowClient
from pgkd_mlflow.logger import log_run

from pgkd import Evaluation, PluginError, StepRecord, config_from_mapping, hookimpl
from pgkd.testing import build_plugin_manager, describe, load_predictor, quiet_progress, run

TICKETS = Path(__file__).parents[3] / "examples" / "support_tickets"


def run_config(tiny_backbone: Path) -> dict[str, object]:
    return {
        "data": {
            "train": str(TICKETS / "train.jsonl"),
            "validation": str(TICKETS / "validation.jsonl"),
        },
        # The test split, never used by this run, is the simulation teacher's pool of answers.
        "teacher": {"model": f"pool:{TICKETS / 'test.jsonl'}", "samples_per_call": 8},
        "student": {"kind": "frozen", "backbone": str(tiny_backbone), "max_length": 64},
        "kd": {"steps": 2, "batch_size": 8, "patience": 5},
    }


class StepProbe:
    """Registered before the plugin, so pluggy calls it after the plugin at each step: it reads
    the MLflow store while the run is still going and notes which steps it holds."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.seen: dict[int, list[int]] = {}

    @hookimpl
    def on_step_end(self, context: Any, record: Any) -> None:
        store = (self.out / "mlruns").as_uri()
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
            client = MlflowClient(tracking_uri=store)
            experiment = client.get_experiment_by_name("pgkd")
            assert experiment is not None
            (live,) = client.search_runs([experiment.experiment_id])
            assert live.info.status == "RUNNING"
            history = client.get_metric_history(live.info.run_id, "val_accuracy")
        self.seen[record.step] = sorted(m.step for m in history)


@pytest.fixture(scope="module")
def probe_and_run(
    tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[StepProbe, Path]:
    out = tmp_path_factory.mktemp("runs") / "tickets"
    probe = StepProbe(out)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # the plugin allows its own store
        run(
            config_from_mapping(run_config(tiny_backbone)),
            out,
            progress=quiet_progress(),
            extra_plugins=[probe, pgkd_mlflow],
            entry_points_enabled=False,
        )
    return probe, out


@pytest.fixture(scope="module")
def finished_run(probe_and_run: tuple[StepProbe, Path]) -> Path:
    return probe_and_run[1]


def only_run(store: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[MlflowClient, str]:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # for reading it back here
    client = MlflowClient(tracking_uri=store.as_uri())
    experiment = client.get_experiment_by_name("pgkd")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    return client, runs[0].info.run_id


def test_run_end_logs_params_metrics_report_and_model(
    finished_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, run_id = only_run(finished_run / "mlruns", monkeypatch)

    logged = client.get_run(run_id)
    summary = json.loads((finished_run / "summary.json").read_text())
    assert logged.info.status == "FINISHED"
    assert logged.info.run_name == "tickets"
    assert logged.data.params["teacher.model"].startswith("pool:")
    assert logged.data.params["kd.steps"] == "2"
    assert logged.data.tags["pgkd.best_step"] == str(summary["best_step"])
    history = client.get_metric_history(run_id, "val_accuracy")
    # MLflow links the best step's metrics to the logged model, repeating that step's points.
    best = summary["best_step"]
    assert sorted(m.step for m in history) == sorted([0, 1, 2, best])
    assert len({(m.step, m.value, m.timestamp) for m in history}) == 3
    lines = [json.loads(x) for x in (finished_run / "metrics.jsonl").read_text().splitlines()]
    by_step = {m.step: m.value for m in client.get_metric_history(run_id, "val_loss")}
    assert {m.step for m in client.get_metric_history(run_id, "teacher_calls")} == {1, 2}
    assert by_step == pytest.approx({line["step"]: line["val"]["loss"] for line in lines})
    assert client.get_metric_history(run_id, "teacher_calls")
    assert logged.data.metrics["best_val_loss"] == pytest.approx(summary["best"]["val"]["loss"])
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"report.html", "summary.json", "config.toml", "metrics.jsonl"} <= artifacts
    assert logged.data.tags["pgkd.model_uri"].startswith("models:/")


def test_each_step_is_logged_as_it_completes(
    probe_and_run: tuple[StepProbe, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    probe, out = probe_and_run
    # While the run went on, the MLflow run held model_0 and every step completed so far.
    assert probe.seen == {1: [0, 1], 2: [0, 1, 2]}
    client, run_id = only_run(out / "mlruns", monkeypatch)
    stamps = {
        m.step: m.timestamp for m in client.get_metric_history(run_id, "val_loss") if not m.model_id
    }
    ended = (out / "summary.json").stat().st_mtime * 1000
    assert stamps[0] <= stamps[1] <= stamps[2] <= ended + 1000  # each its own moment
    history_size = client.get_metric_history(run_id, "history_size")
    assert {m.step for m in history_size} == {1, 2}


def test_the_best_student_is_an_mlflow_model_that_predicts(
    finished_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import pandas as pd

    client, run_id = only_run(finished_run / "mlruns", monkeypatch)
    uri = client.get_run(run_id).data.tags["pgkd.model_uri"]
    texts = ["I was charged twice this month", "the app crashes when I log in", "hello"]
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri((finished_run / "mlruns").as_uri())
    try:
        model = mlflow.pyfunc.load_model(uri)
        out = model.predict(pd.DataFrame({"text": texts}))
    finally:
        mlflow.set_tracking_uri(previous)
    predictor = load_predictor(finished_run / "best")
    probabilities = predictor.predict_proba(texts)  # type: ignore[union-attr]
    labels = [predictor.labels[int(i)] for i in probabilities.argmax(axis=1)]  # type: ignore[union-attr]
    assert list(out["label"]) == labels
    assert list(out["confidence"]) == pytest.approx(list(probabilities.max(axis=1)), abs=1e-5)
    for index, label in enumerate(predictor.labels):  # type: ignore[union-attr]
        assert list(out[f"p_{label}"]) == pytest.approx(list(probabilities[:, index]), abs=1e-5)


def test_tracking_uri_experiment_and_model_switch_from_the_environment(
    finished_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "elsewhere"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("PGKD_MLFLOW_EXPERIMENT", "tickets-experiments")
    monkeypatch.setenv("PGKD_MLFLOW_LOG_MODEL", "0")

    run_id = log_run(finished_run)

    client = MlflowClient(tracking_uri=store.as_uri())
    assert client.get_run(run_id).info.experiment_id == (
        client.get_experiment_by_name("tickets-experiments").experiment_id
    )
    assert "pgkd.model_uri" not in client.get_run(run_id).data.tags


def test_a_bad_tracking_uri_is_one_line(
    finished_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "bogus-scheme://nowhere")

    with pytest.raises(PluginError) as caught:
        log_run(finished_run)

    message = str(caught.value)
    assert "\n" not in message
    assert "bogus-scheme://nowhere" in message and "python -m pgkd_mlflow" in message


def test_installed_entry_point_loads_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGKD_PLUGINS", "mlflow")

    pm = build_plugin_manager(entry_points_enabled=True)

    assert pm.get_plugin("mlflow") is pgkd_mlflow
    assert ("mlflow", ["on_run_end", "on_step_end"]) in describe(pm)


def test_missing_mlflow_is_one_line(finished_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow.exceptions", None)  # import fails as if absent

    with pytest.raises(PluginError, match="pip install mlflow-skinny"):
        log_run(finished_run)


def test_a_resumed_run_continues_its_running_mlflow_run(
    finished_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that stopped mid-run leaves its MLflow run RUNNING; the resumed process's
    next step is logged into that same run, not a new one."""
    import shutil

    from pgkd_mlflow import logger

    copy = tmp_path / "tickets"
    shutil.copytree(finished_run, copy, ignore=shutil.ignore_patterns("mlruns"))
    evaluation = Evaluation(loss=0.5, metrics={"accuracy": 0.75}, per_class={})
    first = StepRecord(1, evaluation, None, 8, 0, 40, 0.5, 1)
    second = StepRecord(2, evaluation, None, 8, 0, 48, 0.5, 1)

    started = logger.log_step(copy, first)
    logger._live.clear()  # the process ended; the MLflow run was left RUNNING
    resumed = logger.log_step(copy, second)

    assert resumed == started
    client, run_id = only_run(copy / "mlruns", monkeypatch)
    assert run_id == started and client.get_run(run_id).info.status == "RUNNING"
    assert {m.step for m in client.get_metric_history(run_id, "val_accuracy")} == {0, 1, 2}
    logger._live.clear()


def test_a_tracking_server_failing_mid_run_warns_once_and_the_run_goes_on(
    finished_run: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from types import SimpleNamespace

    from pgkd_mlflow import logger

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "bogus-scheme://nowhere")
    evaluation = Evaluation(loss=0.5, metrics={"accuracy": 0.75}, per_class={})
    context = SimpleNamespace(run_dir=finished_run)
    try:
        for step in (1, 2):
            record = StepRecord(step, evaluation, None, 8, 0, 40, 0.5, 1)
            assert pgkd_mlflow.on_step_end(context=context, record=record) is None
    finally:
        logger._live_failed.clear()
    warnings = [r.getMessage() for r in caplog.records if r.name == "pgkd_mlflow"]
    assert len(warnings) == 1 and "bogus-scheme://nowhere" in warnings[0]
    assert "logged whole when it ends" in warnings[0]
