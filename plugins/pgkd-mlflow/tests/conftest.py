"""A real pgkd run (simulation teacher, frozen student on a tiny random BERT, the bundled
support tickets) to log, and a clean MLflow environment per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgkd.testing import tiny_bert_backbone


@pytest.fixture(autouse=True)
def clean_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE", "PGKD_MLFLOW_EXPERIMENT")
    for name in (*names, "PGKD_MLFLOW_LOG_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert_backbone(tmp_path_factory.mktemp("backbone"))
