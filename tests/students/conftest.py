"""Fixtures for the student tests: a tiny random BERT (fast) and a separable toy data set."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pgkd.testing import tiny_bert_backbone
from pgkd.types import Sample

SPORTS = ("football", "goal", "match", "team", "coach", "league", "tennis", "striker", "referee")
FINANCE = ("stocks", "bank", "market", "shares", "profit", "investors", "bond", "earnings", "loan")
FILLER = ("the", "a", "today", "after", "big", "new", "reported", "again", "this", "week")
LABELS = ("sports", "finance", "weather")


def make_toy_samples(n: int, seed: int) -> list[Sample]:
    """``n`` short texts, half sports and half finance; "weather" never occurs."""
    rng = random.Random(seed)
    samples = []
    for i in range(n):
        label, words = ("sports", SPORTS) if i % 2 == 0 else ("finance", FINANCE)
        tokens = rng.sample(words, 3) + rng.sample(FILLER, 3)
        rng.shuffle(tokens)
        samples.append(Sample(f"{' '.join(tokens)} {seed}-{i}", label))
    return samples


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init 2-layer BERT (hidden 32) with the packaged MiniLM tokenizer."""
    return tiny_bert_backbone(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def toy_samples() -> Callable[[int, int], list[Sample]]:
    """``toy_samples(n, seed)``: a fresh separable data set; different seeds, different texts."""
    return make_toy_samples


@pytest.fixture(autouse=True)
def _fresh_embedding_caches() -> Iterator[None]:
    """Each test starts with no cached embeddings, so counts of encoded texts are its own."""
    from pgkd.students.frozen import clear_shared_caches

    clear_shared_caches()
    yield
    clear_shared_caches()
