"""Helpers for testing pgkd and its plugins offline: a tiny student backbone built in place,
and the in-process harness a plugin's tests drive pgkd with.

This module is public, like the names in ``pgkd.__all__``; a plugin's tests may import from
here and from ``pgkd``, nothing else of pgkd. The harness (listed in ``__all__`` below and in
``docs/plugins.md``): :func:`run` and :func:`resume` run a config in this process,
:func:`quiet_progress` keeps them silent, :func:`build_plugin_manager`,
:func:`build_registry` and :func:`describe` show what a plugin registers, :func:`cli_main`
runs a ``pgkd`` command line, :func:`load_samples`, :func:`stratified_split` and
:func:`prepare_splits` read and split data as a run does, :func:`load_predictor`,
:func:`predict_records` and :class:`PredictOptions` drive ``pgkd predict``, and
:class:`SimulationTeacher` (the ``pool:`` provider) / :func:`parse_counts` are the SIMULATION
teacher that answers from a file of real samples, and what reads the per-class counts a
prompt asks for.

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
from typing import TYPE_CHECKING

from pgkd.lazy_names import lazy_names
from pgkd.students.backbone import load_tokenizer, packaged_minilm, quiet_transformers

if TYPE_CHECKING:
    from pgkd.commands.cli import main as cli_main
    from pgkd.data import load_samples, prepare_splits, stratified_split
    from pgkd.plugins import build_plugin_manager, build_registry, describe
    from pgkd.progress import Progress
    from pgkd.runner import resume, run
    from pgkd.serving.inference import load_predictor
    from pgkd.serving.predict import PredictOptions, predict_records
    from pgkd.teachers.simulation import SimulationTeacher
    from pgkd.teachers.simulation_classes import parse_counts

#: The harness, imported on first use: name -> (module, attribute in that module). Lazy so that
#: importing this module (a plugin's conftest does) stays cheap and each name fails alone.
_LAZY: dict[str, tuple[str, str]] = {
    "PredictOptions": ("pgkd.serving.predict", "PredictOptions"),
    "SimulationTeacher": ("pgkd.teachers.simulation", "SimulationTeacher"),
    "build_plugin_manager": ("pgkd.plugins", "build_plugin_manager"),
    "build_registry": ("pgkd.plugins", "build_registry"),
    "cli_main": ("pgkd.commands.cli", "main"),
    "describe": ("pgkd.plugins", "describe"),
    "load_predictor": ("pgkd.serving.inference", "load_predictor"),
    "load_samples": ("pgkd.data", "load_samples"),
    "parse_counts": ("pgkd.teachers.simulation_classes", "parse_counts"),
    "predict_records": ("pgkd.serving.predict", "predict_records"),
    "prepare_splits": ("pgkd.data", "prepare_splits"),
    "resume": ("pgkd.runner", "resume"),
    "run": ("pgkd.runner", "run"),
    "stratified_split": ("pgkd.data", "stratified_split"),
}


__getattr__, __dir__ = lazy_names("pgkd.testing", _LAZY, globals())


__all__ = [
    "DATASETS_ENV",
    "PredictOptions",
    "SimulationTeacher",
    "build_plugin_manager",
    "build_registry",
    "cli_main",
    "describe",
    "load_predictor",
    "load_samples",
    "packaged_minilm",
    "parse_counts",
    "predict_records",
    "prepare_splits",
    "quiet_progress",
    "resume",
    "run",
    "shared_datasets",
    "stratified_split",
    "tiny_bert_backbone",
]

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


def quiet_progress() -> Progress:
    """Progress for a run in a test: no live bars, no step lines."""
    from pgkd.progress import Progress

    return Progress(live=False, quiet=True)
