"""Benchmark smoke tests: the scripts in ``benchmarks/`` at tiny sizes, importable as
``benchmarks.<script>`` from the repository root."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgkd.testing import shared_datasets, tiny_bert_backbone

ROOT = Path(__file__).resolve().parents[2]
DATASETS = shared_datasets()


@pytest.fixture(scope="session")
def yahoo() -> Path:
    """The shared tiny data set (1,000 train / 100 test rows) the smoke tests run on."""
    folder = DATASETS / "yahoo_answers"
    if not (folder / "train.jsonl.gz").is_file():
        pytest.skip(f"{folder}: the shared benchmark data sets are not on this machine")
    return folder


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide random BERT with the packaged MiniLM tokenizer: trains in a second."""
    return tiny_bert_backbone(tmp_path_factory.mktemp("tiny_backbone"))
