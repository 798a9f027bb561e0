"""The plugin against a real local MLflow tracking store, at the end of a real pgkd run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pgkd_mlflow
import pytest
from mlflow.tracking import MlflowClient
from pgkd_mlflow.logger import log_run

from pgkd import PluginError, config_from_mapping
from pgkd.testing import build_plugin_manager, describe, quiet_progress, run

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


@pytest.fixture(scope="module")
def finished_run(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "tickets"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # the plugin allows its own store
        run(
            config_from_mapping(run_config(tiny_backbone)),
            out,
            progress=quiet_progress(),
            extra_plugins=[pgkd_mlflow],
            entry_points_enabled=False,
        )
    return out


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
    assert sorted(m.step for m in history) == [0, 1, 2]
    lines = [json.loads(x) for x in (finished_run / "metrics.jsonl").read_text().splitlines()]
    by_step = {m.step: m.value for m in client.get_metric_history(run_id, "val_loss")}
    assert by_step == pytest.approx({line["step"]: line["val"]["loss"] for line in lines})
    assert client.get_metric_history(run_id, "teacher_calls")
    assert logged.data.metrics["best_val_loss"] == pytest.approx(summary["best"]["val"]["loss"])
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {
        "report.html",
        "summary.json",
        "config.toml",
        "metrics.jsonl",
        "best_model",
    } <= artifacts
    model_files = {Path(a.path).name for a in client.list_artifacts(run_id, "best_model")}
    assert "pgkd_student.json" in model_files


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
    assert "best_model" not in {a.path for a in client.list_artifacts(run_id)}


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
    assert ("mlflow", ["on_run_end"]) in describe(pm)


def test_missing_mlflow_is_one_line(finished_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow.exceptions", None)  # import fails as if absent

    with pytest.raises(PluginError, match="pip install mlflow-skinny"):
        log_run(finished_run)
