"""Helpers for testing pgkd and its plugins offline: a tiny student backbone built in place.

A real backbone (the packaged MiniLM) takes seconds per epoch; tests want a model that trains in
a fraction of one and needs nothing from the network. :func:`tiny_bert_backbone` writes a
randomly initialised 2-layer, 32-wide BERT with the packaged MiniLM tokenizer to a folder, which
any ``[student] backbone`` then accepts. A plugin's ``conftest.py`` wraps it in a fixture::

    import pytest
    from pgkd.testing import tiny_bert_backbone

    @pytest.fixture(scope="session")
    def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return tiny_bert_backbone(tmp_path_factory.mktemp("tiny-bert"))

Random weights still learn a toy task in a few epochs, which is enough to test that a student
trains, saves and loads; it says nothing about accuracy. torch and transformers are imported
inside the function, so importing this module stays cheap.
"""

from __future__ import annotations

import os
from pathlib import Path

from pgkd.students.backbone import load_tokenizer, packaged_minilm, quiet_transformers

__all__ = ["DATASETS_ENV", "shared_datasets", "tiny_bert_backbone"]

#: The environment variable that points tests and benchmarks at the shared benchmark data sets.
DATASETS_ENV = "PGKD_DATASETS"


def shared_datasets() -> Path:
    """The folder of benchmark data sets (one sub-folder of ``train.jsonl.gz`` / ``test.jsonl.gz``
    per data set): ``$PGKD_DATASETS``, else ``../shared/datasets`` beside the repository."""
    given = os.environ.get(DATASETS_ENV)
    if given:
        return Path(given)
    return Path(__file__).resolve().parents[2] / "shared" / "datasets"


def tiny_bert_backbone(directory: Path, seed: int = 0) -> Path:
    """Save a random-init BERT (2 layers, hidden size 32, 2 heads) and the packaged MiniLM
    tokenizer in ``directory`` and return it. The weights depend only on ``seed``; torch's global
    random state is left as it was."""
    import torch
    from transformers import BertConfig, BertModel

    directory = Path(directory)
    tokenizer = load_tokenizer(packaged_minilm())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config)
    with quiet_transformers():
        model.save_pretrained(str(directory))
        tokenizer.save_pretrained(str(directory))
    return directory
