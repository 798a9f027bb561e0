"""Test helpers: step contexts built from plain numbers, and a small templated data set."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pgkd import ClassScore, Evaluation, Prediction, Sample, StepContext


def evaluation(
    f1: Mapping[str, float],
    support: Mapping[str, int] | int = 5,
    recall: Mapping[str, float] | None = None,
    confusion: Mapping[tuple[str, str], int] | None = None,
) -> Evaluation:
    """A validation result with the given per-class F1 (recall = F1 unless given) and
    off-diagonal confusion counts ``{(true, predicted): n}``."""
    labels = tuple(f1)
    sizes = support if isinstance(support, Mapping) else dict.fromkeys(labels, support)
    rec = recall or f1
    per_class = {
        c: ClassScore(precision=f1[c], recall=rec[c], f1=f1[c], support=sizes[c]) for c in labels
    }
    pairs = confusion or {}
    matrix = tuple(tuple(pairs.get((t, p), 0) for p in labels) for t in labels)
    return Evaluation(loss=1.0, metrics={}, per_class=per_class, labels=labels, confusion=matrix)


def history(
    per_class: Mapping[str, int], wrong: Mapping[tuple[str, str], int] | None = None
) -> tuple[list[Sample], list[Prediction]]:
    """Seed samples per class, predicted right except ``{(true, predicted): n}`` of them."""
    samples: list[Sample] = []
    predictions: list[Prediction] = []
    mistakes = dict(wrong or {})
    for label, count in per_class.items():
        for i in range(count):
            samples.append(Sample(text=f"{label} text {i}", target=label))
            guess = next((p for (t, p), n in mistakes.items() if t == label and n > 0), None)
            if guess is None:
                predictions.append(Prediction(target=label, confidence=0.9, correct=True))
            else:
                mistakes[label, guess] -= 1
                predictions.append(Prediction(target=guess, confidence=0.6, correct=False))
    return samples, predictions


def settings(batch_size: int = 32, samples_per_call: int = 8, **plugins: Any) -> Any:
    return SimpleNamespace(
        kd=SimpleNamespace(batch_size=batch_size),
        teacher=SimpleNamespace(samples_per_call=samples_per_call),
        plugins=SimpleNamespace(**plugins),
    )


def context(
    validation: Evaluation,
    samples: Sequence[Sample] = (),
    predictions: Sequence[Prediction] = (),
    *,
    step: int = 1,
    batch_size: int = 32,
    samples_per_call: int = 8,
    task: str = "classification",
    run_state: dict[str, Any] | None = None,
) -> StepContext:
    """``run_state``: pass one dict to the contexts of successive steps of one run, as the
    loop does; each context gets a fresh one otherwise."""
    return StepContext(
        step=step,
        task=SimpleNamespace(name=task),
        labels=validation.labels,
        history=list(samples),
        train_predictions=list(predictions),
        validation=validation,
        settings=settings(batch_size, samples_per_call),
        seed=0,
        run_state=run_state if run_state is not None else {},
    )


TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "sports": (["striker", "coach", "goalkeeper", "referee"], ["scored", "trained", "won"]),
    "science": (["physicist", "chemist", "biologist", "astronomer"], ["measured", "found"]),
    "markets": (["trader", "investor", "bank", "broker"], ["bought", "sold", "hedged"]),
    "economy": (["bank", "minister", "investor", "treasury"], ["raised", "cut", "forecast"]),
}
THINGS = ["the figures", "a new record", "the samples", "the rates", "the results", "a deal"]
WHEN = ["on monday", "this week", "after lunch", "late last night", "before the summer"]


def write_data(folder: Path, seed: int = 7) -> dict[str, Path]:
    """Train (25 a class), test (15 a class) and a disjoint SIMULATION pool (60 a class) of
    templated sentences; "markets" and "economy" share words, so the student confuses them."""
    rng = random.Random(seed)
    seen: set[str] = set()
    rows: dict[str, list[dict[str, str]]] = {"train": [], "test": [], "pool": []}
    sizes = {"train": 25, "test": 15, "pool": 60}
    for label, (who, did) in TOPICS.items():
        for split, size in sizes.items():
            made = 0
            while made < size:
                text = (
                    f"{rng.choice(['the', 'a', 'our', 'one'])} {rng.choice(who)} "
                    f"{rng.choice(did)} {rng.choice(THINGS)} {rng.choice(WHEN)} "
                    f"number {rng.randrange(10_000)}"
                )
                if text not in seen:
                    seen.add(text)
                    rows[split].append({"text": text, "label": label})
                    made += 1
    paths: dict[str, Path] = {}
    for split, records in rows.items():
        rng.shuffle(records)
        paths[split] = folder / f"{split}.jsonl"
        paths[split].write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return paths
