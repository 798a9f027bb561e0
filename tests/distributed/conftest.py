"""Fixtures for the data-parallel tests: the tiny BERT, and a copy of it without dropout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pgkd.testing import tiny_bert_backbone


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert_backbone(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_backbone_without_dropout(
    tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Dropout draws different masks when a batch is split over ranks; without it a
    data-parallel step is the single-process step up to the order of float additions."""
    folder = tmp_path_factory.mktemp("tiny_bert_no_dropout") / "model"
    shutil.copytree(tiny_backbone, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder
