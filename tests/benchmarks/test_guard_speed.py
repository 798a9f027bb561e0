"""The hashed held-out guard decides exactly as the string n-gram index it replaced, on real
data, and its benchmark script runs."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from benchmarks import guard_speed
from benchmarks.guard_speed import StringNgramGuard, answers, make_probes, read_texts
from pgkd.guard import BATCH, HeldOutGuard
from pgkd.testing import shared_datasets

DATASETS = shared_datasets()


def texts_of(name: str, split: str, limit: int) -> list[str]:
    path = DATASETS / name / f"{split}.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"{path}: the shared benchmark data sets are not on this machine")
    return read_texts(path, limit)


@pytest.mark.parametrize(
    ("dataset", "threshold", "any_near"),
    [
        ("imdb", 0.8, True),
        ("imdb", 0.5, True),
        ("huffpost", 0.8, True),
        ("huffpost", 0.5, True),
        ("bbc_news", 0.9, True),
        ("bbc_news", 1.0, False),  # near copies are edited: none is wholly the same
    ],
)
def test_hashed_guard_decides_as_the_string_reference(
    dataset: str, threshold: float, any_near: bool
) -> None:
    held = texts_of(dataset, "test", 300)
    held += held[:20]  # repeated texts are indexed once
    probes = make_probes(held, texts_of(dataset, "train", 300), 300, seed=7)
    hashed = HeldOutGuard(held, near_copy_threshold=threshold)
    reference = StringNgramGuard(held, near_copy_threshold=threshold)
    kinds, leaks = answers(reference, probes)
    assert answers(hashed, probes) == (kinds, leaks)
    assert len(hashed) == len(reference) < len(held)
    # The probes reach every kind of answer, so a guard that got one wrong would show it.
    assert {"exact", None} <= set(kinds) and {True, False} == set(leaks)
    assert ("near" in kinds) == any_near


def test_short_texts_and_batches_decide_as_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    headlines = texts_of("huffpost", "test", 250)
    held = ["", "!!", "Yes", "two words", "four words right here", *headlines]
    probes = ["", "?", "yes", "Two words.", "words two", "say: four words right here!"]
    probes += [f"{a} {b}" for a, b in itertools.pairwise(headlines)]
    probes += [" ".join(h.split()[1:]) for h in headlines]
    monkeypatch.setattr("pgkd.guard.BATCH", 64)  # ids and keys must carry across batches
    hashed, reference = HeldOutGuard(held), StringNgramGuard(held)
    assert BATCH > 64 and len(hashed) == len(reference)
    assert [hashed.copy_kind(p) for p in probes] == [reference.copy_kind(p) for p in probes]
    assert [hashed.leaks(p) for p in probes] == [reference.leaks(p) for p in probes]
    assert hashed.leaks("say: four words right here!") and not hashed.leaks("four words here")


def test_an_empty_guard_refuses_nothing() -> None:
    guard = HeldOutGuard([])
    assert len(guard) == 0
    assert guard.copy_kind("anything at all") is None and not guard.leaks("anything at all")


def test_benchmark_script_compares_both_indexes(tmp_path: Path) -> None:
    texts_of("huffpost", "test", 1)
    results = tmp_path / "RESULTS.md"
    argv = ["--dataset", "huffpost", "--limit", "400", "--probes", "60"]
    row = guard_speed.main([*argv, "--results", str(results)])
    assert row["texts"] == 400 and row["same_decisions"]
    assert row["reference_indexed"] == row["hashed_indexed"]
    for key in ("build_ratio", "query_ratio", "memory_ratio"):
        assert row[key] > 0
    text = results.read_text()
    assert "## Held-out guard build" in text and "benchmarks/guard_speed.py --dataset" in text
