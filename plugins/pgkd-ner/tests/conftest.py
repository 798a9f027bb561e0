"""Fixtures: the shipped data, a tiny random BERT backbone with the packaged MiniLM tokenizer."""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgkd.testing import tiny_bert_backbone

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests never autoload installed plugins; a test that wants the entry point allow-lists it.
os.environ["PGKD_PLUGINS"] = ""

DATA = Path(str(importlib.resources.files("pgkd_ner") / "data"))


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads() -> Iterator[None]:
    """``[student] threads`` sets torch's global thread count; put it back for other tests."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide random BERT saved with the packaged MiniLM tokenizer: fast to train,
    and enough to show that the student learns."""
    return tiny_bert_backbone(tmp_path_factory.mktemp("tiny-bert"))
